"""A guest from another org in a workspace, and the lifecycle edges around their work
there: who stays able to run the workspace, and what their agent's requests become."""

import pytest
from django.urls import reverse

from audit.refs import SYSTEM
from conftest import actions_since, audit_mark
from dock.workspaces import services as ws
from dock.workspaces.models import Membership, Proposal, Role
from identity import access, consent
from identity.services.users import user_deactivate

pytestmark = pytest.mark.django_db


@pytest.fixture
def guests(make):
    """Initech's workspace Ops: Ivy (Initech, admin) and Irene (Initech, editor); Chen of
    Acme, a guest admin, with ChenBot (read … delete)."""
    initech, acme = make.org("initech", "Initech"), make.org("acme", "Acme")
    ivy = make.human(initech, "Ivy Admin", email="ivy@initech.test", role="owner")
    irene = make.human(initech, "Irene Member", email="irene@initech.test")
    chen = make.human(acme, "Chen Wei", email="chen@acme.test")
    ops = make.workspace(initech, "ops", name="Ops")
    make.member(ops, ivy, "admin")
    make.member(ops, irene, "editor")
    make.member(ops, chen, "admin")
    chenbot, _ = make.agent(chen, "ChenBot", scope="read,comment,write,delete")
    return {"ops": ops, "ivy": ivy, "irene": irene, "chen": chen, "chenbot": chenbot}


# A workspace keeps someone able to run it ----------------------------------------------------


def test_the_last_active_admin_cannot_leave_while_the_other_admin_is_deactivated(guests, login):
    """Chen's org deactivated him: he is still an admin of Ops on paper, but nobody can act
    as him. Ivy leaving would leave Initech's workspace with no one who can invite, remove
    or decide, and nobody at Initech could get back in."""
    user_deactivate(actor=SYSTEM, user=guests["chen"].user)
    client = login(guests["ivy"])
    preview = client.get(reverse("workspace-member-remove", args=["ops", "ivy-admin"]))
    assert preview.context["last_admin"]
    assert "the only admin here" in preview.content.decode()
    mark = audit_mark()
    response = client.post(reverse("workspace-member-remove", args=["ops", "ivy-admin"]))
    assert response.status_code == 400 and "at least one admin" in response.content.decode()
    assert Membership.objects.filter(workspace=guests["ops"], principal=guests["ivy"], role=Role.ADMIN).exists()
    assert actions_since(mark) == []


def test_the_last_active_admin_cannot_lower_themselves_while_the_other_admin_is_deactivated(guests, login, htmx):
    user_deactivate(actor=SYSTEM, user=guests["chen"].user)
    mark = audit_mark()
    response = login(guests["ivy"]).post(
        reverse("workspace-member-role", args=["ops", "ivy-admin"]), {"role": "editor"}, **htmx
    )
    assert "at least one admin" in response.content.decode()
    assert Membership.objects.get(workspace=guests["ops"], principal=guests["ivy"]).role == Role.ADMIN
    assert actions_since(mark) == []


def test_a_deactivated_admin_can_still_be_removed_by_an_active_one(guests, login):
    user_deactivate(actor=SYSTEM, user=guests["chen"].user)
    client = login(guests["ivy"])
    assert not client.get(reverse("workspace-member-remove", args=["ops", "chen-wei"])).context["last_admin"]
    response = client.post(reverse("workspace-member-remove", args=["ops", "chen-wei"]))
    assert response.status_code == 302
    assert not Membership.objects.filter(workspace=guests["ops"], principal=guests["chen"]).exists()


# Elevation removed: what the agent asked for there goes with it -------------------------------


@pytest.fixture
def vault(guests, make):
    """A restricted workspace of Initech where ChenBot is elevated and has asked to delete
    a document."""
    vault = make.workspace(guests["ops"].org, "vault", name="Vault", restricted=True)
    make.member(vault, guests["ivy"], "admin")
    make.member(vault, guests["chen"], "editor")
    ws.elevation_grant(actor=guests["ivy"], workspace=vault, agent=guests["chenbot"])
    document = make.document(vault, guests["chenbot"], title="Old plan")
    proposal = consent.document_delete_request(actor=guests["chenbot"], document=document)
    return {"vault": vault, "document": document, "proposal": proposal}


