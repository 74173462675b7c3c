import re
import zlib
from datetime import timedelta

import pytest
from django.utils import timezone

from audit.refs import SYSTEM
from conftest import actions_since, audit_mark
from identity import keys
from identity.errors import InvalidTransition
from identity.ids import BASE62
from identity.models import ApiKey
from identity.services import keys as key_services

README_PATTERN = r"^dock_[0-9A-Za-z]{8}_[0-9A-Za-z]{32,}[0-9A-Za-z]{6}$"


def test_generated_key_matches_published_pattern_and_checksum():
    key, prefix = keys.generate()
    assert re.match(README_PATTERN, key)
    assert key.startswith(f"dock_{prefix}_")
    body, check = key[:-6], key[-6:]
    n = 0
    for ch in check:
        n = n * 62 + BASE62.index(ch)
    assert n == zlib.crc32(body.encode())
    assert keys.parse(key) == prefix


def test_readme_publishes_the_pattern():
    from pathlib import Path

    assert README_PATTERN in (Path(__file__).resolve().parents[2] / "README.md").read_text()


@pytest.mark.parametrize(
    "mangle",
    [
        lambda k: k[:-1] + ("A" if k[-1] != "A" else "B"),  # checksum off by one character
        lambda k: k[:10] + ("x" if k[10] != "x" else "y") + k[11:],  # secret off by one character
        lambda k: k.replace("dock_", "dokc_"),
        lambda k: k[:20],
        lambda k: k + "0",
        lambda k: "",
        lambda k: k.replace("_", "-"),
        lambda k: k + "\n",
        lambda k: k[:-6] + "!!!!!!",
        lambda k: "dock_" + "A" * 300,
    ],
)
def test_malformed_or_mistyped_keys_are_refused_without_lookup(mangle):
    # No database fixture: any query here would raise.
    key, _ = keys.generate()
    assert keys.parse(mangle(key)) is None


def test_digest_is_keyed_and_constant_time_compared(settings):
    key, _ = keys.generate()
    stored = keys.digest(key)
    assert keys.matches(key, stored)
    settings.DOCK_KEY_PEPPER = "another-pepper"
    assert not keys.matches(key, stored)
    assert not keys.matches(key, "")


def test_only_prefix_and_digest_are_stored(make):
    org = make.org()
    bot, plaintext = make.agent(make.human(org))
    row = ApiKey.objects.get(principal=bot)
    assert plaintext not in (row.prefix, row.digest) and row.digest == keys.digest(plaintext)


def test_rotation_gives_grace_then_rejects(make, settings):
    settings.DOCK_KEY_GRACE_SECONDS = 900
    org = make.org()
    alice = make.human(org)
    bot, old_plain = make.agent(alice)
    old = ApiKey.objects.get(principal=bot)
    mark = audit_mark()
    new, new_plain = key_services.key_rotate(actor=alice, key=old)
    old.refresh_from_db()
    assert old.is_usable() and new.is_usable()
    assert timedelta(seconds=899) < old.expires_at - timezone.now() <= timedelta(seconds=900)
    assert old.is_usable(now=timezone.now() + timedelta(seconds=901)) is False
    assert old.replaced_by_id == new.pk and new_plain != old_plain
    assert actions_since(mark) == ["agent.key.rotated"]


def test_rotating_one_agent_touches_nothing_else(make):
    org = make.org()
    alice = make.human(org, password="correct horse battery staple")
    a, _ = make.agent(alice)
    b, _ = make.agent(alice)
    password_before = alice.user.password
    b_key = ApiKey.objects.get(principal=b)
    key_services.key_rotate(actor=alice, key=ApiKey.objects.get(principal=a))
    b_after = ApiKey.objects.get(pk=b_key.pk)
    assert (b_after.expires_at, b_after.revoked_at, b_after.digest) == (None, None, b_key.digest)
    alice.user.refresh_from_db()
    assert alice.user.password == password_before


def test_a_key_is_rotated_once(make):
    org = make.org()
    alice = make.human(org)
    bot, _ = make.agent(alice)
    key = ApiKey.objects.get(principal=bot)
    key_services.key_rotate(actor=alice, key=key)
    with pytest.raises(InvalidTransition):
        key_services.key_rotate(actor=alice, key=key)
    assert ApiKey.objects.filter(principal=bot).count() == 2


def test_revoke_is_immediate_and_destroys_the_digest(make):
    org = make.org()
    alice = make.human(org)
    bot, plaintext = make.agent(alice)
    key = ApiKey.objects.get(principal=bot)
    key_services.key_revoke(actor=alice, key=key)
    key.refresh_from_db()
    assert not key.is_usable() and key.digest == "" and not keys.matches(plaintext, key.digest)


