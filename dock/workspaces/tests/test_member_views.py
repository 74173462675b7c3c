"""/w/<slug>/members/: humans with their agents nested, service grants, invitations, roles,
removal with its impact preview, and elevations."""

import re

import pytest
from django.urls import reverse

from conftest import actions_since, audit_mark
from dock.workspaces import selectors
from dock.workspaces.models import Elevation, Invitation, Membership, Role, Workspace
from identity import access
from identity.models import Kind, Org, Principal

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(make):
    """Acme: Alice (admin) with Scribe and Reader, Bob (editor) with Builder; Carol from
    Globex (viewer) with Courier; a service account with a grant."""
    acme, globex = make.org("acme", "Acme"), make.org("globex", "Globex")
    alice = make.human(acme, "Alice Adams", email="alice@acme.test")
    bob = make.human(acme, "Bob Baker", email="bob@acme.test")
    carol = make.human(globex, "Carol Chen", email="carol@globex.test")
    workspace = make.workspace(acme, "roadmap", name="Roadmap")
    make.member(workspace, alice, "admin")
    make.member(workspace, bob, "editor")
    make.member(workspace, carol, "viewer")
    scribe, scribe_key = make.agent(alice, "Scribe", scope="read,comment,write")
    reader, _ = make.agent(alice, "Reader", scope="read")
    builder, builder_key = make.agent(bob, "Builder", scope="read,write,delete")
    courier, courier_key = make.agent(carol, "Courier", scope="read,comment")
    service, _ = make.service(acme, "CI pipeline")
    make.member(workspace, service, "editor")
    return {
        "workspace": workspace, "alice": alice, "bob": bob, "carol": carol, "scribe": scribe, "reader": reader,
        "builder": builder, "courier": courier, "service": service, "builder_key": builder_key,
        "courier_key": courier_key,
    }


def _members_url(slug="roadmap"):
    return reverse("workspace-members", args=[slug])


def _section(html: str, element_id: str) -> str:
    """The HTML of the <li id=element_id> (up to its sibling), for 'nested under' checks."""
    start = html.index(f'id="{element_id}"')
    following = html.find('<li class="member" id="member-', start + 10)
    return html[start:following if following != -1 else len(html)]


def test_agents_are_nested_under_their_owner_with_their_caps_here(team, login):
    response = login(team["alice"]).get(_members_url())
    html = response.content.decode()
    assert response.status_code == 200
    alice_part = _section(html, "member-alice-adams")
    assert "Scribe" in alice_part and "Reader" in alice_part and "Builder" not in alice_part
    assert "Builder" in _section(html, "member-bob-baker")
    assert "Courier" in _section(html, "member-carol-chen")
    # The caps on the page are exactly what identity.access decides, agent by agent.
    rows = {row.principal.handle: row for row in response.context["members"].rows}
    for row in rows.values():
        for here in row.agents:
            assert here.decision.caps == access.check(here.agent.pk, team["workspace"].pk).caps, here.agent.handle
    assert [h.caps for h in rows["alice-adams"].agents] == [["read"], ["read", "comment", "write"]]  # Reader, Scribe
    assert rows["carol-chen"].agents[0].caps == ["read"]  # viewer ∩ read,comment
    assert "CI pipeline" in html and "service account" in html
    assert 'id="invitations"' in html  # alice manages


def test_agents_look_like_humans_apart_from_the_label(team, login):
    html = login(team["alice"]).get(_members_url()).content.decode()
    scribe = html[html.index('id="agent-scribe"'):]
    scribe = scribe[:scribe.index("</li>")]
    alice = _section(html, "member-alice-adams")
    alice = alice[:alice.index("</span>\n  </span>")]
    # Same component: same classes for the card, avatar and name; only a quiet kind label added.
    for fragment in ('class="principal principal-40', 'class="avatar avatar-40"', 'class="principal-name"'):
        assert fragment in scribe and fragment in alice
    assert '<span class="kind">agent · owned by' in scribe
    assert '<span class="kind">' not in alice


