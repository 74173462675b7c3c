"""Bearer-key authentication, principal states, denial auditing and rate limits."""

import uuid
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from audit.models import AuditEvent
from audit.refs import SYSTEM
from conftest import audit_mark
from identity import keys
from identity.api import ratelimit
from identity.api.testing import ApiClient
from identity.models import ApiKey
from identity.services import agents, service_accounts, users
from identity.services import keys as key_services

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_cache(hermetic_api):
    """A private cache and a pinned rate-limit window (see the root conftest)."""


@pytest.fixture
def world(make):
    org = make.org()
    owner = make.human(org, "Olive Owner")
    ws = make.workspace(org)
    make.member(ws, owner, "editor")
    agent, key = make.agent(owner, "Scout", scope="read,comment,write,delete")
    doc = make.document(ws, owner)
    return type("World", (), {"org": org, "owner": owner, "ws": ws, "agent": agent, "key": key, "doc": doc})


def denials_since(mark):
    return list(AuditEvent.objects.filter(id__gt=mark, action="api.denied").order_by("id"))


def test_active_agent_reads_me(world):
    r = ApiClient(world.key).get("/api/v1/me")
    assert r.status_code == 200
    assert r.data == {
        "id": world.agent.public_id, "handle": world.agent.handle, "kind": "agent", "display_name": "Scout",
        "status": "active", "scope": ["read", "comment", "write", "delete"],
        "owner": {"id": world.owner.public_id, "handle": world.owner.handle, "display_name": "Olive Owner"},
    }


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token x", "Bearer not-a-key", "Bearer dock_abc"],
)
def test_missing_or_malformed_key_is_401_without_audit(world, header, django_assert_max_num_queries):
    mark = audit_mark()
    client = ApiClient(None)
    headers = {"Authorization": header} if header is not None else {}
    with django_assert_max_num_queries(0):
        r = client.get("/api/v1/me", key=None, headers=headers)
    assert r.status_code == 401
    assert r.data["error"] == "invalid_key"
    assert r["WWW-Authenticate"].startswith("Bearer")
    assert denials_since(mark) == []


def test_bad_checksum_is_refused_before_the_database(world, django_assert_num_queries):
    tampered = world.key[:-1] + ("A" if world.key[-1] != "A" else "B")
    mark = audit_mark()
    with django_assert_num_queries(0):
        r = ApiClient(tampered).get("/api/v1/me")
    assert r.status_code == 401 and r.data["error"] == "invalid_key"
    assert denials_since(mark) == []


def _well_formed(prefix: str) -> str:
    body = f"dock_{prefix}_" + "x" * 40
    return body + keys.checksum(body)


def test_unknown_well_formed_key_is_401_and_audited_as_the_system(world):
    key = _well_formed("Unknown1")
    mark = audit_mark()
    r = ApiClient(key).get("/api/v1/me")
    assert r.status_code == 401 and r.data["error"] == "invalid_key"
    (event,) = denials_since(mark)
    assert event.actor_id == SYSTEM.id
    assert event.target_kind == "api_key" and event.target_id == "Unknown1"
    assert event.details["reason"] == "unknown_key" and event.details["status"] == 401
    assert event.request_id and event.ip == "127.0.0.1"


def test_wrong_secret_for_a_real_prefix_is_401_and_names_the_claimed_agent(world):
    prefix = keys.parse(world.key)
    key = _well_formed(prefix)
    mark = audit_mark()
    r = ApiClient(key).get("/api/v1/me")
    assert r.status_code == 401
    (event,) = denials_since(mark)
    assert event.actor_id == "system"
    assert event.target_id == world.agent.public_id
    assert event.details["reason"] == "wrong_secret"


def test_revoked_key_is_401(world):
    key = ApiKey.objects.get(principal=world.agent)
    key_services.key_revoke(actor=world.owner, key=key)
    r = ApiClient(world.key).get("/api/v1/me")
    assert r.status_code == 401 and r.data["error"] == "invalid_key"


def test_rotated_key_works_in_grace_and_not_after(world):
    old = ApiKey.objects.get(principal=world.agent)
    new_key, new_plain = key_services.key_rotate(actor=world.owner, key=old)
    assert ApiClient(world.key).get("/api/v1/me").status_code == 200
    assert ApiClient(new_plain).get("/api/v1/me").status_code == 200
    ApiKey.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    mark = audit_mark()
    r = ApiClient(world.key).get("/api/v1/me")
    assert r.status_code == 401 and r.data["error"] == "invalid_key"
    assert "grace" in r.data["detail"]
    (event,) = denials_since(mark)
    # The old key still proves who is calling: the agent is the actor, its owner accountable.
    assert event.actor_id == world.agent.public_id and event.owner_id == world.owner.public_id
    assert event.details["reason"] == "expired_key"
    assert ApiClient(new_plain).get("/api/v1/me").status_code == 200


