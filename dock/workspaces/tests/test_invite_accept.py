"""/invites/<token>/: single use, expiring, for the invited email only, and telling nobody
whether an address already has an account."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from conftest import actions_since, audit_mark
from dock.workspaces import services
from dock.workspaces.models import Invitation, Membership
from identity import access
from identity.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def invite(make):
    acme = make.org("acme", "Acme")
    alice = make.human(acme, "Alice Adams", email="alice@acme.test")
    workspace = make.workspace(acme, "roadmap", name="Roadmap")
    make.member(workspace, alice, "admin")

    def create(email, role="editor"):
        invitation, token = services.invitation_create(actor=alice, workspace=workspace, email=email, role=role)
        return invitation, token, reverse("invite-accept", args=[token])

    return {"acme": acme, "alice": alice, "workspace": workspace, "create": create}


def _signup(client, url, name="Dave Doe", password="a sturdy passphrase 42"):
    return client.post(url, {"name": name, "password": password})


def test_new_person_signs_up_joins_the_inviting_org_and_workspace(invite, client):
    _, _, url = invite["create"]("dave@initech.test", role="editor")
    page = client.get(url)
    html = page.content.decode()
    assert page.status_code == 200 and "dave@initech.test" in html and "Join Roadmap" in html
    assert "Log in to accept" in html and f"{reverse('login')}?next={url}" in html
    mark = audit_mark()
    response = _signup(client, url)
    assert response.status_code == 302 and response["Location"] == reverse("workspace", args=["roadmap"])
    user = User.objects.get(email="dave@initech.test")
    assert user.principal.org == invite["acme"] and user.principal.display_name == "Dave Doe"
    assert user.org_role == "member" and user.check_password("a sturdy passphrase 42")
    assert Membership.objects.get(principal=user.principal, workspace=invite["workspace"]).role == "editor"
    assert actions_since(mark) == ["human.created", "workspace.invitation.accepted", "workspace.member.added", "human.logged_in"]
    # Logged in as the new person.
    assert client.get(reverse("workspace", args=["roadmap"])).status_code == 200


def test_a_guest_admins_invitee_joins_the_guests_org_not_the_host_org(invite, client, make):
    """An admin of Acme's workspace who is from Globex: the person they bring in through
    the link joins Globex, a guest of that one workspace. Joining Acme made them an Acme
    member, who could read every org-wide Acme workspace and list its people."""
    globex = make.org("globex", "Globex")
    gina = make.human(globex, "Gina Guest")
    make.member(invite["workspace"], gina, "admin")
    open_to_acme = make.workspace(invite["acme"], "plans", visibility="org", name="Plans")
    _, token = services.invitation_create(actor=gina, workspace=invite["workspace"], email="sock@globex.test")
    url = reverse("invite-accept", args=[token])
    assert "It will be in Globex, as a guest of Roadmap." in client.get(url).content.decode()
    assert _signup(client, url).status_code == 302
    sock = User.objects.get(email="sock@globex.test").principal
    assert sock.org == globex
    assert Membership.objects.filter(principal=sock, workspace=invite["workspace"]).exists()
    assert access.check(sock.pk, open_to_acme.pk).caps == 0
    assert client.get(reverse("workspace", args=["plans"])).status_code == 404


def test_an_invitation_whose_sender_was_deleted_cannot_be_used(invite, client, make):
    """Nobody stands behind it: signing up through it would have joined the workspace's
    org by default, the very door a guest admin's invitation must not open."""
    globex = make.org("globex", "Globex")
    gina = make.human(globex, "Gina Guest")
    make.member(invite["workspace"], gina, "admin")
    _, token = services.invitation_create(actor=gina, workspace=invite["workspace"], email="sock@globex.test")
    gina.user.delete()
    gina.delete()
    url = reverse("invite-accept", args=[token])
    page = client.get(url)
    assert page.status_code == 410 and "no longer on Dock" in page.content.decode()
    assert _signup(client, url).status_code == 410
    assert not User.objects.filter(email="sock@globex.test").exists()


