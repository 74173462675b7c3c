"""Creating agents and the owner's / org admin's controls, over htmx and plain forms."""

import html
import re

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from audit.refs import SYSTEM
from conftest import actions_since, audit_mark, refresh
from identity import access, capabilities, keys
from identity.models import ApiKey, Kind, Principal, Status
from identity.services.agents import agent_pause
from identity.services.users import user_deactivate, user_reactivate
from identity.views.once import SESSION_KEY as ONCE_KEY

from .views_support import HTMX, Team, logged_in, png_bytes

KEY_RE = re.compile(rb"dock_[0-9A-Za-z]{8}_[0-9A-Za-z]{38,}")


@pytest.fixture
def team(make):
    return Team(make)


@pytest.fixture
def scout(make, team):
    agent, key = make.agent(team.alice, "Scout", scope="read,write")
    return agent, key


def key_usable(plaintext: str) -> bool:
    prefix = keys.parse(plaintext)
    row = ApiKey.objects.filter(prefix=prefix).first()
    return bool(row and row.is_usable() and keys.matches(plaintext, row.digest))


# Creating an agent -----------------------------------------------------------------------


def test_new_agent_form_defaults_to_read_only(team):
    response = logged_in(team.alice).get(reverse("agent-new"))
    assert response.status_code == 200
    html = response.content.decode()
    assert re.search(r'<input type="checkbox" name="scope" value="read"[^>]*checked', html)
    for other in ("comment", "write", "delete"):
        assert not re.search(rf'<input type="checkbox" name="scope" value="{other}"[^>]*checked', html)
    assert 'enctype="multipart/form-data"' in html


