"""Hostile API credentials: every one is refused with SPEC's error (401 invalid_key, 403
agent_inactive, 404 not_found) and changes nothing — a read and a write are tried with
each, and a write leaves every table and the audit log as they were (an `api.denied`
event is the one row a refused well-formed key may leave)."""

import base64
from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from audit.refs import SYSTEM
from identity import keys
from identity.api.testing import ApiClient
from identity.models import ApiKey, Principal, Status
from identity.services import agents, service_accounts, users
from identity.services import keys as key_services
from identity.tests.hostile_support import Unchanged, audit_mark, build_world

pytestmark = pytest.mark.django_db

DOCS = "/api/v1/workspaces/roadmap/documents"


@pytest.fixture(autouse=True)
def hermetic_rate_limits(hermetic_api):
    """A private cache and a pinned rate-limit window (see the root conftest)."""


@pytest.fixture
def world(make):
    return build_world(make)


def well_formed(body: str) -> str:
    """`body` (dock_<prefix>_<secret>) with a correct checksum."""
    return body + keys.checksum(body)


def one_off(key: str, index: int) -> str:
    """`key` with the character at `index` changed, checksum recomputed: well formed,
    so only the database can refuse it."""
    body = key[: -keys.CHECKSUM_LENGTH]
    swapped = "B" if body[index] != "B" else "C"
    return well_formed(body[:index] + swapped + body[index + 1:])


def flip_last(key: str) -> str:
    return key[:-1] + ("A" if key[-1] != "A" else "B")


def off_keeping_checksum(key: str, index: int) -> str:
    """`key` with the character at `index` changed and the old checksum kept."""
    return key[:index] + ("x" if key[index] != "x" else "y") + key[index + 1:]


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# A case is (prepare, parts): `prepare(world)` changes state first (or is None), `parts(world)`
# gives the request's headers, query string and session principal.
def bearer(pick):
    return lambda w: ({"Authorization": pick(w)}, "", None)


def scout_bearer(w):
    return {"Authorization": f"Bearer {w.scout_key}"}, "", None


def in_query(name):
    return lambda w: ({}, f"?{name}={w.scout_key}", None)


def pause(w):
    agents.agent_pause(actor=w.alice, agent=w.scout)


def deactivate_owner(w):
    users.user_deactivate(actor=SYSTEM, user=w.alice.user)


def suspend_with_live_key(w):
    # Defence in depth: a suspended agent whose key somehow survived is still refused.
    Principal.objects.filter(pk=w.scout.pk).update(status=Status.SUSPENDED)


def revoke_agent(w):
    agents.agent_revoke(actor=w.alice, agent=w.scout)


def revoke_key(w):
    key_services.key_revoke(actor=w.alice, key=ApiKey.objects.get(principal=w.scout))


def revoke_service(w):
    service_accounts.service_revoke(actor=SYSTEM, service=w.service)


def end_grace(w):
    old = ApiKey.objects.get(principal=w.scout)
    key_services.key_rotate(actor=w.alice, key=old)
    ApiKey.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(seconds=1))


TEN_MB = 10 * 1024 * 1024