@override_settings(DOCK_KEY_GRACE_SECONDS=0)
def test_zero_grace_setting_ends_the_old_key_at_once(world):
    old = ApiKey.objects.get(principal=world.agent)
    _, new_plain = key_services.key_rotate(actor=world.owner, key=old)
    assert ApiClient(world.key).get("/api/v1/me").status_code == 401
    assert ApiClient(new_plain).get("/api/v1/me").status_code == 200


def test_paused_agent_is_403_agent_inactive_and_audited(world):
    agents.agent_pause(actor=world.owner, agent=world.agent)
    mark = audit_mark()
    r = ApiClient(world.key).get("/api/v1/me")
    assert r.status_code == 403 and r.data["error"] == "agent_inactive"
    (event,) = denials_since(mark)
    assert event.actor_id == world.agent.public_id and event.owner_id == world.owner.public_id
    assert event.details["reason"] == "agent_paused"
    agents.agent_resume(actor=world.owner, agent=world.agent)
    assert ApiClient(world.key).get("/api/v1/me").status_code == 200


def test_suspended_agent_is_403_agent_inactive(world):
    agents.agent_suspend(actor=SYSTEM, agent=world.agent, reason="test")
    r = ApiClient(world.key).get("/api/v1/me")
    assert r.status_code == 403 and r.data["error"] == "agent_inactive"


def test_owner_deactivation_stops_the_key(world):
    users.user_deactivate(actor=SYSTEM, user=world.owner.user)
    r = ApiClient(world.key).get("/api/v1/me")
    assert r.status_code == 401 and r.data["error"] == "invalid_key"


def test_revoked_agent_is_401(world):
    agents.agent_revoke(actor=world.owner, agent=world.agent)
    r = ApiClient(world.key).get("/api/v1/me")
    assert r.status_code == 401 and r.data["error"] == "invalid_key"


def test_service_account_key_works_and_revoked_service_is_401(make):
    org = make.org()
    service, key = make.service(org, "Importer")
    r = ApiClient(key).get("/api/v1/me")
    assert r.status_code == 200
    assert r.data["kind"] == "service" and r.data["owner"] is None and r.data["scope"] == []
    service_accounts.service_revoke(actor=SYSTEM, service=service)
    r = ApiClient(key).get("/api/v1/me")
    assert r.status_code == 401 and r.data["error"] == "invalid_key"


def test_human_session_is_not_an_api_credential(make, client):
    org = make.org()
    human = make.human(org, password="a long enough password 1")
    client.force_login(human.user)
    r = client.get("/api/v1/me", HTTP_HOST="127.0.0.1")
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_key"


def test_human_key_row_is_refused(make):
    """Humans never get keys from the services; a row that somehow names one is refused."""
    org = make.org()
    human = make.human(org)
    plaintext, prefix = keys.generate()
    ApiKey.objects.create(principal=human, prefix=prefix, digest=keys.digest(plaintext))
    r = ApiClient(plaintext).get("/api/v1/me")
    assert r.status_code == 401


def test_post_with_bearer_key_needs_no_csrf_token(world):
    client = ApiClient(world.key, enforce_csrf_checks=True)
    r = client.post(f"/api/v1/workspaces/{world.ws.slug}/documents", {"title": "Hi", "body": "x"})
    assert r.status_code == 201


def test_last_used_is_recorded_at_most_once_a_minute(world, django_assert_num_queries):
    key = ApiKey.objects.get(principal=world.agent)
    assert key.last_used_at is None
    client = ApiClient(world.key)
    with django_assert_num_queries(2):  # auth + the touch
        client.get("/api/v1/me")
    first = ApiKey.objects.get(pk=key.pk).last_used_at
    assert first is not None
    with django_assert_num_queries(1):  # auth only
        client.get("/api/v1/me")
    assert ApiKey.objects.get(pk=key.pk).last_used_at == first
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=first - timedelta(minutes=2))
    client.get("/api/v1/me")
    assert ApiKey.objects.get(pk=key.pk).last_used_at > first


def test_key_use_is_not_an_audited_event(world):
    mark = audit_mark()
    ApiClient(world.key).get("/api/v1/me")
    assert not AuditEvent.objects.filter(id__gt=mark).exists()


# Rate limits -------------------------------------------------------------------------------


@override_settings(DOCK_RATE_LIMIT=3)
def test_rate_limit_answers_429_with_retry_after_and_stops_auditing(world):
    client = ApiClient(world.key)
    for _ in range(3):
        assert client.get("/api/v1/me").status_code == 200
    r = client.get("/api/v1/me")
    assert r.status_code == 429 and r.data["error"] == "rate_limited"
    assert 1 <= int(r["Retry-After"]) <= 60
    # Refusals are counted first: a paused agent hammering the API writes at most
    # `limit` denial events per window.
    agents.agent_pause(actor=world.owner, agent=world.agent)
    mark = audit_mark()
    for _ in range(5):
        assert client.get("/api/v1/me").status_code == 429
    assert denials_since(mark) == []


