"""Hostile use of invitation links: replayed, expired, withdrawn, truncated or padded,
accepted twice at once (threads on PostgreSQL; one after the other on SQLite), accepted
by someone logged in with another address, or pointed at another workspace's invitation.
Each gets a clear page (404 not valid, 409 not yours, 410 used/expired/withdrawn) and
changes nothing."""

import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from audit.refs import SYSTEM
from dock.workspaces import services
from dock.workspaces.models import Invitation, Membership
from identity.models import User
from identity.services.users import user_deactivate
from identity.tests.hostile_support import Hold, Unchanged, logged_in, race

NEW_PASSWORD = "a sturdy passphrase 42"


@pytest.fixture(autouse=True)
def fast_hashing_and_private_cache(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": uuid.uuid4().hex}}


class Site:
    def __init__(self, make):
        self.acme = make.org("acme", "Acme")
        self.alice = make.human(self.acme, "Alice Adams", email="alice@acme.test")
        self.roadmap = make.workspace(self.acme, "roadmap", name="Roadmap")
        make.member(self.roadmap, self.alice, "admin")
        self.globex = make.org("globex", "Globex")
        self.sam = make.human(self.globex, "Sam Stranger", email="sam@globex.test")
        self.hq = make.workspace(self.globex, "globex-hq", name="Globex HQ")
        make.member(self.hq, self.sam, "admin")

    def invite(self, email="dave@initech.test", workspace=None, role="editor", actor=None):
        invitation, token = services.invitation_create(
            actor=actor or self.alice, workspace=workspace or self.roadmap, email=email, role=role,
        )
        return invitation, token, reverse("invite-accept", args=[token])


@pytest.fixture
def site(make):
    return Site(make)


def signup(client, url, name="Dave Doe"):
    return client.post(url, {"name": name, "password": NEW_PASSWORD})


def accepted_events(invitation) -> int:
    return AuditEvent.objects.filter(action="workspace.invitation.accepted", target_id=invitation.public_id).count()


# Replays ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_used_link_is_refused_for_everyone_and_changes_nothing(site, make):
    invitation, token, url = site.invite()
    first = Client()
    assert signup(first, url).status_code == 302
    dave = User.objects.get(email="dave@initech.test").principal
    other = make.human(site.acme, "Other Dave", email="dave2@initech.test")
    with Unchanged():
        replays = [
            Client().get(url),  # anyone opening it again
            signup(Client(), url, name="Eve"),  # a second sign-up through it
            logged_in(dave).post(url),  # the person who used it
            logged_in(other).post(url),  # someone else
        ]
    assert [r.status_code for r in replays] == [410, 410, 410, 410]
    assert all("already been used" in r.content.decode() for r in replays)
    assert accepted_events(invitation) == 1
    assert User.objects.filter(email="dave@initech.test").count() == 1


@pytest.mark.django_db
def test_an_expired_link_is_refused_and_changes_nothing(site, make):
    invitation, token, url = site.invite()
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    dave = make.human(make.org(), "Dave Doe", email="dave@initech.test")
    with Unchanged():
        answers = [Client().get(url), signup(Client(), url), logged_in(dave).post(url)]
    assert [r.status_code for r in answers] == [410, 410, 410]
    assert all("expired" in r.content.decode() for r in answers)
    assert not Membership.objects.filter(principal=dave).exists()


@pytest.mark.django_db
def test_a_withdrawn_link_is_refused_and_changes_nothing(site):
    invitation, token, url = site.invite()
    services.invitation_revoke(actor=site.alice, invitation=invitation)
    with Unchanged():
        answers = [Client().get(url), signup(Client(), url)]
    assert [r.status_code for r in answers] == [410, 410]
    assert all("withdrawn" in r.content.decode() for r in answers)


# Someone else's link ---------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["other-org", "inviter", "same-org"])
def test_accepting_while_logged_in_with_another_address_is_refused(site, make, who):
    invitation, token, url = site.invite()
    holder = {"other-org": site.sam, "inviter": site.alice,
              "same-org": make.human(site.acme, "Mallory", email="mallory@acme.test")}[who]
    client = logged_in(holder)
    page = client.get(url)
    assert page.status_code == 200 and "Join Roadmap</button>" not in page.content.decode()
    with Unchanged():
        response = client.post(url)
    assert response.status_code == 409
    assert "sent to a different email address" in response.content.decode()
    # The link still works for the person it was sent to.
    assert signup(Client(), url).status_code == 302


@pytest.mark.django_db
def test_a_link_to_a_deactivated_accounts_address_creates_nothing(site, make):
    dave = make.human(make.org(), "Dave Doe", email="dave@initech.test")
    user_deactivate(actor=SYSTEM, user=dave.user)
    invitation, token, url = site.invite()
    with Unchanged():
        response = signup(Client(), url)
    assert response.status_code == 400
    assert "could not create an account" in response.content.decode()


# Bad tokens --------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("mangle", [
    pytest.param(lambda t: t[:-1], id="last-char-dropped"),
    pytest.param(lambda t: t[: len(t) // 2], id="half"),
    pytest.param(lambda t: t[:20], id="twenty-chars"),
    pytest.param(lambda t: t[:19], id="under-the-minimum"),
    pytest.param(lambda t: t + "A", id="one-char-added"),
    pytest.param(lambda t: t.swapcase(), id="case-flipped"),
    pytest.param(lambda t: t + "x" * 200, id="very-long"),
    pytest.param(lambda t: "' OR 1=1 --" + "x" * 20, id="sql-ish"),
])
def test_a_mangled_token_is_not_valid_and_changes_nothing(site, mangle):
    invitation, token, url = site.invite()
    bad_url = reverse("invite-accept", args=["PLACEHOLDER"]).replace("PLACEHOLDER", mangle(token))
    with Unchanged():
        page = Client().get(bad_url)
        post = signup(Client(), bad_url)
        logged = logged_in(site.sam).post(bad_url)
    assert [r.status_code for r in (page, post, logged)] == [404, 404, 404]
    assert "not valid" in page.content.decode()
    assert "Roadmap" not in page.content.decode() and "Alice" not in page.content.decode()


@pytest.mark.django_db
def test_a_token_with_nul_matches_no_url_and_changes_nothing(site):
    """No URL segment holds NUL (dock.converters): the link is a plain 404."""
    invitation, token, url = site.invite()
    bad_url = url.replace(token, token[:-1] + "%00")
    with Unchanged():
        responses = [Client().get(bad_url), signup(Client(), bad_url), logged_in(site.sam).post(bad_url)]
    assert [r.status_code for r in responses] == [404, 404, 404]
    assert all(b"Roadmap" not in r.content and b"Alice" not in r.content for r in responses)


# Another workspace's invitation ------------------------------------------------------------------


@pytest.mark.django_db
def test_withdrawing_another_workspaces_invitation_through_mine_is_404(site):
    """Alice manages Roadmap; Globex HQ's invitation id in Roadmap's path finds nothing."""
    gx_invitation, _, _ = site.invite(email="erin@initech.test", workspace=site.hq, actor=site.sam)
    alice = logged_in(site.alice)
    with Unchanged():
        response = alice.post(reverse("invitation-revoke", args=["roadmap", gx_invitation.public_id]))
        htmx = alice.post(reverse("invitation-revoke", args=["roadmap", gx_invitation.public_id]), headers={"HX-Request": "true"})
    assert response.status_code == 404 and htmx.status_code == 404


@pytest.mark.django_db
def test_an_invitation_between_two_of_my_workspaces_does_not_cross(site, make):
    """Admin of Roadmap but not of Vault: Vault's invitation id under Roadmap is 404, and
    Roadmap's under Vault (where she cannot manage) is refused."""
    vault = make.workspace(site.acme, "vault", name="Vault")
    bob = make.human(site.acme, "Bob Brown", email="bob@acme.test")
    make.member(vault, bob, "admin")
    make.member(vault, site.alice, "viewer")
    vault_invitation, _, _ = site.invite(email="erin@initech.test", workspace=vault, actor=bob)
    roadmap_invitation, _, _ = site.invite(email="fay@initech.test")
    alice = logged_in(site.alice)
    with Unchanged():
        across = alice.post(reverse("invitation-revoke", args=["roadmap", vault_invitation.public_id]))
        not_manager = alice.post(reverse("invitation-revoke", args=["vault", roadmap_invitation.public_id]))
    assert across.status_code == 404
    assert not_manager.status_code == 403


@pytest.mark.django_db
def test_a_token_only_ever_opens_its_own_workspace(site, make):
    gina = make.human(site.globex, "Gina", email="gina@globex.test")
    invitation, token, url = site.invite(email="gina@globex.test", workspace=site.hq, actor=site.sam)
    page = Client().get(url).content.decode()
    assert "Globex HQ" in page and "Roadmap" not in page
    assert logged_in(gina).post(url).status_code == 302
    assert Membership.objects.filter(principal=gina, workspace=site.hq).exists()
    assert not Membership.objects.filter(principal=gina, workspace=site.roadmap).exists()


# Accepted twice at once ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_accepted_twice_in_a_row_joins_once(site, make):
    """SQLite runs one writer at a time: the second of two quick clicks is the replay."""
    invitation, token, url = site.invite()
    dave = make.human(make.org(), "Dave Doe", email="dave@initech.test")
    client = logged_in(dave)
    first, second = client.post(url), client.post(url)
    assert (first.status_code, second.status_code) == (302, 410)
    assert Membership.objects.filter(principal=dave, workspace=site.roadmap).count() == 1
    assert accepted_events(invitation) == 1


@pytest.mark.django_db
def test_two_sign_ups_in_a_row_through_one_link_create_one_account(site):
    invitation, token, url = site.invite()
    first, second = signup(Client(), url), signup(Client(), url, name="Dave Again")
    assert (first.status_code, second.status_code) == (302, 410)
    assert User.objects.filter(email="dave@initech.test").count() == 1


def _race(monkeypatch, first, second):
    """`first` reaches the membership insert holding the invitation's row lock; `second`
    starts and blocks on that lock; then `first` commits and `second` goes on."""
    hold = Hold(services._membership_insert)
    monkeypatch.setattr(services, "_membership_insert", hold)
    return race(hold, first, second)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_accepts_at_once_join_once(site, make, monkeypatch):
    invitation, token, url = site.invite()
    dave = make.human(make.org(), "Dave Doe", email="dave@initech.test")
    a, b = logged_in(dave), logged_in(dave)
    first, second = _race(monkeypatch, lambda: a.post(url), lambda: b.post(url))
    assert first.status_code == 302
    assert second.status_code in (409, 410) and "already been used" in second.content.decode()
    assert Membership.objects.filter(principal=dave, workspace=site.roadmap).count() == 1
    assert accepted_events(invitation) == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("second_name", ["Dave Doe", "Dave Again"], ids=["same-name", "other-name"])
def test_two_sign_ups_at_once_through_one_link_create_one_account(site, monkeypatch, second_name):
    """A double click on "Join": the second request waits, then gets a clear answer — never
    a server error, never a second account."""
    invitation, token, url = site.invite()
    people = User.objects.count()
    first, second = _race(monkeypatch, lambda: signup(Client(), url), lambda: signup(Client(), url, name=second_name))
    assert first.status_code == 302
    assert second.status_code in (400, 409, 410), second.status_code
    assert User.objects.count() == people + 1
    assert accepted_events(invitation) == 1
    assert Membership.objects.filter(workspace=site.roadmap, principal__user__email="dave@initech.test").count() == 1