def test_create_agent_shows_the_key_once_then_never(team, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    client = logged_in(team.alice)
    mark = audit_mark()
    response = client.post(
        reverse("agent-new"),
        {"name": "Scribe", "scope": ["read", "comment"], "avatar": SimpleUploadedFile("me.png", png_bytes(), "image/png")},
    )
    agent = Principal.objects.get(display_name="Scribe")
    assert response.status_code == 302 and response["Location"] == agent.get_absolute_url()
    assert agent.kind == Kind.AGENT and agent.owner == team.alice and agent.org == team.org
    assert agent.scope == capabilities.READ | capabilities.COMMENT
    assert agent.avatar.name.endswith(".png")
    assert actions_since(mark) == ["agent.created"]

    first = client.get(agent.get_absolute_url())
    assert first.status_code == 200
    found = KEY_RE.findall(first.content)
    assert len(found) == 1 and key_usable(found[0].decode())
    assert b'data-copy-target="#new-key"' in first.content
    assert "no-store" in first["Cache-Control"]
    assert ONCE_KEY not in client.session

    again = client.get(agent.get_absolute_url())
    assert KEY_RE.search(again.content) is None
    assert b"new-key" not in again.content


def test_a_key_carried_across_the_redirect_is_never_whole_in_the_session_table(team):
    """A plain form's new key waits for the page it redirects to. The session (a row in
    the database) holds it sealed with a pad the browser keeps in a cookie: a redirect
    never followed leaves no usable key in the table, and the session alone opens nothing."""
    from django.contrib.sessions.models import Session

    from identity.views.once import PAD_COOKIE

    client = logged_in(team.alice)
    response = client.post(reverse("agent-new"), {"name": "Sealed", "scope": ["read"]})
    agent = Principal.objects.get(display_name="Sealed")
    assert response.status_code == 302 and response.cookies[PAD_COOKIE]["httponly"]
    stored = [s.get_decoded() for s in Session.objects.all()]
    assert any(ONCE_KEY in data for data in stored)
    assert not any(KEY_RE.search(repr(data).encode()) for data in stored)

    without_pad = logged_in(team.alice)
    without_pad.cookies[settings.SESSION_COOKIE_NAME] = client.cookies[settings.SESSION_COOKIE_NAME].value
    page = without_pad.get(agent.get_absolute_url())
    assert page.status_code == 200 and KEY_RE.search(page.content) is None
    assert ONCE_KEY not in without_pad.session  # taken, if unopened: the half in the table is gone too

    response = client.post(reverse("agent-rotate", args=[agent.handle]))  # rotating, without htmx
    shown = client.get(response["Location"])
    found = KEY_RE.findall(shown.content)
    assert len(found) == 1 and key_usable(found[0].decode())
    assert shown.cookies[PAD_COOKIE].value == "" and "no-store" in shown["Cache-Control"]


def test_a_name_without_letters_gets_a_handle_that_says_what_it_is(team):
    """'🤖🤖' became @principal-2, '!!!' (a service account) @principal: now @agent, @service."""
    from identity.services.agents import agent_create
    from identity.services.service_accounts import service_create

    robots, _ = agent_create(actor=team.alice, owner=team.alice, name="🤖🤖")
    more, _ = agent_create(actor=team.alice, owner=team.alice, name="!!")
    service, _ = service_create(actor=team.admin, org=team.org, name="!!!")
    assert (robots.handle, more.handle, service.handle) == ("agent", "agent-2", "service")


def test_keys_left_unsealed_in_a_session_by_the_old_code_are_cleared(team, scout):
    agent, _ = scout
    client = logged_in(team.alice)
    session = client.session
    session[ONCE_KEY] = {"agent": agent.public_id, "key": "dock_left_over"}
    session["dock.service_key_once"] = {"service": "svc_x", "key": "dock_left_over_too"}
    session.save()
    page = client.get(agent.get_absolute_url())
    assert b"dock_left_over" not in page.content
    assert ONCE_KEY not in client.session and "dock.service_key_once" not in client.session


def test_create_agent_without_avatar_or_extra_scope_gets_an_orb_and_read(team):
    client = logged_in(team.alice)
    client.post(reverse("agent-new"), {"name": "Plain", "scope": ["read"]})
    agent = Principal.objects.get(display_name="Plain")
    assert agent.scope == capabilities.READ and not agent.avatar


@pytest.mark.parametrize(
    "data, field",
    [
        ({"name": "", "scope": ["read"]}, "name"),
        ({"name": "x" * 121, "scope": ["read"]}, "name"),
        ({"name": "NoScope"}, "scope"),
        ({"name": "Boss", "scope": ["read", "manage"]}, "scope"),
        ({"name": "Vector", "scope": ["read"], "avatar": SimpleUploadedFile("a.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml")}, "avatar"),
        ({"name": "Fake", "scope": ["read"], "avatar": SimpleUploadedFile("a.png", b"not an image at all", "image/png")}, "avatar"),
        ({"name": "Huge", "scope": ["read"], "avatar": SimpleUploadedFile("a.png", b"\x89PNG" + b"\0" * (2 * 1024 * 1024), "image/png")}, "avatar"),
    ],
)
def test_bad_agent_input_shows_field_errors_and_creates_nothing(team, data, field):
    client = logged_in(team.alice)
    count, mark = Principal.objects.count(), audit_mark()
    response = client.post(reverse("agent-new"), data)
    assert response.status_code == 400
    assert response.context["form"].errors.get(field)
    assert b'aria-invalid="true"' in response.content or field == "scope"
    assert Principal.objects.count() == count and actions_since(mark) == []


# Controls ---------------------------------------------------------------------------------


def test_pause_over_htmx_swaps_the_card_and_the_key_is_refused(team, scout):
    agent, key = scout
    client = logged_in(team.alice)
    mark = audit_mark()
    response = client.post(reverse("agent-pause", args=[agent.handle]), headers=HTMX)
    assert response.status_code == 200
    body = response.content.decode()
    assert "<html" not in body and 'id="agent-card"' in body
    assert 'data-status="paused"' in body
    assert 'id="profile-head" hx-swap-oob="true"' in body
    assert "HX-Request" in response["Vary"]
    assert refresh(agent).status == Status.PAUSED
    assert actions_since(mark) == ["agent.paused"]
    assert key_usable(key)  # paused: the key is kept (the API refuses it as agent_inactive)
    # Said once: what pausing means is the status line; the message only says it is done.
    assert body.count("refused until") == 1 and f"{agent.display_name} is paused." in body


def test_plain_form_controls_redirect_back_to_the_profile(team, scout):
    agent, _ = scout
    client = logged_in(team.alice)
    response = client.post(reverse("agent-pause", args=[agent.handle]))
    assert response.status_code == 302 and response["Location"] == agent.get_absolute_url()
    page = client.get(response["Location"])
    assert b"is paused" in page.content
    response = client.post(reverse("agent-resume", args=[agent.handle]))
    assert response.status_code == 302 and refresh(agent).status == Status.ACTIVE


def test_refused_transition_is_shown_in_the_card_and_changes_nothing(team, scout):
    agent, _ = scout
    client = logged_in(team.alice)
    mark = audit_mark()
    response = client.post(reverse("agent-resume", args=[agent.handle]), headers=HTMX)
    assert response.status_code == 200 and b"already active" in response.content
    response = client.post(reverse("agent-resume", args=[agent.handle]))
    assert response.status_code == 409 and b"already active" in response.content
    assert actions_since(mark) == [] and refresh(agent).status == Status.ACTIVE


def test_rotate_over_htmx_shows_the_new_key_once_and_keeps_the_old_one_in_grace(team, scout):
    agent, old_key = scout
    client = logged_in(team.alice)
    mark = audit_mark()
    response = client.post(reverse("agent-rotate", args=[agent.handle]), headers=HTMX)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    new_keys = KEY_RE.findall(response.content)
    assert len(new_keys) == 1 and new_keys[0].decode() != old_key
    assert key_usable(new_keys[0].decode()) and key_usable(old_key)
    assert actions_since(mark) == ["agent.key.rotated"]
    assert b'data-state="grace"' in response.content and b"data-countdown" in response.content
    assert ONCE_KEY not in client.session
    page = client.get(agent.get_absolute_url())
    assert KEY_RE.search(page.content) is None


def test_a_rotated_away_key_can_be_stopped_before_its_grace_runs_out(team, scout):
    """After a leak the old key worked for the whole grace window, and pausing the agent
    only held it off until the resume. Its owner (or an org admin) stops it at once."""
    agent, old_key = scout
    client = logged_in(team.alice)
    rotated = client.post(reverse("agent-rotate", args=[agent.handle]), headers=HTMX).content.decode()
    new_key = KEY_RE.findall(rotated.encode())[0].decode()
    old, current = ApiKey.objects.get(principal=agent, expires_at__isnull=False), ApiKey.objects.get(principal=agent, expires_at=None)
    stop = reverse("agent-key-stop", args=[agent.handle, old.prefix])
    # Not while the new key is shown once: the card Stop now redraws would no longer hold it.
    assert stop not in rotated and "I have copied it</a>" in rotated
    page = client.get(agent.get_absolute_url()).content.decode()
    # Stop now asks first (a GET, in the card), never straight to the POST.
    assert re.search(rf'<a [^>]*href="{stop}"[^>]*hx-get="{stop}"[^>]*aria-label="Stop now: key {re.escape(old.display)}">Stop now</a>', page)
    assert f'action="{stop}"' not in page
    assert reverse("agent-key-stop", args=[agent.handle, current.prefix]) not in page
    asked = client.get(stop, headers=HTMX).content.decode()
    assert f'<p tabindex="-1" autofocus>Stop key {old.display} now?</p>' in asked and f'action="{stop}"' in asked
    assert "Scout is still on it, it is refused until it uses its current key." in asked
    assert client.get(stop).status_code == 200 and key_usable(old_key)  # the question as a page, without htmx
    # Nothing to ask of the current key: the card says why.
    assert "is the current one: rotate it first" in client.get(reverse("agent-key-stop", args=[agent.handle, current.prefix]),
                                                                headers=HTMX).content.decode()
    # The current key is not one to stop: nothing changes.
    mark = audit_mark()
    refused = client.post(reverse("agent-key-stop", args=[agent.handle, current.prefix]), headers=HTMX)
    assert f"Key {current.display} is the current one: rotate it first, or revoke the agent." in refused.content.decode()
    assert client.post(reverse("agent-key-stop", args=[agent.handle, current.prefix])).status_code == 409
    assert actions_since(mark) == [] and key_usable(new_key)
    # A member who does not manage it may not; nor may another org, who sees no such agent.
    assert logged_in(team.bob).post(stop).status_code == 403
    assert logged_in(team.stranger).post(stop).status_code == 404
    assert key_usable(old_key)
    response = client.post(stop, headers=HTMX).content.decode()
    assert f'tabindex="-1" autofocus>Key {old.display} is revoked: it no longer works.</p>' in response
    assert not key_usable(old_key) and key_usable(new_key)
    assert actions_since(mark) == ["agent.key.revoked"]
    # Pressed again (a second tab): said where focus goes, not done twice.
    again = client.post(stop, headers=HTMX).content.decode()
    assert f'role="alert" tabindex="-1" autofocus>Key {old.display} already no longer works.</p>' in again
    assert client.post(stop).status_code == 409
    assert actions_since(mark) == ["agent.key.revoked"]
    # An org admin may stop one too (admins pause and revoke).
    client.post(reverse("agent-rotate", args=[agent.handle]))
    second = ApiKey.objects.get(principal=agent, expires_at__isnull=False, revoked_at=None)
    assert logged_in(team.admin).post(reverse("agent-key-stop", args=[agent.handle, second.prefix])).status_code == 302
    assert ApiKey.objects.get(pk=second.pk).revoked_at is not None

    # The question says what stopping leaves: after an org-wide rotation there is no current
    # key, and maybe another key in its window; a paused agent works on none.
    from identity.services.keys import org_keys_rotate

    def asked(key):
        return client.get(reverse("agent-key-stop", args=[agent.handle, key.prefix]), headers=HTMX).content.decode()

    client.post(reverse("agent-rotate", args=[agent.handle]))
    org_keys_rotate(actor=SYSTEM, org=team.org)
    first, last = ApiKey.objects.filter(principal=agent, expires_at__isnull=False, revoked_at=None).order_by("created_at")
    assert "Scout has no current key; its other rotated-away keys keep working until their windows end." in asked(first)
    client.post(reverse("agent-key-stop", args=[agent.handle, first.prefix]))
    assert "Scout has no current key: it can do nothing through the API until you issue one." in asked(last)
    agent_pause(actor=team.alice, agent=agent)
    assert ("Scout is paused, so no key of its works now; left alone, this one would work again if Scout were active "
            "before its window ends.") in asked(last)


def test_a_paused_agents_key_in_grace_is_not_said_to_work(team, scout):
    """Every key of a paused agent is refused: its rotated-away key only runs out."""
    agent, _ = scout
    client = logged_in(team.alice)
    assert b"Works for <time" in client.post(reverse("agent-rotate", args=[agent.handle]), headers=HTMX).content
    paused = client.post(reverse("agent-pause", args=[agent.handle]), headers=HTMX).content
    assert b"Works for" not in paused and b'data-state="grace"' in paused and b"Retires in <time" in paused


def test_rotate_by_plain_form_carries_the_key_across_one_redirect(team, scout):
    agent, _ = scout
    client = logged_in(team.alice)
    response = client.post(reverse("agent-rotate", args=[agent.handle]))
    assert response.status_code == 302
    shown = KEY_RE.findall(client.get(agent.get_absolute_url()).content)
    assert len(shown) == 1 and key_usable(shown[0].decode())
    assert KEY_RE.search(client.get(agent.get_absolute_url()).content) is None


def test_revoke_destroys_the_keys(team, scout):
    agent, key = scout
    client = logged_in(team.alice)
    page = client.get(agent.get_absolute_url()).content.decode()
    # Revoke… leads to the question (a link), never straight to the POST.
    revoke = reverse("agent-revoke", args=[agent.handle])
    assert re.search(rf'<a [^>]*href="{revoke}"[^>]*hx-get="{revoke}"[^>]*>Revoke…</a>', page)
    assert f'action="{revoke}"' not in page
    mark = audit_mark()
    response = client.post(reverse("agent-revoke", args=[agent.handle]), headers=HTMX)
    assert b'data-status="revoked"' in response.content
    assert refresh(agent).status == Status.REVOKED and not key_usable(key)
    assert actions_since(mark)[:2] == ["agent.revoked", "agent.key.revoked"]
    assert b"agent-pause" not in response.content and b"/rotate/" not in response.content


def test_issue_a_key_when_the_agent_has_none(team, scout):
    agent, key = scout
    ApiKey.objects.filter(principal=agent).update(revoked_at="2020-01-01T00:00Z", digest="")
    client = logged_in(team.alice)
    page = client.get(agent.get_absolute_url())
    assert b"Issue a key" in page.content
    response = client.post(reverse("agent-rotate", args=[agent.handle]), headers=HTMX)
    shown = KEY_RE.findall(response.content)
    assert len(shown) == 1 and key_usable(shown[0].decode())


@pytest.mark.parametrize("action", ["agent-pause", "agent-resume", "agent-rotate", "agent-revoke"])
def test_only_the_owner_or_an_org_admin_may_control(team, scout, action):
    agent, _ = scout
    mark = audit_mark()
    assert logged_in(team.bob).post(reverse(action, args=[agent.handle])).status_code == 403
    assert logged_in(team.stranger).post(reverse(action, args=[agent.handle])).status_code == 404
    # Revoke asks first (GET); the others are POST only.
    if action == "agent-revoke":
        assert logged_in(team.bob).get(reverse(action, args=[agent.handle])).status_code == 403
        assert logged_in(team.stranger).get(reverse(action, args=[agent.handle])).status_code == 404
    else:
        assert logged_in(team.alice).get(reverse(action, args=[agent.handle])).status_code == 405
    assert actions_since(mark) == []


def test_revoke_asks_first_inside_the_card_then_revokes_for_good(team, scout):
    """Revoke… asked only through JavaScript (hx-confirm on a POST form): without it, one
    press destroyed the agent's keys. Now GET asks, in the card: a page of its own without
    JavaScript, the card swapped in place with htmx; only the POST under it revokes."""
    agent, key = scout
    client = logged_in(team.alice)
    revoke = reverse("agent-revoke", args=[agent.handle])
    mark = audit_mark()

    ask = client.get(revoke)
    body = ask.content.decode()
    assert ask.status_code == 200 and "<html" in body and 'id="agent-card"' in body
    region = body[body.index('role="region"'):]
    region = region[:region.index("</form>")]
    assert re.search(r'<p tabindex="-1" autofocus>Revoke Scout for good\?</p>', region)
    assert "Its keys are destroyed at once" in region and "cannot be undone" in region
    assert re.search(rf'<form [^>]*method="post" action="{revoke}"', region)
    assert re.search(r'<button type="submit"[^>]*>Revoke Scout</button>', region)
    assert f'href="{agent.get_absolute_url()}"' in region and ">Cancel</a>" in region
    assert ">Revoke…</a>" not in body  # asked already: the link is not offered again

    ask_htmx = client.get(revoke, headers=HTMX)
    fragment = ask_htmx.content.decode()
    assert ask_htmx.status_code == 200 and "<html" not in fragment
    assert fragment.lstrip().startswith('<div id="agent-card"') and "Revoke Scout for good?" in fragment
    assert "HX-Request" in ask_htmx["Vary"]
    assert actions_since(mark) == [] and refresh(agent).status == Status.ACTIVE and key_usable(key)

    # Cancel, with htmx: the profile answers with the card as it was.
    cancel = client.get(agent.get_absolute_url(), headers=HTMX).content.decode()
    assert cancel.lstrip().startswith('<div id="agent-card"') and "for good?" not in cancel and ">Revoke…</a>" in cancel

    done = client.post(revoke)
    assert done.status_code == 302 and done["Location"] == agent.get_absolute_url()
    assert refresh(agent).status == Status.REVOKED and not key_usable(key)
    assert b"is revoked" in client.get(agent.get_absolute_url()).content
    # Asking about a revoked agent leads back to its profile.
    again = client.get(revoke)
    assert again.status_code == 302 and again["Location"] == agent.get_absolute_url()


def test_only_the_owner_is_handed_a_new_key(team, scout):
    """A key carries its owner's access, in other orgs' workspaces too: an org admin who
    rotated a member's agent was handed a key that reached where only the owner was
    invited. The admin can pause, revoke or transfer it; the owner rotates."""
    agent, _ = scout
    admin = logged_in(team.admin)
    assert b'id="agent-rotate"' not in admin.get(agent.get_absolute_url()).content
    assert b'id="agent-state-toggle"' in admin.get(agent.get_absolute_url()).content
    mark, keys_before = audit_mark(), ApiKey.objects.filter(principal=agent).count()
    refused = admin.post(reverse("agent-rotate", args=[agent.handle]), headers=HTMX)
    assert refused.status_code == 200 and b"is handed" in refused.content and KEY_RE.search(refused.content) is None
    plain = admin.post(reverse("agent-rotate", args=[agent.handle]))
    assert plain.status_code == 403 and KEY_RE.search(plain.content) is None
    assert actions_since(mark) == [] and ApiKey.objects.filter(principal=agent).count() == keys_before
    owner = logged_in(team.alice)
    assert b'id="agent-rotate"' in owner.get(agent.get_absolute_url()).content
    assert KEY_RE.search(owner.post(reverse("agent-rotate", args=[agent.handle]), headers=HTMX).content)


def test_org_admin_may_pause_someone_elses_agent(team, scout):
    agent, _ = scout
    response = logged_in(team.admin).post(reverse("agent-pause", args=[agent.handle]), headers=HTMX)
    assert response.status_code == 200 and refresh(agent).status == Status.PAUSED


def test_unknown_agent_is_404(team):
    assert logged_in(team.alice).post(reverse("agent-pause", args=["nobody-here"])).status_code == 404
    # A human's handle is not an agent's.
    assert logged_in(team.admin).post(reverse("agent-pause", args=[team.alice.handle])).status_code == 404


# Org admin: restore and transfer ----------------------------------------------------------


def test_restore_and_transfer_are_for_org_admins_only(team, scout):
    agent, _ = scout
    owner = logged_in(team.alice)
    assert owner.post(reverse("agent-restore", args=[agent.handle])).status_code == 403
    assert owner.post(reverse("agent-transfer", args=[agent.handle]), {"owner": team.bob.public_id}).status_code == 403
    assert owner.get(reverse("agent-transfer", args=[agent.handle])).status_code == 403
    assert logged_in(team.stranger).post(reverse("agent-transfer", args=[agent.handle]), {"owner": team.bob.public_id}).status_code == 404
    page = owner.get(agent.get_absolute_url())
    assert b"/transfer/" not in page.content
    assert refresh(agent).owner == team.alice


def test_admin_transfers_then_restores_after_the_owner_is_deactivated(team, scout):
    agent, _ = scout
    admin = logged_in(team.admin)
    user_deactivate(actor=SYSTEM, user=team.alice.user)
    assert refresh(agent).status == Status.SUSPENDED

    page = admin.get(agent.get_absolute_url())
    assert b"/restore/" in page.content
    refused = admin.post(reverse("agent-restore", args=[agent.handle]), headers=HTMX)
    assert b"not active" in refused.content and refresh(agent).status == Status.SUSPENDED

    mark = audit_mark()
    moved = admin.post(reverse("agent-transfer", args=[agent.handle]), {"owner": team.bob.public_id}, headers=HTMX)
    assert moved.status_code == 200 and b"now belongs to Bob Brown" in moved.content
    assert refresh(agent).owner == team.bob
    restored = admin.post(reverse("agent-restore", args=[agent.handle]), headers=HTMX)
    assert b'data-status="active"' in restored.content
    assert refresh(agent).status == Status.ACTIVE
    assert actions_since(mark) == ["agent.transferred", "agent.restored"]


def test_restoring_an_agent_its_owner_had_paused_says_it_stays_paused(team, scout):
    agent, _ = scout
    agent_pause(actor=team.alice, agent=agent)
    user_deactivate(actor=SYSTEM, user=team.alice.user)
    user_reactivate(actor=SYSTEM, user=refresh(team.alice).user)
    admin = logged_in(team.admin)
    assert b"It was paused then, and restoring leaves it paused." in admin.get(agent.get_absolute_url()).content
    restored = admin.post(reverse("agent-restore", args=[agent.handle]), headers=HTMX)
    assert b"is restored, and paused as it was." in restored.content and b'data-status="paused"' in restored.content
    assert refresh(agent).status == Status.PAUSED


@pytest.mark.parametrize("choice", ["", "999999", "stranger", "owner"])
def test_bad_transfer_shows_a_field_error_and_changes_nothing(team, scout, choice):
    agent, _ = scout
    value = {"stranger": team.stranger.public_id, "owner": team.alice.public_id}.get(choice, choice)
    admin = logged_in(team.admin)
    mark = audit_mark()
    response = admin.post(reverse("agent-transfer", args=[agent.handle]), {"owner": value})
    assert response.status_code == 400
    assert b'id="id_transfer_owner"' in response.content and b"errorlist" in response.content
    htmx = admin.post(reverse("agent-transfer", args=[agent.handle]), {"owner": value}, headers=HTMX)
    assert htmx.status_code == 200 and b"errorlist" in htmx.content
    assert refresh(agent).owner == team.alice and actions_since(mark) == []


def test_control_query_count(team, scout, django_assert_max_num_queries):
    agent, _ = scout
    client = logged_in(team.alice)
    with django_assert_max_num_queries(16):
        client.post(reverse("agent-pause", args=[agent.handle]), headers=HTMX)
    with django_assert_max_num_queries(20):
        client.post(reverse("agent-rotate", args=[agent.handle]), headers=HTMX)
    with django_assert_max_num_queries(4):
        client.get(reverse("agent-new"))
    with django_assert_max_num_queries(16):  # 13, one for a same-named agent of the owner's, a savepoint (2) for the handle
        client.post(reverse("agent-new"), {"name": "Counted", "scope": ["read"]})


def test_an_owner_cannot_make_two_agents_of_one_name(team, scout):
    """Both showed as "Scout · agent · owned by Alice Adams" wherever only names show (the
    org chart, her list of agents); a revoked one's name is free again."""
    agent, _ = scout
    client = logged_in(team.alice)
    mark = audit_mark()
    response = client.post(reverse("agent-new"), {"name": f"  {agent.display_name.upper()} ", "scope": ["read"]})
    assert response.status_code == 409
    assert f"You already have an agent called “{agent.display_name.upper()}”: choose another name." in html.unescape(
        response.content.decode()
    )
    assert actions_since(mark) == [] and Principal.objects.filter(owner=team.alice, kind=Kind.AGENT).count() == 1
    # Someone else's agent may share the name; a revoked one's is free again.
    assert logged_in(team.bob).post(reverse("agent-new"), {"name": agent.display_name, "scope": ["read"]}).status_code == 302
    client.post(reverse("agent-revoke", args=[agent.handle]))
    assert client.post(reverse("agent-new"), {"name": agent.display_name, "scope": ["read"]}).status_code == 302


def test_the_transfer_form_names_people_by_public_id_never_by_database_key(team, scout):
    """Its choices were the humans' database primary keys (1, 2, 3 …), counting the
    platform's people for any admin; a public id is what every other page shows."""
    agent, _ = scout
    admin = logged_in(team.admin)
    form = admin.get(reverse("agent-transfer", args=[agent.handle])).content.decode()
    values = re.findall(r'<option value="([^"]+)"', form)
    assert team.bob.public_id in values
    assert all(value.startswith("usr_") for value in values), values
    mark = audit_mark()
    assert admin.post(reverse("agent-transfer", args=[agent.handle]), {"owner": team.bob.pk}).status_code == 400
    assert refresh(agent).owner == team.alice and actions_since(mark) == []


def test_the_transfer_form_says_the_keys_stop_working_and_asks_first(team, scout):
    """A transfer destroys the agent's keys (the new owner issues one): the form said only
    that access and proposals change, so an admin moved a working agent and stopped it."""
    agent, _ = scout
    admin = logged_in(team.admin)
    for headers in ({}, HTMX):
        form = admin.get(reverse("agent-transfer", args=[agent.handle]), headers=headers).content.decode()
        assert "Its keys stop working at once" in form
        assert "until its new owner issues it a key" in form
        assert re.search(r'<form[^>]*hx-confirm="Transfer Scout\? Its keys stop working at once[^"]*"', form)
        assert re.search(r'<form[^>]*data-confirm="Transfer Scout\? Its keys stop working at once[^"]*"', form)
    # Suspended, its keys are already gone: nothing to warn of.
    user_deactivate(actor=SYSTEM, user=team.alice.user)
    form = admin.get(reverse("agent-transfer", args=[agent.handle]), headers=HTMX).content.decode()
    assert "Its new owner issues it a key." in form and "confirm" not in form


# Scope --------------------------------------------------------------------------------------


def test_the_owner_changes_the_scope_and_the_access_follows(team, scout):
    """Scope was chosen once, at creation: to let an agent comment, an owner had to revoke
    it and make another, with a new name, face and key, and lose its history."""
    agent, key = scout  # read, write; Alice is an editor of the roadmap
    client = logged_in(team.alice)
    page = client.get(agent.get_absolute_url()).content.decode()
    assert f'action="{reverse("agent-scope", args=[agent.handle])}"' in page
    assert re.search(r'<input[^>]*name="scope" value="write"[^>]*checked', page)
    assert not re.search(r'<input[^>]*name="scope" value="comment"[^>]*checked', page)

    mark = audit_mark()
    response = client.post(reverse("agent-scope", args=[agent.handle]), {"scope": ["read", "comment"]}, headers=HTMX)
    body = response.content.decode()
    assert response.status_code == 200 and "<html" not in body
    assert "Scout's scope is now read, comment." in html.unescape(body)
    # The facts (its scope) and the access list follow, out of band.
    assert re.search(r'<section[^>]*id="facts"[^>]*hx-swap-oob="true"', body)
    assert re.search(r'<section[^>]*id="access"[^>]*hx-swap-oob="true"', body)
    assert refresh(agent).scope_names == ["read", "comment"]
    assert actions_since(mark) == ["agent.scope_changed"]
    assert key_usable(key)  # its key and identity stay
    assert access.check(agent.pk, team.ws.pk).names == ["read", "comment"]

    # The plain form comes back to the profile.
    response = client.post(reverse("agent-scope", args=[agent.handle]), {"scope": ["read"]})
    assert response.status_code == 302 and response["Location"] == agent.get_absolute_url()
    assert refresh(agent).scope_names == ["read"]


@pytest.mark.parametrize("scope", [[], ["manage"], ["read", "fly"]])
def test_a_scope_that_is_not_one_is_refused_beside_the_boxes(team, scout, scope):
    """The refusal was at the top of the card, with focus left on Change scope below:
    it is said under the boxes now, and focus goes to the first of them."""
    agent, _ = scout
    client = logged_in(team.alice)
    mark = audit_mark()
    response = client.post(reverse("agent-scope", args=[agent.handle]), {"scope": scope}, headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and 'class="flash flash-error"' not in html
    boxes, error = html.split('<div class="choices">')[1].split("</fieldset>")[0].split("</div>", 1)
    assert '<p class="errors" role="alert" id="agent-scope-error">' in error
    assert re.findall(r'<input [^>]*\bautofocus\b[^>]*>', html) == re.findall(r'<input [^>]*id="agent-scope-read"[^>]*>', boxes)
    assert boxes.count('aria-describedby="agent-scope-error"') == 4
    assert client.post(reverse("agent-scope", args=[agent.handle]), {"scope": scope}).status_code == 400
    assert refresh(agent).scope_names == ["read", "write"] and actions_since(mark) == []


def test_only_the_owner_sets_the_scope(team, scout):
    """The owner answers for what the agent does, so the owner says what it may do; an
    org admin pauses, revokes or transfers it."""
    agent, _ = scout
    for principal, status in ((team.admin, 403), (team.bob, 403), (team.stranger, 404)):
        client = logged_in(principal)
        assert client.post(reverse("agent-scope", args=[agent.handle]), {"scope": ["read"]}).status_code == status
        if principal.org_id == agent.org_id:
            assert b'name="scope"' not in client.get(agent.get_absolute_url()).content
    assert refresh(agent).scope_names == ["read", "write"]


def test_a_revoked_agents_scope_stays_as_it_was(team, scout):
    agent, _ = scout
    client = logged_in(team.alice)
    client.post(reverse("agent-revoke", args=[agent.handle]))
    assert b'name="scope"' not in client.get(agent.get_absolute_url()).content
    mark = audit_mark()
    response = client.post(reverse("agent-scope", args=[agent.handle]), {"scope": ["read"]}, headers=HTMX)
    assert b"revoked" in response.content and actions_since(mark) == []
    assert refresh(agent).scope_names == ["read", "write"]


def test_a_scope_change_read_before_a_transfer_is_refused_after_it(team, scout):
    """The owner's page was read while the agent was theirs; a transfer committed before the
    change reached the agent's lock: it is no longer theirs to set."""
    from identity.errors import Forbidden
    from identity.services import agents

    agent, _ = scout
    stale = Principal.objects.select_related("owner").get(pk=agent.pk)
    agents.agent_transfer(actor=team.admin, agent=agent, new_owner=team.bob)
    mark = audit_mark()
    with pytest.raises(Forbidden):
        agents.agent_set_scope(actor=team.alice, agent=stale, scope=capabilities.parse(["read"]))
    assert refresh(agent).scope_names == ["read", "write"] and actions_since(mark) == []