def test_removing_an_elevation_cancels_the_agents_pending_requests_there(guests, vault, login, htmx):
    """Without the elevation ChenBot can no longer delete in the Vault: its request was
    left pending, offered to Ivy with an Approve that could only refuse, until it expired.
    Lowering or removing the owner cancels such requests; so does this."""
    mark = audit_mark()
    response = login(guests["ivy"]).post(reverse("elevation-remove", args=["vault", "chenbot"]), **htmx)
    assert response.status_code == 200
    assert not access.check(guests["chenbot"].pk, vault["vault"].pk).visible
    proposal = Proposal.objects.get(pk=vault["proposal"].pk)
    assert proposal.status == "cancelled" and proposal.cancelled_because == "elevation removed"
    assert actions_since(mark) == ["agent.elevation_removed", "proposal.cancelled"]
    assert "Old plan" not in login(guests["ivy"]).get(reverse("proposals")).content.decode()


def test_removing_an_elevation_leaves_requests_elsewhere_alone(guests, vault, make, login, htmx):
    document = make.document(guests["ops"], guests["chenbot"], title="Ops note")
    elsewhere = consent.document_delete_request(actor=guests["chenbot"], document=document)
    login(guests["ivy"]).post(reverse("elevation-remove", args=["vault", "chenbot"]), **htmx)
    assert Proposal.objects.get(pk=elsewhere.pk).status == "pending"


# Invitations are named by a public id --------------------------------------------------------


def test_an_invitation_is_named_by_its_public_id_in_the_audit_log_and_its_withdraw_link(guests, login, htmx):
    """The audit rows of an invitation named it by its database key (9, 10, 11 …), which
    both orgs' auditors export and which counts every org's invitations; every other row
    names what it is about by a public id."""
    from audit.models import AuditEvent

    client = login(guests["ivy"])
    client.post(reverse("workspace-invite", args=["ops"]), {"email": "gus@globex.test", "role": "viewer"}, **htmx)
    invitation = guests["ops"].invitations.get(email="gus@globex.test")
    assert invitation.public_id.startswith("inv_")
    [created] = AuditEvent.objects.filter(action="workspace.invitation.created", target_name="gus@globex.test")
    assert created.target_id == invitation.public_id
    html = client.get(reverse("workspace-members", args=["ops"])).content.decode()
    withdraw = reverse("invitation-revoke", args=["ops", invitation.public_id])
    assert f'action="{withdraw}"' in html
    client.post(withdraw, **htmx)
    [revoked] = AuditEvent.objects.filter(action="workspace.invitation.revoked")
    assert revoked.target_id == invitation.public_id


# A paused proposer: who can resume it ------------------------------------------------------------


def test_approving_a_paused_guests_request_names_who_can_resume_it(guests, make, login, htmx):
    """ChenBot (Acme) is paused by its owner. Ivy (Initech) administers the workspace but can
    never resume another org's agent: she was told to "resume it first", a step she has no
    control for. She is told who can, and that she may reject it meanwhile; its owner is
    still told to resume it."""
    from identity.services.agents import agent_pause

    document = make.document(guests["ops"], guests["chenbot"], title="Draft")
    proposal = consent.document_delete_request(actor=guests["chenbot"], document=document)
    agent_pause(actor=guests["chen"], agent=guests["chenbot"])
    mark = audit_mark()
    body = login(guests["ivy"]).post(reverse("proposal-approve", args=[proposal.public_id]), **htmx).content.decode()
    assert "ChenBot is paused, so this proposal cannot run now: its owner, Chen Wei, can resume it; or reject the proposal." in body
    assert "resume it first" not in body
    body = login(guests["chen"]).post(reverse("proposal-approve", args=[proposal.public_id]), **htmx).content.decode()
    assert "ChenBot is paused, so this proposal cannot run now: resume it first, or reject the proposal." in body
    assert Proposal.objects.get(pk=proposal.pk).status == "pending" and actions_since(mark) == []


# Leaving -----------------------------------------------------------------------------------------


def test_leaving_says_you_left_not_that_you_were_removed(guests, login):
    """Chen leaves Initech's workspace from his own row. The dashboard greeted him with
    "Removed Chen Wei from Ops. One of their agents lost access.", as if someone else had
    done it to someone else."""
    response = login(guests["chen"]).post(reverse("workspace-member-remove", args=["ops", "chen-wei"]), follow=True)
    said = [str(m) for m in response.context["messages"]]
    assert said == ["You left Ops. One of your agents lost access."]
    assert not Membership.objects.filter(workspace=guests["ops"], principal=guests["chen"]).exists()