REFUSED = [
    # (prepare, parts, status, code, audited: a well-formed key reached the database)
    pytest.param(None, lambda w: ({}, "", None), 401, "invalid_key", False, id="missing"),
    pytest.param(None, bearer(lambda w: "Bearer "), 401, "invalid_key", False, id="empty-bearer"),
    pytest.param(None, bearer(lambda w: "Bearer garbage"), 401, "invalid_key", False, id="garbage"),
    pytest.param(None, bearer(lambda w: "Bearer ' OR 1=1 --"), 401, "invalid_key", False, id="sql-ish"),
    pytest.param(None, bearer(lambda w: "Bearer dock_ÄÖÜäöüß_" + "é" * 40), 401, "invalid_key", False, id="non-ascii"),
    pytest.param(None, bearer(lambda w: f"Bearer {flip_last(w.scout_key)}"), 401, "invalid_key", False, id="bad-checksum"),
    pytest.param(None, bearer(lambda w: f"Bearer {off_keeping_checksum(w.scout_key, 20)}"), 401, "invalid_key", False,
                 id="one-char-off-checksum-kept"),
    pytest.param(None, bearer(lambda w: f"Bearer {one_off(w.scout_key, 30)}"), 401, "invalid_key", True,
                 id="one-char-off-in-secret"),
    pytest.param(None, bearer(lambda w: f"Bearer {one_off(w.scout_key, 7)}"), 401, "invalid_key", True,
                 id="one-char-off-in-prefix"),
    pytest.param(None, bearer(lambda w: f"Bearer {w.scout_key.swapcase()}"), 401, "invalid_key", False, id="case-flipped"),
    pytest.param(None, bearer(lambda w: f"Bearer {w.scout_key[:-1]}"), 401, "invalid_key", False, id="truncated"),
    pytest.param(None, bearer(lambda w: f"Bearer {w.scout_key}x"), 401, "invalid_key", False, id="one-char-too-many"),
    pytest.param(revoke_key, scout_bearer, 401, "invalid_key", True, id="revoked-key"),
    pytest.param(end_grace, scout_bearer, 401, "invalid_key", True, id="after-grace"),
    pytest.param(pause, scout_bearer, 403, "agent_inactive", True, id="paused-agent"),
    pytest.param(suspend_with_live_key, scout_bearer, 403, "agent_inactive", True, id="suspended-agent"),
    pytest.param(deactivate_owner, scout_bearer, 401, "invalid_key", True, id="suspended-by-owner-deactivation"),
    pytest.param(revoke_agent, scout_bearer, 401, "invalid_key", True, id="revoked-agent"),
    pytest.param(revoke_service, lambda w: ({"Authorization": f"Bearer {w.service_key}"}, "", None), 401, "invalid_key",
                 True, id="revoked-service-account"),
    pytest.param(None, lambda w: ({}, "", w.alice), 401, "invalid_key", False, id="human-session-cookie"),
    pytest.param(None, lambda w: ({"X-CSRFToken": "anything"}, "", w.alice), 401, "invalid_key", False,
                 id="human-session-cookie-with-csrf-header"),
    pytest.param(None, in_query("key"), 401, "invalid_key", False, id="query-key"),
    pytest.param(None, in_query("api_key"), 401, "invalid_key", False, id="query-api_key"),
    pytest.param(None, in_query("access_token"), 401, "invalid_key", False, id="query-access_token"),
    pytest.param(None, lambda w: ({}, f"?Authorization=Bearer%20{w.scout_key}", None), 401, "invalid_key", False,
                 id="query-authorization"),
    pytest.param(None, bearer(lambda w: basic("scout", w.scout_key)), 401, "invalid_key", False, id="basic-key-as-password"),
    pytest.param(None, bearer(lambda w: basic(w.scout_key, "")), 401, "invalid_key", False, id="basic-key-as-user"),
    pytest.param(None, bearer(lambda w: f"Basic {w.scout_key}"), 401, "invalid_key", False, id="basic-scheme-raw-key"),
    pytest.param(None, bearer(lambda w: f"Token {w.scout_key}"), 401, "invalid_key", False, id="token-scheme"),
    pytest.param(None, bearer(lambda w: w.scout_key), 401, "invalid_key", False, id="no-scheme"),
    pytest.param(None, bearer(lambda w: f"Bearer {w.scout_key}, Bearer {w.scout_key}"), 401, "invalid_key", False,
                 id="duplicated-header-joined"),
    pytest.param(None, bearer(lambda w: f"Bearer {w.scout_key} Bearer {w.scout_key}"), 401, "invalid_key", False,
                 id="duplicated-in-one-value"),
    pytest.param(None, bearer(lambda w: f"Bearer {w.scout_key},{w.spy_key}"), 401, "invalid_key", False, id="two-keys"),
    pytest.param(None, bearer(lambda w: "Bearer " + "A" * TEN_MB), 401, "invalid_key", False, id="10MB-bearer"),
    pytest.param(None, bearer(lambda w: f"Bearer {w.scout_key}" + " " * TEN_MB + "x"), 401, "invalid_key", False,
                 id="10MB-after-a-good-key"),
]


