"""Shared set-up for the hostile-input tests (test_hostile_*.py, test_idor.py,
test_sessions.py): two orgs with everything a URL can name, and a snapshot of every
table a request could change, to prove that a refused request changed nothing."""

import html
import re
import threading
import time
import uuid
from dataclasses import dataclass

import pytest
from django.db import connection
from django.test import Client

from audit.models import AuditEvent

PASSWORD = "correct horse battery"

# The classic payloads: a script element, an attribute breakout, a script URL.
XSS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "javascript:alert(1)",
]
_SCRIPT_URL = re.compile(r"""(?:href|src|action|formaction|xlink:href)\s*=\s*["']?\s*javascript:""", re.IGNORECASE)


def assert_escaped(content: bytes | str, payload: str, *, shown: bool = True) -> None:
    """`payload` reaches the page only as text: never as markup, never as a script URL;
    with `shown`, its escaped form is on the page (the test looked at the right place)."""
    text = content.decode() if isinstance(content, bytes) else content
    if "<" in payload or '"' in payload:
        assert payload not in text, f"raw {payload!r} in the page"
    assert "<script>alert(1)" not in text
    assert "<img src=x" not in text
    assert not _SCRIPT_URL.search(text), "a javascript: URL became a link"
    if shown:
        assert html.escape(payload, quote=True) in text or html.escape(payload, quote=False) in text, (
            f"{payload!r} is not on the page at all"
        )


def logged_in(principal, **defaults) -> Client:
    client = Client(**defaults)
    client.force_login(principal.user)
    return client


def csrf_client(principal=None, **defaults) -> tuple[Client, str]:
    """A client that enforces CSRF like a browser, and the token a page would give it."""
    client = Client(enforce_csrf_checks=True, **defaults)
    client.get("/login/")  # the form sets the csrftoken cookie
    if principal is not None:
        client.force_login(principal.user)
    return client, client.cookies["csrftoken"].value


