"""Agent API hot read vs /healthz, on one gunicorn server (one sync worker), interleaved.

    GET /api/v1/workspaces/<slug>/documents   (an agent's key, 20 documents, 4 authors)
    GET /healthz                              (a trivial query; no auth)

Target: median latency ratio ≤ 1.5×, measured in the same run with requests
interleaved (alternating which goes first), over several rounds; the spread is the
lowest–highest per-round ratio. Also reported: SQL queries per authenticated read
(in-process, steady state), and a pyinstrument profile of both requests in-process
through Django's WSGI handler, summed by category, with the full trees written to
var/bench/api-profile.txt.

The benchmark seeds its own data through the services into the bench database
(bench.settings: SQLite under var/bench/, or DATABASE_URL), and raises the rate limit
for its server so that the limiter runs (and is measured) without refusing the load.
"""

import http.client
import io
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from .__main__ import fmt

ROOT = Path(__file__).resolve().parent.parent
ORG, WORKSPACE, OWNER = "bench-api", "bench-api-docs", "bench-owner@bench-api.test"
DOCUMENTS = 20
ROUNDS, PAIRS, WARMUP = 7, 150, 150
TARGET = 1.5
BODY = (
    "Minutes of the weekly review. We walked through the open items, agreed on owners and dates, "
    "and parked two questions for next week. The agent summarised the discussion and linked the "
    "relevant documents; follow-ups are tracked in the comments below. "
) * 3


def _seed() -> tuple[str, str]:
    """The workspace slug and a fresh key of its reader agent (created on first run)."""
    from django.core.management import call_command
    from django.db import transaction

    from audit.refs import SYSTEM
    from dock.workspaces import services as ws
    from dock.workspaces.models import Workspace
    from identity import capabilities
    from identity.models import Org, Principal
    from identity.services import agents, keys, users

    call_command("migrate", interactive=False, verbosity=0)
    with transaction.atomic():
        org = Org.objects.filter(slug=ORG).first() or users.org_create(actor=SYSTEM, slug=ORG, name="Bench API")
        workspace = Workspace.objects.filter(slug=WORKSPACE).first()
        if workspace is None:
            authors = [
                users.user_create(actor=SYSTEM, email=email, org=org, display_name=name, role="member").principal
                for email, name in [
                    (OWNER, "Bench Owner"),
                    ("ada@bench-api.test", "Ada Author"),
                    ("ben@bench-api.test", "Ben Author"),
                    ("cy@bench-api.test", "Cy Author"),
                ]
            ]
            workspace = ws.workspace_create(actor=SYSTEM, org=org, slug=WORKSPACE, name="Bench documents")
            for author in authors:
                ws.membership_add(actor=SYSTEM, workspace=workspace, principal=author, role="editor")
            for i in range(DOCUMENTS):
                ws.document_create(actor=authors[i % 4], workspace=workspace, title=f"Weekly review {i + 1}", body=BODY)
            agents.agent_create(actor=SYSTEM, owner=authors[0], name="Bench Reader", scope=capabilities.READ)
        agent = Principal.objects.get(owner__user__email=OWNER, display_name="Bench Reader")
        _, plaintext = keys.key_issue(actor=SYSTEM, principal=agent)
    return workspace.slug, plaintext


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(port: int, path: str, headers: dict) -> tuple[float, int, int]:
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    body = response.read()
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed, response.status, len(body)


