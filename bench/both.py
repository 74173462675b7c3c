"""`python -m bench --both`: the whole report on SQLite, then on PostgreSQL.

Each database gets its own process (the database is chosen when Django starts), runs
every selected case module and writes var/bench/report-<database>.md; the two are then
joined into var/bench/report.md, with each run's duration and the total. PostgreSQL is BENCH_DATABASE_URL, by default
postgres://postgres@127.0.0.1:5432/dock_bench, created when missing. The test suite's
database (`test`) is refused.
"""

import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/dock_bench"
OUT = Path("var/bench")


def _ensure_database(url: str) -> None:
    import psycopg
    from psycopg import sql

    name = urlsplit(url).path.lstrip("/")
    if not name or name == "test" or name.startswith("test_"):
        raise SystemExit(f"refusing to benchmark in the database {name!r}: the test suite uses it")
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"created database {name}")


def run_both(only: list[str]) -> int:
    postgres = os.environ.get("BENCH_DATABASE_URL", DEFAULT_POSTGRES)
    _ensure_database(postgres)
    OUT.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    parts, status = [], 0
    for label, url in (("sqlite", None), ("postgresql", postgres)):
        path = OUT / f"report-{label}.md"
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        env["BENCH_REPORT_NAME"] = path.name
        if url:
            env["DATABASE_URL"] = url
        print(f"\n# {label}", flush=True)
        path.unlink(missing_ok=True)
        t0 = time.perf_counter()
        code = subprocess.run([sys.executable, "-m", "bench", *only], env=env).returncode
        elapsed = time.perf_counter() - t0
        status = status or code
        print(f"({label}: {elapsed:.0f} s)", flush=True)
        if code == 0 and path.exists():
            text = path.read_text().replace("# Dock benchmark report", f"# {label}", 1)
            parts.append(f"{text}\n- {label} run: {elapsed:.0f} s\n")
        else:
            parts.append(f"# {label}\n\nthe run failed (exit {code}); see the output above.\n")
    total = time.perf_counter() - started
    combined = "# Dock benchmark report (SQLite and PostgreSQL)\n\n" + "".join(
        ("\n" + part).replace("\n#", "\n##") for part in parts
    ) + f"\n\nTotal: {total:.0f} s\n"
    (OUT / "report.md").write_text(combined)
    print(f"\nboth databases: {total:.0f} s; report written to {OUT / 'report.md'}")
    return status