@override_settings(DOCK_RATE_LIMIT=2)
def test_each_agent_has_its_own_limit(world, make):
    _, other_key = make.agent(world.owner, "Sibling")
    a, b = ApiClient(world.key), ApiClient(other_key)
    assert [a.get("/api/v1/me").status_code for _ in range(3)] == [200, 200, 429]
    assert [b.get("/api/v1/me").status_code for _ in range(2)] == [200, 200]


@override_settings(DOCK_RATE_LIMIT=2)
def test_guessing_at_an_agents_key_does_not_spend_its_allowance(world):
    forged = _well_formed(keys.parse(world.key))
    guesser = ApiClient(forged)
    assert [guesser.get("/api/v1/me").status_code for _ in range(4)] == [401, 401, 429, 429]
    assert ApiClient(world.key).get("/api/v1/me").status_code == 200


@override_settings(DOCK_RATE_LIMIT=3)
@pytest.mark.parametrize("how", ["rotated", "org-wide"])
def test_a_retired_key_does_not_spend_its_agents_allowance(world, how):
    """A key rotated away (say, because it leaked) proves only that its holder once had
    it: hammering the API with it after its grace window must not shut the agent's
    current key out with 429s. Its refusals count against the sender's address."""
    old = ApiKey.objects.get(principal=world.agent)
    if how == "rotated":
        _, current = key_services.key_rotate(actor=world.owner, key=old, grace_seconds=0)
    else:
        key_services.org_keys_rotate(actor=SYSTEM, org=world.org, grace_seconds=0)
        _, current = key_services.key_issue(actor=world.owner, principal=world.agent)
    leaked = ApiClient(world.key)
    assert [leaked.get("/api/v1/me").status_code for _ in range(5)] == [401, 401, 401, 429, 429]
    assert [ApiClient(current).get("/api/v1/me").status_code for _ in range(3)] == [200, 200, 200]


@override_settings(DOCK_RATE_LIMIT=2)
def test_owner_traffic_never_counts_against_the_agent(world, client):
    """The owner's dashboard requests never reach the limiter; the agent's bucket is its own."""
    ratelimit.hit(f"p:{world.owner.pk}")
    ratelimit.hit(f"p:{world.owner.pk}")
    assert ratelimit.hit(f"p:{world.owner.pk}") is not None
    assert ApiClient(world.key).get("/api/v1/me").status_code == 200


def test_window_rolls_over():
    t0 = 1_000_040.0  # 20 s into a window (windows start at multiples of 60)
    assert ratelimit.hit("p:x", limit=1, now=t0) is None
    assert ratelimit.hit("p:x", limit=1, now=t0 + 1) == 39
    assert ratelimit.hit("p:x", limit=1, now=t0 + 40) is None


REDIS_URL = "redis://127.0.0.1:6379/15"


def _redis_prefix() -> str:
    # Unique per test: nothing is flushed, so a Redis shared with other tests (or
    # processes) is never disturbed; the keys expire after two windows.
    return f"dock-test-api-{uuid.uuid4().hex}"


def _redis_cache(prefix: str):
    from django.core.cache.backends.redis import RedisCache

    redis_cache = RedisCache(REDIS_URL, {"KEY_PREFIX": prefix})
    try:
        redis_cache.get("ping")
    except Exception as exc:  # noqa: BLE001 - any connection failure means "no Redis here"
        pytest.skip(f"Redis is not reachable at {REDIS_URL}: {exc}")
    return redis_cache


def test_rate_limit_on_redis():
    redis_cache = _redis_cache(_redis_prefix())
    t0 = 2_000_010.0  # 30 s into a window
    results = [ratelimit.hit("p:redis", limit=3, cache=redis_cache, now=t0 + i) for i in range(5)]
    assert results[:3] == [None, None, None]
    assert results[3] == 27 and results[4] == 26
    assert ratelimit.hit("p:other", limit=3, cache=redis_cache, now=t0) is None
    assert ratelimit.hit("p:redis", limit=3, cache=redis_cache, now=t0 + 60) is None


def test_api_rate_limit_through_redis(world, settings):
    prefix = _redis_prefix()
    _redis_cache(prefix)
    settings.DOCK_RATE_LIMIT = 2
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                                   "KEY_PREFIX": prefix}}
    client = ApiClient(world.key)
    assert [client.get("/api/v1/me").status_code for _ in range(3)] == [200, 200, 429]
    from django.core.cache import cache as redis_default

    assert redis_default.get(f"dock:rl:p:{world.agent.pk}:{int(1_800_000_030 // 60)}") == 3