@pytest.mark.parametrize("change", ["removed", "lowered", "deactivated"])
def test_an_invitation_outlives_no_longer_its_senders_right_to_invite(invite, client, make, login, change):
    """Bruno, an admin, invited an address, then was removed from the workspace, made an
    editor, or deactivated: the link still let whoever held it in (as admin, if so
    invited), on the authority Bruno no longer has. It is refused until an admin invites
    again."""
    from identity.services.users import user_deactivate

    bruno = make.human(invite["acme"], "Bruno Silva", email="bruno@acme.test")
    membership = make.member(invite["workspace"], bruno, "admin")
    _, token = services.invitation_create(actor=bruno, workspace=invite["workspace"], email="sock@acme.test", role="admin")
    _, token_for_erin = services.invitation_create(actor=bruno, workspace=invite["workspace"], email="erin@acme.test")
    erin = make.human(invite["acme"], "Erin Eck", email="erin@acme.test")
    before = audit_mark()
    if change == "removed":
        services.membership_remove(actor=invite["alice"], membership=membership)
    elif change == "lowered":
        services.membership_set_role(actor=invite["alice"], membership=membership, role="editor")
    else:
        user_deactivate(actor=invite["alice"], user=bruno.user)
    # Both links are withdrawn with the change, and recorded so.
    assert actions_since(before).count("workspace.invitation.revoked") == 2
    assert not Invitation.objects.filter(invited_by=bruno, revoked_at__isnull=True).exists()
    mark = audit_mark()
    url = reverse("invite-accept", args=[token])
    page = client.get(url)
    assert page.status_code == 410 and "can no longer invite people to Roadmap" in page.content.decode()
    assert _signup(client, url).status_code == 410
    assert not User.objects.filter(email="sock@acme.test").exists()
    assert login(erin).post(reverse("invite-accept", args=[token_for_erin])).status_code == 410
    with pytest.raises(services.InvalidTransition):
        services.invitation_accept(actor=erin, token=token_for_erin)
    assert not Membership.objects.filter(principal=erin).exists()
    assert actions_since(mark) == []


@pytest.mark.parametrize("change", ["removed", "lowered", "deactivated"])
def test_an_invitation_stays_withdrawn_when_its_sender_gets_the_right_back(invite, client, make, change):
    """Bruno lost the right to invite, then got it back (added again, made admin again,
    reactivated): the link he sent before does not come back to life with it."""
    from identity.services.users import user_deactivate, user_reactivate

    bruno = make.human(invite["acme"], "Bruno Silva", email="bruno@acme.test")
    membership = make.member(invite["workspace"], bruno, "admin")
    _, token = services.invitation_create(actor=bruno, workspace=invite["workspace"], email="sock@acme.test", role="admin")
    if change == "removed":
        services.membership_remove(actor=invite["alice"], membership=membership)
        make.member(invite["workspace"], bruno, "admin")
    elif change == "lowered":
        services.membership_set_role(actor=invite["alice"], membership=membership, role="editor")
        services.membership_set_role(actor=invite["alice"], membership=membership, role="admin")
    else:
        user_deactivate(actor=invite["alice"], user=bruno.user)
        user_reactivate(actor=invite["alice"], user=bruno.user)
    assert services.invitation_sender_may_invite(Invitation.objects.get(invited_by=bruno))
    url = reverse("invite-accept", args=[token])
    page = client.get(url)
    assert page.status_code == 410 and "This invitation was withdrawn" in page.content.decode()
    assert _signup(client, url).status_code == 410
    assert not User.objects.filter(email="sock@acme.test").exists()


def test_a_sender_lowered_in_one_workspace_keeps_their_invitations_elsewhere(invite, make):
    bruno = make.human(invite["acme"], "Bruno Silva", email="bruno@acme.test")
    membership = make.member(invite["workspace"], bruno, "admin")
    other = make.workspace(invite["acme"], "ops", name="Ops")
    make.member(other, bruno, "admin")
    services.invitation_create(actor=bruno, workspace=invite["workspace"], email="sock@acme.test")
    kept, _ = services.invitation_create(actor=bruno, workspace=other, email="sock@acme.test")
    services.membership_set_role(actor=invite["alice"], membership=membership, role="viewer")
    assert list(Invitation.objects.filter(revoked_at__isnull=True)) == [kept]


@pytest.mark.parametrize("data, field", [
    ({"name": "", "password": "a sturdy passphrase 42"}, "name"),
    ({"name": "Dave", "password": "short"}, "password"),
    ({"name": "Dave", "password": "password123"}, "password"),
    ({"name": "Dave", "password": ""}, "password"),
])
def test_bad_signup_input_is_a_field_error_and_nothing_changes(invite, client, data, field):
    invitation, _, url = invite["create"]("dave@initech.test")
    mark = audit_mark()
    response = client.post(url, data)
    assert response.status_code == 400 and response.context["form"].errors[field]
    assert 'aria-invalid="true"' in response.content.decode()
    assert not User.objects.filter(email="dave@initech.test").exists()
    invitation.refresh_from_db()
    assert invitation.accepted_at is None and actions_since(mark) == []