def test_paused_agent_shows_status_and_no_access(team, login, make):
    from identity.services.agents import agent_pause

    agent_pause(actor=team["bob"], agent=team["builder"])
    html = login(team["alice"]).get(_members_url()).content.decode()
    builder = html[html.index('id="agent-builder"'):]
    assert "chip-paused" in builder[:builder.index("</li>")]
    assert "no access here" in builder[:builder.index("</li>")]


def test_non_manager_sees_members_without_controls(team, login):
    response = login(team["carol"]).get(_members_url())
    html = response.content.decode()
    assert response.status_code == 200
    assert "Scribe" in html
    assert 'id="invitations"' not in html and "Remove…" not in html and 'name="role"' not in html


def test_members_page_with_2000_principals_is_paginated_and_bounded(make, login, django_assert_max_num_queries):
    """500 humans with 3 agents each (2,000 principals), in a restricted workspace (so the
    elevation facts are needed too): one page costs the same few queries."""
    org = make.org("big", "Big")
    admin = make.human(org, "Admin")
    workspace = make.workspace(org, "big-ws", restricted=True)
    make.member(workspace, admin, "admin")
    humans = Principal.objects.bulk_create([
        Principal(public_id=f"usr_bulk{n:05d}", handle=f"human-{n:04d}", display_name=f"Human {n:04d}", kind=Kind.HUMAN, org=org)
        for n in range(499)
    ])
    humans.append(admin)
    agents = Principal.objects.bulk_create([
        Principal(public_id=f"agt_bulk{n:05d}{k}", handle=f"agent-{n:04d}-{k}", display_name=f"Agent {n:04d}-{k}",
                  kind=Kind.AGENT, org=org, owner=human, scope=7)
        for n, human in enumerate(humans) for k in range(3)
    ])
    Membership.objects.bulk_create([Membership(workspace=workspace, principal=h, role="editor") for h in humans[:-1]])
    Elevation.objects.bulk_create([Elevation(workspace=workspace, agent=a) for a in agents[::2]])
    assert Principal.objects.filter(org=org).count() == 2000  # 500 humans, 1,500 agents
    client = login(admin)
    client.get(_members_url("big-ws"))
    with django_assert_max_num_queries(12):
        response = client.get(_members_url("big-ws") + "?page=3")
    page = response.context["members"]
    assert page.paginator.count == 500 and len(page.rows) == selectors.MEMBERS_PER_PAGE
    assert sum(len(row.agents) for row in page.rows) == 3 * selectors.MEMBERS_PER_PAGE
    for row in page.rows[:5]:
        for here in row.agents:
            assert here.decision.caps == access.check(here.agent.pk, workspace.pk).caps
            assert here.elevated == Elevation.objects.filter(workspace=workspace, agent=here.agent).exists()


def test_members_page_query_count(team, login, django_assert_max_num_queries):
    client = login(team["alice"])
    client.get(_members_url())
    with django_assert_max_num_queries(11):
        assert client.get(_members_url()).status_code == 200


# Invitations -------------------------------------------------------------------------------


def test_invite_shows_link_once_and_mails_it_after_commit(team, login, htmx, mailoutbox, django_capture_on_commit_callbacks):
    mark = audit_mark()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = login(team["alice"]).post(
            reverse("workspace-invite", args=["roadmap"]), {"email": "Dave@Initech.test", "role": "editor"}, **htmx,
        )
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and 'id="invitations"' in html  # the fragment
    link = re.search(r'<code id="invite-link">([^<]+)</code>', html).group(1)
    assert "/invites/" in link and 'data-copy-target="#invite-link"' in html
    assert "no-store" in response["Cache-Control"]
    token = link.rstrip("/").rsplit("/", 1)[1]
    invitation = Invitation.objects.get()
    assert (invitation.email, invitation.role, invitation.invited_by) == ("dave@initech.test", "editor", team["alice"])
    assert token not in invitation.token_digest and len(invitation.token_digest) == 64  # only a hash is kept
    assert len(callbacks) == 1 and len(mailoutbox) == 1
    assert mailoutbox[0].to == ["dave@initech.test"] and link in mailoutbox[0].body
    assert "Alice Adams invited you to Roadmap" in mailoutbox[0].subject
    assert actions_since(mark) == ["workspace.invitation.created"]
    # The open invitation is listed; the link is never shown again.
    again = login(team["alice"]).get(_members_url()).content.decode()
    assert "dave@initech.test" in again and token not in again