class Server:
    def __init__(self):
        self.port = _free_port()
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bench.settings", "DOCK_RATE_LIMIT": "100000000"}
        self.log = open(Path("var/bench") / "gunicorn-api.log", "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "dock.wsgi", "--bind", f"127.0.0.1:{self.port}", "--workers", "1",
             "--worker-class", "sync", "--log-level", "warning"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if _get(self.port, "/healthz", {})[1] == 200:
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("gunicorn did not come up; see var/bench/gunicorn-api.log")

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def _measure(port: int, api_path: str, key: str) -> dict:
    auth = {"Authorization": f"Bearer {key}"}
    status, size = _get(port, api_path, auth)[1:]
    if status != 200:
        raise RuntimeError(f"the API answered {status} to the benchmark's read")
    for _ in range(WARMUP):
        _get(port, "/healthz", {})
        _get(port, api_path, auth)
    api_all, health_all, ratios = [], [], []
    for _ in range(ROUNDS):
        api, health = [], []
        for i in range(PAIRS):
            # Alternate which request goes first, so neither always follows the other.
            if i % 2:
                health.append(_get(port, "/healthz", {})[0])
                api.append(_get(port, api_path, auth)[0])
            else:
                api.append(_get(port, api_path, auth)[0])
                health.append(_get(port, "/healthz", {})[0])
        ratios.append(statistics.median(api) / statistics.median(health))
        api_all += api
        health_all += health

    def stats(samples):
        return {"median": statistics.median(samples), "min": min(samples), "max": max(samples)}

    def quartiles(samples):
        q = statistics.quantiles(samples, n=10)
        return {"median": statistics.median(samples), "min": q[0], "max": q[-1]}

    return {
        "ratio": statistics.median(api_all) / statistics.median(health_all),
        "ratios": stats(ratios),
        "api": quartiles(api_all),
        "health": quartiles(health_all),
        "bytes": size,
    }


def _environ(path: str, key: str | None) -> dict:
    environ = {
        "REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80",
        "HTTP_HOST": "127.0.0.1", "REMOTE_ADDR": "127.0.0.1", "wsgi.input": io.BytesIO(b""), "wsgi.url_scheme": "http",
        "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.errors": sys.stderr,
    }
    if key:
        environ["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    return environ


def _queries_per_read(api_path: str, key: str) -> int:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {key}")
    client.get(api_path)  # records last-used once a minute
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(api_path)
    assert response.status_code == 200, response.content[:200]
    return len(ctx.captured_queries)


# Where a request's time goes: each sample is charged to the innermost of these frames on
# its stack (file suffix, function), else to "Django: WSGI, middleware, URL resolving".
CATEGORIES = [
    ("database connection: open and close", "django/db/backends/base/base.py", ("connect", "close", "_close", "close_if_unusable_or_obsolete")),
    ("database connection: health check", "django/db/backends/postgresql/base.py", ("is_usable",)),
    ("query: key + principal + owner + access + the page (one)", "identity/api/queries.py", ("hot_read",)),
    ("query: key + principal + owner + access", "identity/api/queries.py", ("auth_row",)),
    ("query: the page of documents", "identity/api/queries.py", ("documents_page",)),
    ("query: SELECT 1", "dock/views.py", ("healthz",)),
    ("authentication: parse, HMAC, rate limit, decide", "identity/api/auth.py", ("authenticate",)),
    ("presenting rows", "identity/api/presenters.py", ("documents_from_rows",)),
    ("JSON encoding and response", "identity/api/rendering.py", ("json_response",)),
    ("JSON encoding and response", "django/http/response.py", ("__init__",)),
]
OTHER = "Django: WSGI, middleware, URL resolving"


def _breakdown(root) -> dict[str, float]:
    totals: dict[str, float] = {}

    def walk(frame, category):
        path = (frame.file_path or "").replace("\\", "/")
        for name, suffix, functions in CATEGORIES:
            if frame.function in functions and path.endswith(suffix):
                category = name
                break
        own = frame.time - sum(child.time for child in frame.children)
        totals[category] = totals.get(category, 0.0) + own
        for child in frame.children:
            walk(child, category)

    walk(root, OTHER)
    return totals


def _profile(api_path: str, key: str, n: int = 1000) -> tuple[str, dict, dict]:
    from django.core.wsgi import get_wsgi_application
    from django.test.utils import override_settings
    from pyinstrument import Profiler

    app = get_wsgi_application()

    def start_response(status, headers):
        assert status.startswith("200"), status

    text, per_request = [], {}
    with override_settings(DOCK_RATE_LIMIT=100_000_000):
        for _ in range(100):
            b"".join(app(_environ(api_path, key), start_response))
            b"".join(app(_environ("/healthz", None), start_response))
        for label, path, k in (("api", api_path, key), ("healthz", "/healthz", None)):
            profiler = Profiler(interval=0.0005)
            profiler.start()
            for _ in range(n):
                b"".join(app(_environ(path, k), start_response))
            profiler.stop()
            text.append(f"===== {label}: {n} requests in-process =====\n")
            text.append(profiler.output_text(unicode=True, color=False, show_all=False))
            root = profiler.last_session.root_frame()
            per_request[label] = {c: t / n for c, t in _breakdown(root).items()}
    return "".join(text), per_request["api"], per_request["healthz"]


def run(report):
    import django
    from django.conf import settings

    django.setup()
    vendor = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    report.section(f"Agent API hot read vs /healthz ({vendor}, gunicorn 1 sync worker)")
    slug, key = _seed()
    api_path = f"/api/v1/workspaces/{slug}/documents"
    server = Server()
    try:
        result = _measure(server.port, api_path, key)
    finally:
        server.stop()
    ok = "ok" if result["ratio"] <= TARGET else "MISSED"
    report.row(
        f"GET {DOCUMENTS} documents ÷ GET /healthz (median latency ratio)",
        f"{result['ratio']:.2f}×", f"≤ {TARGET}×",
        f"{ok}; per-round ratios {result['ratios']['min']:.2f}–{result['ratios']['max']:.2f} over {ROUNDS}×{PAIRS} pairs",
    )
    report.row("  GET documents latency, median (p10–p90)", fmt(result["api"]), "", f"{result['bytes']} bytes JSON")
    report.row("  GET /healthz latency, median (p10–p90)", fmt(result["health"]))
    queries = _queries_per_read(api_path, key)
    report.row("SQL queries per authenticated documents read", str(queries), "≤ 2", "ok" if queries <= 2 else "MISSED")
    text, api, health = _profile(api_path, key)
    out = Path("var/bench")
    out.mkdir(parents=True, exist_ok=True)
    (out / "api-profile.txt").write_text(text)
    report.row("Profile (pyinstrument, in-process, µs per request)", "documents / healthz", "",
               "full trees in var/bench/api-profile.txt")
    for category in sorted(set(api) | set(health), key=lambda c: -api.get(c, 0.0)):
        a, h = api.get(category, 0.0) * 1e6, health.get(category, 0.0) * 1e6
        if max(a, h) >= 5:
            report.row(f"  {category}", f"{a:.0f} / {h:.0f} µs")
    report.row("  total", f"{sum(api.values()) * 1e6:.0f} / {sum(health.values()) * 1e6:.0f} µs")