def test_existing_account_logs_in_and_accepts(invite, make, login):
    globex = make.org("globex", "Globex")
    carol = make.human(globex, "Carol Chen", email="carol@globex.test")
    courier, _ = make.agent(carol, "Courier", scope="read,comment")
    _, _, url = invite["create"]("carol@globex.test", role="editor")
    client = login(carol)
    page = client.get(url)
    assert "Join Roadmap</button>" in page.content.decode()
    mark = audit_mark()
    response = client.post(url)
    assert response.status_code == 302
    assert Membership.objects.get(principal=carol).role == "editor"
    assert carol.org == globex  # joining another org's workspace does not move them
    # Their agent comes along, capped by its scope, with no per-agent step.
    assert access.check(courier.pk, invite["workspace"].pk).names == ["read", "comment"]
    assert actions_since(mark) == ["workspace.invitation.accepted", "workspace.member.added"]


def test_accepting_as_someone_else_is_refused_and_changes_nothing(invite, make, login):
    invitation, _, url = invite["create"]("dave@initech.test")
    mallory = make.human(make.org(), "Mallory", email="mallory@evil.test")
    client = login(mallory)
    page = client.get(url)
    html = page.content.decode()
    assert "was sent to <strong>dave@initech.test</strong>" in html and "Join Roadmap</button>" not in html
    mark = audit_mark()
    response = client.post(url)
    assert response.status_code == 409
    assert "sent to a different email address" in response.content.decode()
    invitation.refresh_from_db()
    assert invitation.accepted_at is None
    assert not Membership.objects.filter(principal=mallory).exists() and actions_since(mark) == []


def test_logging_out_from_someone_elses_invitation_comes_back_to_it(invite, make, login):
    """The page said to log out, then open the link again: Log out landed on the log-in
    page, and the link was left behind in an email. It comes back to the invitation,
    logged out, where the invited person signs up or logs in."""
    _, _, url = invite["create"]("dave@initech.test")
    client = login(make.human(make.org(), "Mallory", email="mallory@evil.test"))
    html = client.get(url).content.decode()
    assert f'<input type="hidden" name="next" value="{url}">' in html
    response = client.post(reverse("logout"), {"next": url})
    assert response.status_code == 302 and response["Location"] == url
    page = client.get(url).content.decode()
    assert "Create account and join" in page and "You are logged out." in page
    # Only this site's own addresses: anywhere else, the log-in page as before.
    client = login(make.human(make.org(), "Eve", email="eve@evil.test"))
    assert client.post(reverse("logout"), {"next": "https://evil.test/"})["Location"] == reverse("login")


def test_accepted_twice_replayed_expired_withdrawn_and_bogus_links(invite, client, make, login):
    invitation, token, url = invite["create"]("dave@initech.test")
    assert _signup(client, url).status_code == 302
    client.logout()
    mark = audit_mark()
    # Replayed after use: anonymous or logged in, a clear message and nothing changed.
    again = client.get(url)
    assert again.status_code == 410 and "already been used" in again.content.decode()
    assert _signup(client, url, name="Eve").status_code == 410
    dave = User.objects.get(email="dave@initech.test").principal
    assert login(dave).post(url).status_code == 410
    expired, _, expired_url = invite["create"]("erin@initech.test")
    Invitation.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert "expired" in client.get(expired_url).content.decode() and client.get(expired_url).status_code == 410
    assert _signup(client, expired_url).status_code == 410
    withdrawn, _, withdrawn_url = invite["create"]("fay@initech.test")
    services.invitation_revoke(actor=invite["alice"], invitation=withdrawn)
    mark = audit_mark()
    assert "withdrawn" in client.get(withdrawn_url).content.decode()
    assert _signup(client, withdrawn_url).status_code == 410
    for bogus in ("x" * 43, "short", token[:-1] + ("A" if token[-1] != "A" else "B")):
        response = client.get(reverse("invite-accept", args=[bogus]))
        assert response.status_code == 404 and "not valid" in response.content.decode()
    assert not User.objects.filter(email__in=["erin@initech.test", "fay@initech.test"]).exists()
    assert actions_since(mark) == []