def send(world, parts, method, path, data=None):
    headers, query, session_of = parts(world)
    client = ApiClient(None)
    if session_of is not None:
        client.client.force_login(session_of.user)
    return client.request(method, path + query, data, key=None, headers=headers)


def denials_since(mark):
    return list(AuditEvent.objects.filter(id__gt=mark, action="api.denied").values_list("details", flat=True))


@pytest.mark.parametrize("prepare, parts, status, code, audited", REFUSED)
def test_refused_credential_reads_nothing_and_writes_nothing(world, prepare, parts, status, code, audited):
    if prepare is not None:
        prepare(world)
    mark = audit_mark()
    read = send(world, parts, "GET", DOCS)
    assert (read.status_code, read.data["error"]) == (status, code)
    assert b"Plan" not in read.content and b"secret plan" not in read.content
    if status == 401:
        assert read["WWW-Authenticate"].startswith("Bearer")
    # A refusal is audited exactly when the key was well formed, and never with the key.
    denied = denials_since(mark)
    assert len(denied) == (1 if audited else 0)
    assert all(world.scout_key not in str(d) for d in denied)

    with Unchanged(denials_allowed=True):
        write = send(world, parts, "POST", DOCS, {"title": "Injected", "body": "x"})
    assert (write.status_code, write.data["error"]) == (status, code)


def test_old_key_works_in_grace_for_reads_and_writes(world):
    old = ApiKey.objects.get(principal=world.scout)
    _, new_plain = key_services.key_rotate(actor=world.alice, key=old)
    assert ApiClient(world.scout_key).get(DOCS).status_code == 200
    created = ApiClient(world.scout_key).post(DOCS, {"title": "In grace", "body": ""})
    assert created.status_code == 201 and created.data["author"]["id"] == world.scout.public_id
    assert ApiClient(new_plain).get(DOCS).status_code == 200


FOREIGN_ROUTES = [
    ("GET", DOCS, None),
    ("POST", DOCS, {"title": "From outside", "body": "x"}),
    ("GET", "/api/v1/documents/{doc}", None),
    ("PATCH", "/api/v1/documents/{doc}", {"title": "Defaced"}),
    ("DELETE", "/api/v1/documents/{doc}", None),
    ("POST", "/api/v1/documents/{doc}/comments", {"body": "From outside"}),
    ("POST", "/api/v1/proposals/{proposal}/approve", None),
    ("POST", "/api/v1/proposals/{proposal}/reject", None),
]


@pytest.mark.parametrize("who", ["spy", "gx_service", "courier"], ids=["other-org-agent", "other-org-service", "non-member-agent"])
@pytest.mark.parametrize("method, path, data", FOREIGN_ROUTES, ids=[f"{m} {p}" for m, p, _ in FOREIGN_ROUTES])
def test_a_valid_key_from_outside_the_workspace_gets_404_there(world, who, method, path, data):
    """Another org's agent or service account, or the agent of a same-org human who is not
    a member of this members-only workspace: a valid key, and nothing to see here."""
    key = {"spy": world.spy_key, "gx_service": world.gx_service_key, "courier": world.courier_key}[who]
    url = path.format(doc=world.doc.public_id, proposal=world.proposal.public_id)
    with Unchanged(denials_allowed=True):
        r = ApiClient(key).request(method, url, data)
    assert (r.status_code, r.data["error"]) == (404, "not_found"), r.data
    assert b"Plan" not in r.content and b"Roadmap" not in r.content
    # The keys themselves still work where they belong.
    assert ApiClient(key).get("/api/v1/me").status_code == 200


def test_an_unknown_prefix_and_a_wrong_secret_get_the_same_answer(world):
    """The answer does not tell a real prefix from a made-up one."""
    answers = []
    for key in (one_off(world.scout_key, 7), one_off(world.scout_key, 30)):
        r = ApiClient(key).get("/api/v1/me")
        answers.append((r.status_code, r.data, r["WWW-Authenticate"]))
    assert answers[0] == answers[1]
    assert answers[0][:2] == (401, {"error": "invalid_key", "detail": "Missing, unknown, revoked or expired API key."})
