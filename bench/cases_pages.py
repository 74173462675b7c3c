"""Server time of the pages that list many principals, in-process through Django's full
request handling (middleware, session, templates): /people/ (list and org chart) and a
workspace members page, with 2,000 principals in the org (500 humans, each a member of
the workspace with three agents). Goal: ≤ 150 ms; queries per page as counted by Django.
"""

from django.db import connection, transaction
from django.test import Client

from audit.refs import SYSTEM
from dock.workspaces import services as ws
from dock.workspaces.models import Membership, Workspace
from identity.ids import new_public_id
from identity.models import Kind, Org, Principal, User
from identity.services import users

from .__main__ import fmt, timed

ORG, SLUG, OWNER = "bench-pages", "bench-pages-team", "owner@bench-pages.test"
HUMANS, AGENTS_EACH = 500, 3
GOAL_MS = 150


def _seed() -> User:
    if Org.objects.filter(slug=ORG).exists():
        return User.objects.get(email=OWNER)
    with transaction.atomic():
        org = users.org_create(actor=SYSTEM, slug=ORG, name="Bench pages")
        owner = users.user_create(actor=SYSTEM, email=OWNER, org=org, display_name="Page Owner", role="owner")
        workspace = ws.workspace_create(actor=owner.principal, org=org, slug=SLUG, name="Big team")
    humans = Principal.objects.bulk_create(
        [Principal(public_id=new_public_id("usr"), handle=f"bp-h{n:04d}", display_name=f"Person {n:04d}", kind=Kind.HUMAN, org=org)
         for n in range(HUMANS - 1)], batch_size=500)
    Principal.objects.bulk_create(
        [Principal(public_id=new_public_id("agt"), handle=f"bp-a{n:05d}", display_name=f"Agent {n:05d}", kind=Kind.AGENT, org=org,
                   owner=humans[n % len(humans)], scope=3)
         for n in range(HUMANS * AGENTS_EACH)], batch_size=500)
    Membership.objects.bulk_create(
        [Membership(workspace=workspace, principal=h, role="editor" if n % 3 else "viewer") for n, h in enumerate(humans)],
        batch_size=500)
    return owner


def run(report):
    report.section(f"Pages with 2,000 principals ({connection.vendor})")
    owner = _seed()
    total = Principal.objects.filter(org__slug=ORG).count()
    client = Client(HTTP_HOST="localhost")
    client.force_login(owner)
    assert Workspace.objects.filter(slug=SLUG).exists()
    for label, path in (
        ("/people/", "/people/"),
        ("/people/?view=chart", "/people/?view=chart"),
        ("/w/<slug>/members/", f"/w/{SLUG}/members/"),
    ):
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        # Counted with an execute wrapper: Django resets its query log when a request starts.
        seen = []
        with connection.execute_wrapper(lambda execute, sql, *args, seen=seen: seen.append(sql) or execute(sql, *args)):
            client.get(path)
        stats = timed(lambda p=path: client.get(p), repeat=9, number=3)
        ok = stats["median"] * 1000 <= GOAL_MS
        report.row(f"{label} ({total} principals)", fmt(stats, "ms"), f"≤ {GOAL_MS} ms", f"{len(seen)} queries, {'PASS' if ok else 'MISS'}")