def test_a_link_replaced_by_sending_again_points_to_the_newer_one(invite, client, login):
    """Inviting the same address again withdraws the earlier link; its page said only
    "withdrawn", with the newer link already in the same inbox."""
    _, _, first_url = invite["create"]("gus@globex.test")
    login(invite["alice"]).post(reverse("workspace-invite", args=["roadmap"]), {"email": "Gus@globex.test", "role": "editor"})
    client.logout()
    page = client.get(first_url)
    html = page.content.decode()
    assert page.status_code == 410 and "A newer invitation to this workspace was sent to the same address" in html
    assert "withdrawn" not in html
    # The newer one withdrawn, used or run out too: the first says it was withdrawn.
    newer = Invitation.objects.filter(email="gus@globex.test").latest("id")
    for gone in ({"revoked_at": timezone.now()}, {"accepted_at": timezone.now()}, {"expires_at": timezone.now()}):
        Invitation.objects.filter(pk=newer.pk).update(**{"revoked_at": None, "accepted_at": None, **gone})
        assert "This invitation was withdrawn." in client.get(first_url).content.decode(), gone
    # Withdrawn and not sent again: said as before.
    withdrawn, _, withdrawn_url = invite["create"]("hal@globex.test")
    services.invitation_revoke(actor=invite["alice"], invitation=withdrawn)
    assert "This invitation was withdrawn." in client.get(withdrawn_url).content.decode()


def test_page_is_the_same_whether_or_not_the_address_has_an_account(invite, client, make):
    """No account enumeration: an inviter opening their own link learns nothing."""
    make.human(make.org(), "Has Account", email="known@initech.test")
    _, known_token, known_url = invite["create"]("known@initech.test")
    _, unknown_token, unknown_url = invite["create"]("unknown@initech.test")

    def normalised(response, email, token):
        html = response.content.decode().replace(email, "EMAIL").replace(token, "TOKEN")
        html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)
        return re.sub(r'"X-CSRFToken": "[^"]+"', "", html)

    known, unknown = client.get(known_url), client.get(unknown_url)
    assert known.status_code == unknown.status_code == 200
    assert normalised(known, "known@initech.test", known_token) == normalised(unknown, "unknown@initech.test", unknown_token)


def test_signup_colliding_with_an_existing_account_changes_nothing(invite, client, make):
    make.human(make.org(), "Has Account", email="known@initech.test")
    invitation, _, url = invite["create"]("known@initech.test")
    mark = audit_mark()
    response = _signup(client, url)
    assert response.status_code == 400
    assert "log in to accept it" in response.content.decode()
    invitation.refresh_from_db()
    assert invitation.accepted_at is None and User.objects.filter(email="known@initech.test").count() == 1
    assert actions_since(mark) == []
    assert "_auth_user_id" not in client.session


def test_invite_page_query_count(invite, client, django_assert_max_num_queries):
    _, _, url = invite["create"]("dave@initech.test")
    with django_assert_max_num_queries(3):
        assert client.get(url).status_code == 200


def test_a_restricted_workspace_does_not_promise_that_agents_come_along(make, client):
    """In a restricted workspace a member's agents get nothing until a workspace admin
    elevates them; the invitation and the invite form said they came along."""
    acme = make.org("acme", "Acme")
    alice = make.human(acme, "Alice Adams", email="alice@acme.test")
    bob = make.human(acme, "Bob Baker", email="bob@acme.test")
    for slug, restricted in (("open", False), ("vault", True)):
        workspace = make.workspace(acme, slug, name=slug.title(), restricted=restricted)
        make.member(workspace, alice, "admin")
        _, token = services.invitation_create(actor=alice, workspace=workspace, email="bob@acme.test", role="editor")
        client.force_login(bob.user)
        accept = client.get(reverse("invite-accept", args=[token])).content.decode()
        client.force_login(alice.user)
        members = client.get(reverse("workspace-members", args=[slug])).content.decode()
        if restricted:
            assert "Your agents come with you" not in accept and "come with them" not in members
            assert "Your agents get nothing here until a workspace admin elevates them" in accept
            assert "their agents get nothing here until a workspace admin elevates them" in members
        else:
            assert "Your agents come with you, each capped by its scope." in accept
            assert "Their agents come with them, capped by each agent's scope." in members


def test_a_restricted_org_wide_workspace_says_its_agents_can_still_read(make, client):
    """Open to the whole org, a restricted workspace still lets the org's agents read
    (SPEC rule 3): the invitation and the form's help said they got nothing."""
    acme = make.org("acme", "Acme")
    alice = make.human(acme, "Alice Adams", email="alice@acme.test")
    bob = make.human(acme, "Bob Baker", email="bob@acme.test")
    workspace = make.workspace(acme, "vault", name="Vault", restricted=True, visibility="org")
    make.member(workspace, alice, "admin")
    _, token = services.invitation_create(actor=alice, workspace=workspace, email="bob@acme.test", role="editor")
    client.force_login(bob.user)
    accept = client.get(reverse("invite-accept", args=[token])).content.decode()
    assert "get nothing here" not in accept
    assert "Your agents can only read here (the whole org may) until a workspace admin elevates them" in accept
    new = client.get(reverse("workspace-new")).content.decode()
    assert "with org visibility, the org&#x27;s agents can still read" in new