def test_invite_full_page_post_also_shows_the_link(team, login, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = login(team["alice"]).post(reverse("workspace-invite", args=["roadmap"]), {"email": "dave@initech.test", "role": "viewer"})
    html = response.content.decode()
    assert response.status_code == 200 and "<html" in html
    assert 'id="invite-link"' in html and len(mailoutbox) == 1


@pytest.mark.parametrize("data, field", [
    ({"email": "not-an-email", "role": "editor"}, "email"),
    ({"email": "", "role": "editor"}, "email"),
    ({"email": "dave@initech.test", "role": "owner"}, "role"),
    ({"email": "Bob@Acme.test", "role": "viewer"}, "email"),  # already a member: an invitation would do nothing
])
def test_bad_invite_input_is_a_field_error_and_nothing_is_sent(team, login, htmx, mailoutbox, django_capture_on_commit_callbacks, data, field):
    mark = audit_mark()
    with django_capture_on_commit_callbacks(execute=True):
        response = login(team["alice"]).post(reverse("workspace-invite", args=["roadmap"]), data, **htmx)
    html = response.content.decode()
    assert response.status_code == 200  # htmx swaps 2xx only: the errors show in place
    assert 'class="errorlist"' in html and 'aria-invalid="true"' in html and f'name="{field}"' in html
    assert not Invitation.objects.exists() and mailoutbox == [] and actions_since(mark) == []
    full = login(team["alice"]).post(reverse("workspace-invite", args=["roadmap"]), data)
    assert full.status_code == 400 and full.context["invite_form"].errors[field]
    assert not Invitation.objects.exists()


def test_only_managers_invite(team, login, mailoutbox):
    mark = audit_mark()
    response = login(team["bob"]).post(reverse("workspace-invite", args=["roadmap"]), {"email": "x@y.test", "role": "admin"})
    assert response.status_code == 403
    assert not Invitation.objects.exists() and actions_since(mark) == []
    outsider = login(team["carol"])  # a viewer
    assert outsider.post(reverse("workspace-invite", args=["roadmap"]), {"email": "x@y.test", "role": "viewer"}).status_code == 403


def test_withdraw_invitation(team, login, htmx):
    from dock.workspaces.services import invitation_create

    invitation, _ = invitation_create(actor=team["alice"], workspace=team["workspace"], email="dave@initech.test")
    mark = audit_mark()
    response = login(team["alice"]).post(reverse("invitation-revoke", args=["roadmap", invitation.public_id]), **htmx)
    # No longer listed; the note saying it was withdrawn names it.
    assert response.status_code == 200 and '<span class="invite-email">dave@initech.test</span>' not in response.content.decode()
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None
    assert actions_since(mark) == ["workspace.invitation.revoked"]
    assert login(team["bob"]).post(reverse("invitation-revoke", args=["roadmap", invitation.public_id])).status_code == 403


def test_withdrawing_over_htmx_says_so_and_keeps_keyboard_focus(team, login, htmx):
    """The Withdraw pressed is gone with its row: focus fell to the page's body. It goes to
    a note saying what was done."""
    from dock.workspaces.services import invitation_create

    invitation, _ = invitation_create(actor=team["alice"], workspace=team["workspace"], email="dave@initech.test")
    html = login(team["alice"]).post(reverse("invitation-revoke", args=["roadmap", invitation.public_id]), **htmx).content.decode()
    focused = re.findall(r"<[^>]*\bautofocus\b[^>]*>[^<]*", html)
    assert len(focused) == 1
    assert 'role="status"' in focused[0] and focused[0].endswith("Withdrew the invitation to dave@initech.test.")


def test_open_invitations_leave_out_those_whose_sender_may_no_longer_invite(team, make, login):
    """Bob, made admin, invited Dave, then went back to editor: the link no longer works,
    and the list said it was open."""
    from dock.workspaces.services import invitation_create, membership_set_role

    membership = Membership.objects.get(workspace=team["workspace"], principal=team["bob"])
    membership_set_role(actor=team["alice"], membership=membership, role="admin")
    invitation_create(actor=team["bob"], workspace=team["workspace"], email="dave@initech.test")
    invitation_create(actor=team["alice"], workspace=team["workspace"], email="erin@initech.test")
    client = login(team["alice"])
    assert '<span class="invite-email">dave@initech.test</span>' in client.get(_members_url()).content.decode()
    membership_set_role(actor=team["alice"], membership=membership, role="editor")
    html = client.get(_members_url()).content.decode()
    assert '<span class="invite-email">dave@initech.test</span>' not in html and '<span class="invite-email">erin@initech.test</span>' in html


# Roles ---------------------------------------------------------------------------------------


def test_change_role_swaps_the_row_and_narrows_agents_at_once(team, login, htmx):
    mark = audit_mark()
    response = login(team["alice"]).post(reverse("workspace-member-role", args=["roadmap", "bob-baker"]), {"role": "viewer"}, **htmx)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<li class="member" id="member-bob-baker"')
    assert Membership.objects.get(principal=team["bob"]).role == "viewer"
    assert access.check(team["builder"].pk, team["workspace"].pk).names == ["read"]
    assert actions_since(mark) == ["workspace.member.role_changed"]
    assert "HX-Request" in response["Vary"]
    # The select already showed the role chosen: the row says it was saved.
    assert '<p class="flash flash-success" role="status">Bob Baker is now a viewer here.</p>' in html


def test_last_admin_cannot_lower_themselves(team, login, htmx):
    mark = audit_mark()
    response = login(team["alice"]).post(reverse("workspace-member-role", args=["roadmap", "alice-adams"]), {"role": "editor"}, **htmx)
    assert response.status_code == 200
    assert "at least one admin" in response.content.decode()
    assert Membership.objects.get(principal=team["alice"]).role == "admin"
    assert actions_since(mark) == []


def test_bad_role_changes_nothing(team, login):
    client = login(team["alice"])
    mark = audit_mark()
    response = client.post(reverse("workspace-member-role", args=["roadmap", "bob-baker"]), {"role": "owner"})
    assert response.status_code == 302
    assert Membership.objects.get(principal=team["bob"]).role == "editor"
    assert actions_since(mark) == []
    assert client.post(reverse("workspace-member-role", args=["roadmap", "nobody"]), {"role": "viewer"}).status_code == 404
    assert login(team["bob"]).post(reverse("workspace-member-role", args=["roadmap", "carol-chen"]), {"role": "admin"}).status_code == 403


def test_a_service_account_is_never_made_admin(team, login, htmx):
    """Granted viewer or editor when added, and the same when its role changes."""
    handle = team["service"].handle
    mark = audit_mark()
    response = login(team["alice"]).post(reverse("workspace-member-role", args=["roadmap", handle]), {"role": "admin"}, **htmx)
    assert response.status_code == 200 and "never admin" in response.content.decode()
    assert Membership.objects.get(principal=team["service"]).role == "editor"
    assert actions_since(mark) == []
    login(team["alice"]).post(reverse("workspace-member-role", args=["roadmap", handle]), {"role": "viewer"}, **htmx)
    assert Membership.objects.get(principal=team["service"]).role == "viewer"


# Removal and its impact preview ------------------------------------------------------------------


def test_remove_preview_lists_the_agents_that_lose_access(team, login, htmx):
    client = login(team["alice"])
    fragment = client.get(reverse("workspace-member-remove", args=["roadmap", "bob-baker"]), **htmx)
    html = fragment.content.decode()
    assert fragment.status_code == 200 and "<html" not in html
    assert "Builder" in html and "loses read, write, delete" in html and "no access left" in html
    assert 'hx-post="/w/roadmap/members/bob-baker/remove/"' in html
    page = client.get(reverse("workspace-member-remove", args=["roadmap", "bob-baker"]))
    assert "<html" in page.content.decode() and "Builder" in page.content.decode()
    assert "hx-post" not in page.content.decode().split('id="impact-bob-baker"')[1].split("</form>")[0]
    assert [i.agent for i in page.context["impact"]] == [team["builder"]]
    # Previewing changed nothing.
    assert Membership.objects.filter(principal=team["bob"]).exists()


def test_remove_preview_in_org_visible_workspace_says_what_is_kept(make, login, team):
    workspace = team["workspace"]
    Workspace.objects.filter(pk=workspace.pk).update(visibility="org")
    html = login(team["alice"]).get(reverse("workspace-member-remove", args=["roadmap", "bob-baker"])).content.decode()
    assert "keeps only read (org visibility)" in html


def test_remove_member_takes_their_agents_access(team, login, htmx):
    workspace = team["workspace"]
    assert access.check(team["builder"].pk, workspace.pk).visible
    mark = audit_mark()
    response = login(team["alice"]).post(reverse("workspace-member-remove", args=["roadmap", "bob-baker"]), **htmx)
    assert response.status_code == 200
    assert "Removed Bob Baker from Roadmap. One of their agents lost access." in response.content.decode()
    # The list's count follows out of band (it said 3 until a reload): Alice and Carol.
    assert '<span class="count" id="members-count" title="Human members" hx-swap-oob="true">2</span>' in response.content.decode()
    assert not Membership.objects.filter(principal=team["bob"], workspace=workspace).exists()
    assert not access.check(team["builder"].pk, workspace.pk).visible
    assert "workspace.member.removed" in actions_since(mark)


def test_remove_last_admin_is_refused_and_changes_nothing(team, login):
    client = login(team["alice"])
    preview = client.get(reverse("workspace-member-remove", args=["roadmap", "alice-adams"]))
    assert "the only admin here" in preview.content.decode() and preview.context["last_admin"]
    mark = audit_mark()
    response = client.post(reverse("workspace-member-remove", args=["roadmap", "alice-adams"]))
    assert response.status_code == 400 and "at least one admin" in response.content.decode()
    assert Membership.objects.filter(principal=team["alice"]).exists() and actions_since(mark) == []


def test_remove_needs_manage(team, login):
    client = login(team["bob"])
    assert client.get(reverse("workspace-member-remove", args=["roadmap", "carol-chen"])).status_code == 403
    assert client.post(reverse("workspace-member-remove", args=["roadmap", "carol-chen"])).status_code == 403
    assert Membership.objects.filter(principal=team["carol"]).exists()


def test_remove_service_account_grant(team, login):
    response = login(team["alice"]).post(reverse("workspace-member-remove", args=["roadmap", team["service"].handle]))
    assert response.status_code == 302
    assert not Membership.objects.filter(principal=team["service"]).exists()


def test_on_my_own_row_removing_reads_as_leaving(team, login):
    html = login(team["alice"]).get(reverse("workspace-members", args=["roadmap"])).content.decode()
    mine = html[html.index('id="member-alice-adams"'):html.index('id="member-bob-')]
    assert "Leave…" in mine and "Remove…" not in mine
    assert "Remove…" in html[html.index('id="member-bob-'):]


def test_removing_myself_sends_me_home(team, login, htmx):
    from dock.workspaces.services import membership_set_role

    membership_set_role(actor=team["alice"], membership=Membership.objects.get(principal=team["bob"]), role="admin")
    response = login(team["alice"]).post(reverse("workspace-member-remove", args=["roadmap", "alice-adams"]), **htmx)
    assert response.status_code == 200 and response["HX-Redirect"] == reverse("home")
    assert not Membership.objects.filter(principal=team["alice"]).exists()


def test_a_member_who_is_no_admin_can_leave_with_the_same_preview(team, login, htmx):
    """Only admins had Leave…: an editor invited in could not leave a workspace."""
    client = login(team["bob"])
    html = client.get(_members_url()).content.decode()
    mine = html[html.index('id="member-bob-baker"'):html.index('id="member-carol-')]
    assert "Leave…" in mine and "Remove…" not in html  # and nobody else's row has it
    preview = client.get(reverse("workspace-member-remove", args=["roadmap", "bob-baker"]), **htmx).content.decode()
    assert "Remove yourself from Roadmap?" in preview and "Builder" in preview and "You will lose access yourself." in preview
    whole = client.get(reverse("workspace-member-remove", args=["roadmap", "bob-baker"]))  # without JavaScript
    assert whole.status_code == 200 and "<html" in whole.content.decode() and "Remove myself" in whole.content.decode()
    # Nobody else's: an editor removes no one.
    assert client.get(reverse("workspace-member-remove", args=["roadmap", "carol-chen"])).status_code == 403
    assert client.post(reverse("workspace-member-remove", args=["roadmap", "carol-chen"])).status_code == 403
    mark = audit_mark()
    response = client.post(reverse("workspace-member-remove", args=["roadmap", "bob-baker"]), **htmx)
    assert response.status_code == 200 and response["HX-Redirect"] == reverse("home")
    assert not Membership.objects.filter(principal=team["bob"]).exists()
    assert not access.check(team["builder"].pk, team["workspace"].pk).visible
    assert actions_since(mark) == ["workspace.member.removed"]
    assert Membership.objects.filter(principal=team["carol"]).exists()
    from dock.workspaces.services import membership_leave
    from identity.errors import Forbidden

    with pytest.raises(Forbidden):  # the service holds the rule too, whatever calls it
        membership_leave(actor=team["alice"], membership=Membership.objects.get(principal=team["carol"]))


def test_member_row_page_and_fragment(team, login, htmx):
    client = login(team["carol"])
    page = client.get(reverse("workspace-member", args=["roadmap", "alice-adams"]))
    assert page.status_code == 200 and "<html" in page.content.decode() and "Scribe" in page.content.decode()
    fragment = client.get(reverse("workspace-member", args=["roadmap", "alice-adams"]), **htmx)
    assert fragment.content.decode().lstrip().startswith('<li class="member" id="member-alice-adams"')
    assert client.get(reverse("workspace-member", args=["roadmap", "scribe"])).status_code == 404  # agents are not members


# Elevation ----------------------------------------------------------------------------------------


def test_elevate_agent_in_restricted_workspace(team, login, htmx):
    workspace = team["workspace"]
    Workspace.objects.filter(pk=workspace.pk).update(restricted=True)
    client = login(team["alice"])
    html = client.get(_members_url()).content.decode()
    assert "not elevated" in html and "Elevate" in html
    assert not access.check(team["scribe"].pk, workspace.pk).visible
    mark = audit_mark()
    response = client.post(reverse("elevation-grant", args=["roadmap", "scribe"]), **htmx)
    assert response.status_code == 200 and 'id="member-alice-adams"' in response.content.decode()
    assert access.check(team["scribe"].pk, workspace.pk).names == ["read", "comment", "write"]
    assert actions_since(mark) == ["agent.elevated"]
    assert "Remove elevation" in response.content.decode()
    # Twice: a clear message, nothing new.
    again = client.post(reverse("elevation-grant", args=["roadmap", "scribe"]), **htmx)
    assert "already elevated" in again.content.decode() and actions_since(mark) == ["agent.elevated"]
    client.post(reverse("elevation-remove", args=["roadmap", "scribe"]), **htmx)
    assert not access.check(team["scribe"].pk, workspace.pk).visible


def test_elevation_needs_manage_and_an_owner_here(team, login, make):
    Workspace.objects.filter(pk=team["workspace"].pk).update(restricted=True)
    assert login(team["bob"]).post(reverse("elevation-grant", args=["roadmap", "builder"])).status_code == 403
    stranger = make.human(Org.objects.get(slug="acme"))
    stray, _ = make.agent(stranger, "Stray")
    assert login(team["alice"]).post(reverse("elevation-grant", args=["roadmap", stray.handle])).status_code == 404
    assert not Elevation.objects.exists()


def test_role_choices_are_the_workspace_roles():
    assert [value for value, _ in Role.choices] == ["viewer", "editor", "admin"]


def test_inviting_an_address_again_replaces_its_earlier_link(team, login, htmx, client):
    alice = login(team["alice"])
    first = alice.post(reverse("workspace-invite", args=["roadmap"]), {"email": "dave@initech.test", "role": "viewer"}, **htmx)
    first_link = re.search(r'<code id="invite-link">([^<]+)</code>', first.content.decode()).group(1)
    mark = audit_mark()
    second = alice.post(reverse("workspace-invite", args=["roadmap"]), {"email": "DAVE@initech.test", "role": "editor"}, **htmx)
    html = second.content.decode()
    assert "The earlier link to this address no longer works." in html
    assert actions_since(mark) == ["workspace.invitation.revoked", "workspace.invitation.created"]
    open_ones = Invitation.objects.filter(revoked_at__isnull=True)
    assert [(i.email, i.role) for i in open_ones] == [("dave@initech.test", "editor")]
    assert client.get(first_link.split("testserver", 1)[1]).status_code == 410


def test_impact_counts_paused_agents_and_only_elevated_ones_in_restricted_workspaces(team, login):
    from dock.workspaces.services import elevation_grant
    from identity.services.agents import agent_pause

    agent_pause(actor=team["alice"], agent=team["reader"])
    client = login(team["alice"])
    html = client.get(reverse("workspace-member-remove", args=["roadmap", "alice-adams"])).content.decode()
    # Reader is paused: it has nothing to lose now (the heading says "access here", not
    # "loses access at once", which its own line contradicted).
    assert "paused, so none now; once active again, it would have none here" in html
    assert "Your agents' access here, the moment you leave:" in html
    assert "loses read, comment, write — no access left" in html  # Scribe

    Workspace.objects.filter(pk=team["workspace"].pk).update(restricted=True)
    response = client.get(reverse("workspace-member-remove", args=["roadmap", "bob-baker"]))
    assert response.context["impact"] == []  # Builder was never elevated: nothing to lose
    elevation_grant(actor=team["alice"], workspace=team["workspace"], agent=team["builder"])
    response = client.get(reverse("workspace-member-remove", args=["roadmap", "bob-baker"]))
    assert [(i.agent, i.now, i.after) for i in response.context["impact"]] == [(team["builder"], ["read", "write", "delete"], [])]


def test_htmx_refusal_reloads_the_page_with_a_message(team, login, htmx):
    """A stale button (the user lost MANAGE meanwhile): htmx would not swap a 403, so the
    answer asks for a reload and the message shows on the reloaded page."""
    client = login(team["bob"])
    response = client.post(reverse("workspace-member-role", args=["roadmap", "carol-chen"]), {"role": "admin"}, **htmx)
    assert response.status_code == 200 and response["HX-Refresh"] == "true"
    assert Membership.objects.get(principal=team["carol"]).role == "viewer"
    page = client.get(_members_url())
    assert "This needs the manage capability here." in page.content.decode()


def _accepted_invitation(team, make):
    from dock.workspaces.services import invitation_accept, invitation_create

    invitation, token = invitation_create(actor=team["alice"], workspace=team["workspace"], email="dave@acme.test")
    dave = make.human(Org.objects.get(slug="acme"), "Dave Dunn", email="dave@acme.test")
    invitation_accept(actor=dave, token=token)
    return invitation


def test_withdrawing_an_invitation_accepted_meanwhile_does_not_claim_it_was_withdrawn(team, make, login):
    """The page was loaded before Dave accepted: Withdraw says he already has, and nothing else."""
    invitation = _accepted_invitation(team, make)
    mark = audit_mark()
    response = login(team["alice"]).post(reverse("invitation-revoke", args=["roadmap", invitation.public_id]), follow=True)
    said = [str(m) for m in response.context["messages"]]
    assert said == ["dave@acme.test has already accepted this invitation."]
    assert actions_since(mark) == []


def test_withdrawing_an_invitation_accepted_meanwhile_says_so_in_place(team, make, login, htmx):
    invitation = _accepted_invitation(team, make)
    client = login(team["alice"])
    response = client.post(reverse("invitation-revoke", args=["roadmap", invitation.public_id]), **htmx)
    assert response.status_code == 200
    assert "dave@acme.test has already accepted this invitation." in response.content.decode()
    # Said where the button was, not kept for whatever page comes next.
    later = client.get(_members_url())
    assert [str(m) for m in later.context["messages"]] == []


def test_invitations_are_throttled_per_sender_and_per_address(team, login, htmx, monkeypatch, private_cache):
    """Each invitation sends an email: one admin cannot flood inboxes, nor one inbox."""
    from identity import throttle

    monkeypatch.setattr(throttle, "INVITE_SENDER", throttle.Bucket("invite-sender", 4, 3600))
    monkeypatch.setattr(throttle, "INVITE_ADDRESS", throttle.Bucket("invite-address", 2, 3600))
    alice = login(team["alice"])
    url = reverse("workspace-invite", args=["roadmap"])

    def invite(email, **extra):
        return alice.post(url, {"email": email, "role": "viewer"}, **extra)

    assert [invite("dave@initech.test").status_code for _ in range(2)] == [200, 200]
    mark = audit_mark()
    third = invite("DAVE@initech.test")
    assert third.status_code == 429
    assert "You have invited dave@initech.test 2 times in the last hour. Try again in 60 minutes." in third.content.decode()
    assert actions_since(mark) == [] and Invitation.objects.filter(email="dave@initech.test").count() == 2
    # Refused invitations count for nothing: one already a member, then two new addresses.
    assert invite("bob@acme.test").status_code == 400
    assert invite("erin@initech.test").status_code == 200 and invite("fay@initech.test").status_code == 200
    fifth = invite("gus@initech.test", **htmx)
    assert fifth.status_code == 200 and "You have sent 4 invitations in the last hour." in fifth.content.decode()
    assert not Invitation.objects.filter(email="gus@initech.test").exists()
    # Bob, another admin, has his own count.
    Membership.objects.filter(workspace=team["workspace"], principal=team["bob"]).update(role="admin")
    bob = login(team["bob"])
    assert bob.post(url, {"email": "gus@initech.test", "role": "viewer"}).status_code == 200


def test_one_inbox_gets_only_so_many_invitations_from_everyone(team, login, make, monkeypatch, private_cache):
    """Each new account may invite an address a few times: many of them, signed up for it,
    may not flood that inbox together."""
    from identity import throttle

    monkeypatch.setattr(throttle, "INVITE_RECIPIENT", throttle.Bucket("invite-recipient", 3, 3600))
    senders = []
    for n in range(4):
        org = make.org(f"throwaway-{n}")
        owner = make.human(org, f"Owner {n}")
        make.member(make.workspace(org, f"spam-{n}"), owner, "admin")
        senders.append((login(owner), f"spam-{n}"))
    answers = [client.post(reverse("workspace-invite", args=[slug]), {"email": "victim@acme.test", "role": "viewer"})
               for client, slug in senders]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert "victim@acme.test has been sent many invitations in the last hour." in answers[3].content.decode()
    assert Invitation.objects.filter(email="victim@acme.test").count() == 3
    # The refused sender's own counts were given back: another address goes out.
    client, slug = senders[3]
    assert client.post(reverse("workspace-invite", args=[slug]), {"email": "vic@acme.test", "role": "viewer"}).status_code == 200