def test_last_used_written_at_most_once_a_minute(make, django_assert_num_queries):
    org = make.org()
    bot, _ = make.agent(make.human(org))
    key = ApiKey.objects.get(principal=bot)
    now = timezone.now()
    key_services.key_touch(key_id=key.pk, last_used_at=None, now=now)
    key.refresh_from_db()
    assert key.last_used_at == now
    with django_assert_num_queries(0):
        key_services.key_touch(key_id=key.pk, last_used_at=key.last_used_at, now=now + timedelta(seconds=30))
    key_services.key_touch(key_id=key.pk, last_used_at=key.last_used_at, now=now + timedelta(seconds=61))
    key.refresh_from_db()
    assert key.last_used_at == now + timedelta(seconds=61)


def test_org_wide_rotation_replaces_service_keys_and_retires_agent_keys_for_their_owners(make):
    org, other = make.org(), make.org()
    alice = make.human(org)
    a, a_key = make.agent(alice)
    b, _ = make.agent(alice)
    svc, svc_key = make.service(org)
    outsider, _ = make.agent(make.human(other))
    mark = audit_mark()
    result = key_services.org_keys_rotate(actor=SYSTEM, org=org)
    # A service account's successor is handed to whoever rotated; an agent's to nobody here.
    assert [(p.pk, k.is_current) for p, k, _ in result.issued] == [(svc.pk, True)]
    assert keys.parse(result.issued[0][2]) == result.issued[0][1].prefix
    assert {p.pk for p, _ in result.retired} == {a.pk, b.pk}
    for agent in (a, b):
        assert not ApiKey.objects.filter(principal=agent, expires_at__isnull=True).exists()
        assert ApiKey.objects.get(principal=agent).expires_at > timezone.now()  # the grace window
    assert ApiKey.objects.filter(principal=svc, expires_at__isnull=True, revoked_at__isnull=True).count() == 1
    assert ApiKey.objects.filter(principal=outsider, expires_at__isnull=True).count() == 1
    assert sorted(actions_since(mark)) == sorted(
        ["agent.key.retired", "agent.key.retired", "agent.key.rotated", "org.keys.rotated"]
    )


def test_org_wide_rotation_now_cuts_off_every_live_key_including_those_in_grace(make):
    org = make.org()
    alice = make.human(org)
    agent, _ = make.agent(alice)
    svc, _ = make.service(org)
    in_grace, _ = key_services.key_rotate(actor=SYSTEM, key=ApiKey.objects.get(principal=svc))  # old key in grace
    old = ApiKey.objects.get(principal=svc, expires_at__isnull=False)
    before = timezone.now()
    result = key_services.org_keys_rotate(actor=SYSTEM, org=org, grace_seconds=0)
    assert [p.pk for p, _ in result.cut_short] == [svc.pk] and len(result.retired) == 1 and len(result.issued) == 1
    old.refresh_from_db()
    assert old.expires_at <= timezone.now() and old.expires_at >= before
    assert not ApiKey.objects.get(principal=agent).is_usable()
    in_grace.refresh_from_db()
    assert not in_grace.is_usable()  # the key that replaced it was current, so it was rotated too
    assert [k.is_usable() for _, k, _ in result.issued] == [True]


def test_org_wide_rotation_with_grace_never_lengthens_a_shorter_grace(make):
    org = make.org()
    svc, _ = make.service(org)
    key_services.key_rotate(actor=SYSTEM, key=ApiKey.objects.get(principal=svc), grace_seconds=60)
    old = ApiKey.objects.get(principal=svc, expires_at__isnull=False)
    ends = old.expires_at
    result = key_services.org_keys_rotate(actor=SYSTEM, org=org, grace_seconds=900)
    old.refresh_from_db()
    assert old.expires_at == ends and result.cut_short == []


def test_org_wide_rotation_preview_counts_what_it_will_touch(make):
    org = make.org()
    alice = make.human(org)
    make.agent(alice)
    make.agent(alice)
    svc, _ = make.service(org)
    key_services.key_rotate(actor=SYSTEM, key=ApiKey.objects.get(principal=svc))
    make.agent(make.human(make.org()))  # another org's
    assert key_services.org_keys_preview(org) == {"agents": 2, "services": 1, "grace": 1}
    result = key_services.org_keys_rotate(actor=SYSTEM, org=org)
    assert (len(result.retired), len(result.issued), len(result.cut_short)) == (2, 1, 0)


def test_org_wide_rotation_refuses_a_negative_grace(make):
    org = make.org()
    make.agent(make.human(org))
    mark = audit_mark()
    with pytest.raises(InvalidTransition):
        key_services.org_keys_rotate(actor=SYSTEM, org=org, grace_seconds=-1)
    assert actions_since(mark) == []


def test_humans_get_no_api_keys(make):
    org = make.org()
    with pytest.raises(InvalidTransition):
        key_services.key_issue(actor=SYSTEM, principal=make.human(org))
