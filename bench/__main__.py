"""`make bench`: run every benchmark case module and print one report.

Each module `bench/cases_*.py` defines `run(report)`; a case measures side by side in
one run and adds rows with `report.row(...)`. The report is printed as a table and
written as Markdown to var/bench/report.md.
"""

import argparse
import importlib
import os
import pkgutil
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")


class Report:
    def __init__(self):
        self.sections: list[tuple[str, list[dict]]] = []

    def section(self, title: str) -> None:
        self.sections.append((title, []))
        print(f"\n## {title}", flush=True)

    def row(self, case: str, value: str, target: str = "", note: str = "") -> None:
        self.sections[-1][1].append({"case": case, "value": value, "target": target, "note": note})
        print(f"  {case:<60} {value:<28} {target:<16} {note}", flush=True)

    def markdown(self) -> str:
        lines = ["# Dock benchmark report", "", f"- machine: {platform.machine()}, {os.cpu_count()} cores, "
                 f"Python {platform.python_version()}, {platform.platform()}", ""]
        for title, rows in self.sections:
            lines += [f"## {title}", "", "| case | result | target | note |", "|---|---|---|---|"]
            lines += [f"| {r['case']} | {r['value']} | {r['target']} | {r['note']} |" for r in rows]
            lines.append("")
        return "\n".join(lines)


def timed(fn, *, repeat: int = 7, number: int = 1) -> dict:
    """Median and spread (min–max) in seconds per call over `repeat` rounds of `number` calls."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter() - start) / number)
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples), "samples": samples}


def fmt(stats: dict, unit: str = "ms") -> str:
    scale = {"ms": 1e3, "us": 1e6, "s": 1}[unit]
    return f"{stats['median'] * scale:.3f} {unit} ({stats['min'] * scale:.3f}–{stats['max'] * scale:.3f})"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="bench")
    parser.add_argument("only", nargs="*", help="case modules to run (e.g. access api audit)")
    parser.add_argument("--both", action="store_true", help="run on SQLite, then PostgreSQL (bench/both.py)")
    args = parser.parse_args(argv)
    if args.both:
        from bench.both import run_both

        return run_both(args.only)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    report = Report()
    names = sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name.startswith("cases_"))
    for name in names:
        if args.only and name.removeprefix("cases_") not in args.only:
            continue
        module = importlib.import_module(f"bench.{name}")
        module.run(report)
    out = Path("var/bench")
    out.mkdir(parents=True, exist_ok=True)
    path = out / os.environ.get("BENCH_REPORT_NAME", "report.md")  # bench/both.py names one per database
    path.write_text(report.markdown())
    print(f"\nreport written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
