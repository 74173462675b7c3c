"""Core figures: access checks do not grow with the number of agents, key checks are
cheap next to a password hash, and removing an owner is a bounded number of queries."""

import time

from django.contrib.auth.hashers import check_password, make_password
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from audit.refs import SYSTEM
from bench.__main__ import fmt, timed
from dock.workspaces import services as ws
from dock.workspaces.models import Elevation, Membership, Workspace
from identity import access, keys
from identity import capabilities as caps
from identity.api import queries
from identity.ids import new_public_id
from identity.models import ApiKey, Kind, Org, Principal
from identity.services import agents, users

TAG = f"core{int(time.time())}"


_batch = iter(range(10**6))


def _bulk_agents(org, owners, n, scope):
    batch = next(_batch)
    rows = [
        Principal(
            public_id=new_public_id("agt"), handle=f"{TAG}-{batch}-a{i}", display_name=f"Agent {i}", kind=Kind.AGENT,
            org=org, owner=owners[i % len(owners)], scope=scope,
        )
        for i in range(n)
    ]
    return Principal.objects.bulk_create(rows, batch_size=5000)


def _cleanup(org):
    # Benchmark rows only (never audit events): raw deletes in dependency order.
    ids = list(Workspace.objects.filter(org=org).values_list("pk", flat=True))
    Elevation.objects.filter(workspace_id__in=ids)._raw_delete(connection.alias)
    Membership.objects.filter(workspace_id__in=ids)._raw_delete(connection.alias)
    ApiKey.objects.filter(principal__org=org)._raw_delete(connection.alias)
    from identity.models import User

    User.objects.filter(principal__org=org)._raw_delete(connection.alias)
    Principal.objects.filter(org=org, kind=Kind.AGENT)._raw_delete(connection.alias)
    Principal.objects.filter(org=org)._raw_delete(connection.alias)


def access_scaling(report):
    with transaction.atomic():
        org = users.org_create(actor=SYSTEM, slug=f"{TAG}-access", name="Access bench")
        owner = users.user_create(actor=SYSTEM, email=f"owner@{TAG}.bench", org=org, display_name="Owner").principal
        space = ws.workspace_create(actor=SYSTEM, org=org, slug=f"{TAG}-space", name="Space")
        ws.membership_add(actor=SYSTEM, workspace=space, principal=owner, role="editor")
        probe, _ = agents.agent_create(actor=SYSTEM, owner=owner, name="Probe", scope=caps.READ | caps.WRITE)
    _bulk_agents(org, [owner], 9, caps.READ)

    def check():
        access.check(probe.pk, space.pk)

    small = timed(check, repeat=15, number=400)
    with CaptureQueriesContext(connection) as ctx:
        check()
    small_queries = len(ctx.captured_queries)

    # Grow to 100,000 agents: 1,000 owners, their memberships in 100 workspaces, elevations.
    humans = Principal.objects.bulk_create(
        [Principal(public_id=new_public_id("usr"), handle=f"{TAG}-h{i}", display_name=f"Human {i}", kind=Kind.HUMAN, org=org)
         for i in range(1000)], batch_size=5000)
    spaces = Workspace.objects.bulk_create(
        [Workspace(slug=f"{TAG}-w{i}", name=f"W{i}", org=org, restricted=i % 10 == 0) for i in range(100)])
    Membership.objects.bulk_create(
        [Membership(workspace=spaces[(h * 7 + k) % 100], principal=humans[h], role="editor") for h in range(1000) for k in range(5)],
        batch_size=5000, ignore_conflicts=True)
    crowd = _bulk_agents(org, humans, 100_000 - 10, caps.READ | caps.WRITE)
    Elevation.objects.bulk_create(
        [Elevation(workspace=spaces[(i * 13) % 100], agent=crowd[i]) for i in range(0, len(crowd), 10)],
        batch_size=5000, ignore_conflicts=True)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    big = timed(check, repeat=15, number=400)
    with CaptureQueriesContext(connection) as ctx:
        check()
    ratio = big["median"] / small["median"]
    report.row("access check, 10 agents", fmt(small, "us"), "", f"{small_queries} query")
    report.row("access check, 100,000 agents", fmt(big, "us"), "", f"{len(ctx.captured_queries)} query")
    report.row("access check 100k ÷ 10 agents", f"{ratio:.3f}×", "≤ 1.1×", "PASS" if ratio <= 1.1 else "MISS")
    return org


def key_vs_password(report, org):
    owner = Principal.objects.filter(org=org, kind=Kind.HUMAN).exclude(user=None).first()
    with transaction.atomic():
        agent, plaintext = agents.agent_create(actor=SYSTEM, owner=owner, name="Key probe")

    def verify_key():
        prefix = keys.parse(plaintext)
        row = queries.auth_row(prefix, None)
        assert keys.matches(plaintext, row[1])

    hashed = make_password("correct horse battery staple")

    def verify_password():
        assert check_password("correct horse battery staple", hashed)

    key_stats = timed(verify_key, repeat=9, number=500)
    password_stats = timed(verify_password, repeat=5, number=3)
    ratio = password_stats["median"] / key_stats["median"]
    report.row("key verification (parse, checksum, lookup, HMAC)", fmt(key_stats, "us"))
    report.row("argon2 password verification", fmt(password_stats, "ms"))
    report.row("argon2 ÷ key verification", f"{ratio:,.0f}×", "≥ 1000×", "PASS" if ratio >= 1000 else "MISS")


def owner_removal(report):
    with transaction.atomic():
        org = users.org_create(actor=SYSTEM, slug=f"{TAG}-removal", name="Removal bench")
        owner = users.user_create(actor=SYSTEM, email=f"leaver@{TAG}.bench", org=org, display_name="Leaver").principal
        keeper = users.user_create(actor=SYSTEM, email=f"keeper@{TAG}.bench", org=org, display_name="Keeper").principal
        vault = ws.workspace_create(actor=SYSTEM, org=org, slug=f"{TAG}-vault", name="Vault", restricted=True)
        ws.membership_add(actor=SYSTEM, workspace=vault, principal=keeper, role="admin")
        ws.membership_add(actor=SYSTEM, workspace=vault, principal=owner, role="editor")
    fleet = _bulk_agents(org, [owner], 1000, caps.READ | caps.WRITE)
    Elevation.objects.bulk_create([Elevation(workspace=vault, agent=a) for a in fleet])
    membership = Membership.objects.get(workspace=vault, principal=owner)
    with CaptureQueriesContext(connection) as ctx:
        start = time.perf_counter()
        ws.membership_remove(actor=SYSTEM, membership=membership)  # its own single transaction
        elapsed = time.perf_counter() - start
    queries_run = [q["sql"] for q in ctx.captured_queries]
    assert not Elevation.objects.filter(agent__in=fleet).exists()
    n = len(queries_run)
    statements = len([q for q in queries_run if not q.startswith(("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE"))])
    report.row("remove owner with 1,000 agents + elevations: queries", f"{n} ({statements} + BEGIN/COMMIT)", "≤ 10",
               "PASS" if n <= 10 else "MISS")
    report.row("remove owner with 1,000 agents + elevations: time", f"{elapsed * 1000:.1f} ms", "≤ 100 ms (SQLite)",
               "PASS" if elapsed <= 0.1 else "MISS")
    return org


def run(report):
    report.section(f"Core ({connection.vendor})")
    org = access_scaling(report)
    key_vs_password(report, org)
    removal_org = owner_removal(report)
    for o in (org, removal_org):
        _cleanup(o)
    Org.objects.filter(pk__in=[org.pk, removal_org.pk]).update(name="(benchmark, cleaned)")