@pytest.fixture
def private_cache(settings):
    """Throttle and rate-limit counts in a cache of this test's own (never shared with
    another test, an xdist worker or a Redis database)."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": uuid.uuid4().hex}}


@dataclass
class World:
    acme: object
    alice: object  # acme owner; admin of roadmap and vault
    bob: object  # acme member; editor in roadmap
    carol: object  # acme member of no members-only workspace
    audrey: object  # acme auditor
    roadmap: object  # acme, members only
    vault: object  # acme, members only, alice alone
    scout: object  # alice's agent
    scout_key: str
    courier: object  # carol's agent (same org, not a member of roadmap)
    courier_key: str
    doc: object
    comment: object
    proposal: object  # scout asks to delete doc
    invitation: object
    token: str
    service: object  # acme service account, viewer in roadmap
    service_key: str
    globex: object
    sam: object  # globex owner
    hq: object  # globex workspace, sam admin
    spy: object  # sam's agent
    spy_key: str
    gx_doc: object
    gx_service: object
    gx_service_key: str
    gx_invitation: object
    gx_token: str


def build_world(make) -> World:
    from dock.workspaces import services as ws
    from identity import consent

    acme = make.org("acme", "Acme")
    alice = make.human(acme, "Alice Adams", role="owner", email="alice@acme.test")
    bob = make.human(acme, "Bob Brown", email="bob@acme.test")
    carol = make.human(acme, "Carol Cole", email="carol@acme.test")
    audrey = make.human(acme, "Audrey Auditor", role="auditor", email="audrey@acme.test")
    roadmap = make.workspace(acme, "roadmap", name="Roadmap")
    vault = make.workspace(acme, "vault", name="Vault")
    make.member(roadmap, alice, "admin")
    make.member(roadmap, bob, "editor")
    make.member(vault, alice, "admin")
    scout, scout_key = make.agent(alice, "Scout", scope="read,comment,write,delete")
    courier, courier_key = make.agent(carol, "Courier", scope="read,comment,write,delete")
    doc = make.document(roadmap, alice, title="Plan", body="The secret plan body")
    comment = ws.comment_create(actor=alice, document=doc, body="A first comment")
    proposal = consent.document_delete_request(actor=scout, document=doc)
    invitation, token = ws.invitation_create(actor=alice, workspace=roadmap, email="dave@initech.test", role="editor")
    service, service_key = make.service(acme, "Nightly Export")
    make.member(roadmap, service, "viewer")

    globex = make.org("globex", "Globex")
    sam = make.human(globex, "Sam Stranger", role="owner", email="sam@globex.test")
    hq = make.workspace(globex, "globex-hq", name="Globex HQ")
    make.member(hq, sam, "admin")
    spy, spy_key = make.agent(sam, "Spy", scope="read,comment,write,delete")
    gx_doc = make.document(hq, sam, title="Globex plan", body="Globex body")
    gx_service, gx_service_key = make.service(globex, "Globex Sync")
    gx_invitation, gx_token = ws.invitation_create(actor=sam, workspace=hq, email="erin@initech.test", role="viewer")
    return World(
        acme=acme, alice=alice, bob=bob, carol=carol, audrey=audrey, roadmap=roadmap, vault=vault,
        scout=scout, scout_key=scout_key, courier=courier, courier_key=courier_key, doc=doc, comment=comment,
        proposal=proposal, invitation=invitation, token=token, service=service, service_key=service_key,
        globex=globex, sam=sam, hq=hq, spy=spy, spy_key=spy_key, gx_doc=gx_doc, gx_service=gx_service,
        gx_service_key=gx_service_key, gx_invitation=gx_invitation, gx_token=gx_token,
    )


def snapshot() -> dict:
    """Every row a request could change (last-used times of keys excepted: using a key is
    not a change of state)."""
    from dock.workspaces.models import Comment, Document, Elevation, Invitation, Membership, Proposal, Revision, Workspace
    from identity.models import ApiKey, Org, Principal, User

    def rows(model, *fields):
        return list(model.objects.order_by("pk").values_list("pk", *fields))

    return {
        "orgs": rows(Org, "slug", "name"),
        "principals": rows(Principal, "public_id", "handle", "display_name", "kind", "org_id", "status", "scope", "owner_id", "avatar"),
        "users": rows(User, "email", "password", "org_role", "principal_id"),
        "keys": rows(ApiKey, "principal_id", "prefix", "digest", "expires_at", "revoked_at", "replaced_by_id"),
        "workspaces": rows(Workspace, "slug", "name", "org_id", "visibility", "restricted", "description"),
        "memberships": rows(Membership, "workspace_id", "principal_id", "role"),
        "elevations": rows(Elevation, "workspace_id", "agent_id"),
        "invitations": rows(Invitation, "workspace_id", "email", "role", "accepted_at", "accepted_by_id", "revoked_at"),
        "documents": rows(Document, "public_id", "workspace_id", "title", "body", "updated_at", "updated_by_id"),
        "revisions": rows(Revision, "document_id", "number"),
        "comments": rows(Comment, "public_id", "document_id", "body"),
        "proposals": rows(Proposal, "public_id", "status", "decided_by_id"),
    }


def audit_mark() -> int:
    return AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


def actions_since(mark: int) -> list[str]:
    return list(AuditEvent.objects.filter(id__gt=mark).order_by("id").values_list("action", flat=True))


class Unchanged:
    """with Unchanged(): ...  — the block leaves every table as it was, and writes no audit
    event other than the refusals of well-formed API keys (`api.denied`), when allowed."""

    def __init__(self, *, denials_allowed: bool = False):
        self.denials_allowed = denials_allowed

    def __enter__(self):
        self.before = snapshot()
        self.mark = audit_mark()
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            return False
        assert snapshot() == self.before, "a refused request changed state"
        allowed = {"api.denied"} if self.denials_allowed else set()
        written = [a for a in actions_since(self.mark) if a not in allowed]
        assert written == [], f"a refused request wrote audit events: {written}"
        return False


# Races (PostgreSQL) ------------------------------------------------------------------------

WAIT = 15  # seconds: the most a step of a race may take


class Hold:
    """The first call of the wrapped function (that `when` picks) runs, then waits (inside
    its transaction, holding its locks) until released."""

    def __init__(self, real, when=None):
        self.real, self.reached, self.release, self.armed = real, threading.Event(), threading.Event(), True
        self.when = when or (lambda *args, **kwargs: True)
        self.lock = threading.Lock()

    def __call__(self, *args, **kwargs):
        result = self.real(*args, **kwargs)
        if not self.when(*args, **kwargs):
            return result
        with self.lock:
            fire, self.armed = self.armed, False
        if fire:
            self.reached.set()
            assert self.release.wait(WAIT), "never released"
        return result


def in_thread(fn):
    box = {}

    def run():
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                box["pid"] = cursor.fetchone()[0]
            box["result"] = fn()
        except BaseException as exc:  # handed to the test below
            box["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, box


def wait_until_blocked(box, thread):
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        pid = box.get("pid")
        if pid is not None:
            with connection.cursor() as cursor:
                cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
                row = cursor.fetchone()
            if row and row[0] == "Lock":
                return
        assert thread.is_alive(), f"finished instead of waiting: {box}"
        time.sleep(0.02)
    raise AssertionError("never waited on a lock")


def outcome(thread, box):
    thread.join(WAIT)
    assert not thread.is_alive()
    if "error" in box:
        raise box["error"]
    return box["result"]


def race(hold: Hold, first, second):
    """Run `first` until it reaches `hold` (inside its transaction, holding its locks),
    then `second` until it blocks on one of those locks, then let both finish. PostgreSQL
    only (it watches pg_stat_activity). Returns both results."""
    t1, b1 = in_thread(first)
    assert hold.reached.wait(WAIT), b1
    t2, b2 = in_thread(second)
    wait_until_blocked(b2, t2)
    hold.release.set()
    return outcome(t1, b1), outcome(t2, b2)
