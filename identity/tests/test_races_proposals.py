"""Deciding proposals under real concurrency, on PostgreSQL.

Every transaction that touches proposals takes its locks in one order: the access rows
(the workspace, memberships, principals), then the document, then proposals (several in id order), and
the audit chain head last. Each test parks one side inside its transaction holding its
proposal, shows the other side waiting on a lock, releases the first and checks what
both left behind: who won, what the loser was told, and an audit log that still verifies.
"""

import pytest
from django.db import transaction

from audit import events
from audit.models import AuditEvent
from audit.selectors import verify_chain
from conftest import Maker
from dock.workspaces import services as ws
from dock.workspaces.models import Document, Proposal, ProposalStatus, Role
from identity import access, consent
from identity.errors import InvalidTransition, NotFound
from identity.services import agents as agent_services
from identity.services import service_accounts as service_services
from identity.services import users as user_services

from . import test_concurrency
from .test_concurrency import Worker, events_of, held_transaction

# The threads, hooks and world of the concurrency tests, shared rather than copied.
world = test_concurrency.world
hold = test_concurrency.hold
private_cache = test_concurrency.private_cache

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def two_deleters(world):
    """Olive's agent and Ada's agent, both with delete, each ask to delete the Roadmap."""
    mine, _ = Maker().agent(world.owner, "Deleter One", scope="read,delete")
    theirs, _ = Maker().agent(world.admin, "Deleter Two", scope="read,delete")
    with transaction.atomic():
        p1 = consent.document_delete_request(actor=mine, document=world.document)
    with transaction.atomic():
        p2 = consent.document_delete_request(actor=theirs, document=world.document)
    return mine, p1, p2


def status_of(proposal) -> str:
    return Proposal.objects.get(pk=proposal.pk).status


def story_of(proposal) -> list[str]:
    """The proposal's audit events, oldest first."""
    return list(AuditEvent.objects.filter(target_id=proposal.public_id).order_by("id").values_list("action", flat=True))


def cancel_reasons(proposal) -> list[str]:
    return [e.details["reason"] for e in events_of(events.PROPOSAL_CANCELLED, target_id=proposal.public_id)]


# Taking the proposer's access away while its proposal is being approved ---------------------------

TAKERS = {
    "membership_remove": (
        lambda w, agent, heir: ws.membership_remove(actor=w.admin, membership=w.membership),
        events.MEMBER_REMOVED,
    ),
    "membership_lowered": (
        lambda w, agent, heir: ws.membership_set_role(actor=w.admin, membership=w.membership, role=Role.VIEWER),
        events.MEMBER_ROLE_CHANGED,
    ),
    "agent_revoke": (
        lambda w, agent, heir: agent_services.agent_revoke(actor=w.owner, agent=agent),
        events.AGENT_REVOKED,
    ),
    "agent_transfer": (
        lambda w, agent, heir: agent_services.agent_transfer(actor=w.admin, agent=agent, new_owner=heir),
        events.AGENT_TRANSFERRED,
    ),
    "user_deactivate": (
        lambda w, agent, heir: user_services.user_deactivate(actor=w.admin, user=w.owner.user),
        events.HUMAN_DEACTIVATED,
    ),
}


@pytest.mark.parametrize(("taker", "decider"), [
    *((taker, "admin") for taker in TAKERS),
    # The owner decides while being removed or deactivated.
    ("membership_remove", "owner"),
    ("user_deactivate", "owner"),
])
def test_access_taken_during_an_approval_waits_for_it_and_cancels_nothing_decided(world, hold, taker, decider):
    agent, p1, p2 = two_deleters(world)
    heir = Maker().human(world.org, "Nina Next", email="nina@acme.test")
    take, taken_event = TAKERS[taker]
    approve_as = world.admin if decider == "admin" else world.owner

    held = hold(ws, "_locked_pending")  # the approval holds the proposal's row
    approver = Worker(f"{decider} approves", lambda: consent.proposal_approve(actor=approve_as, proposal=p1)).begin()
    # It waits on a row the approval's access check share-locked.
    taking = held.then_waiting(taker, lambda: take(world, agent, heir))

    assert approver.outcome().status == ProposalStatus.APPROVED
    taking.outcome()
    assert status_of(p1) == ProposalStatus.APPROVED
    assert story_of(p1) == [events.PROPOSAL_CREATED, events.PROPOSAL_APPROVED]
    assert not Document.objects.filter(pk=world.document.pk).exists()
    assert status_of(p2) == ProposalStatus.CANCELLED
    assert cancel_reasons(p2) == ["document deleted"]
    [deleted] = events_of(events.DOCUMENT_DELETED)
    [taken] = events_of(taken_event)
    assert deleted.id < taken.id  # the approval committed first
    assert verify_chain().ok


# Two proposals on one document, approved at once -------------------------------------------------


def test_second_approval_on_a_document_waits_and_finds_its_proposal_cancelled(world, hold):
    agent, p1, p2 = two_deleters(world)
    held = hold(ws, "_locked_pending")
    first = Worker("olive approves P1", lambda: consent.proposal_approve(actor=world.owner, proposal=p1)).begin()
    second = held.then_waiting("ada approves P2", lambda: consent.proposal_approve(actor=world.admin, proposal=p2))

    assert first.outcome().status == ProposalStatus.APPROVED
    with pytest.raises(InvalidTransition, match="already cancelled"):
        second.outcome()
    assert status_of(p1) == ProposalStatus.APPROVED
    assert status_of(p2) == ProposalStatus.CANCELLED
    assert story_of(p2) == [events.PROPOSAL_CREATED, events.PROPOSAL_CANCELLED]
    [deleted] = events_of(events.DOCUMENT_DELETED)
    assert deleted.details["proposal"] == p1.public_id
    assert not Document.objects.filter(pk=world.document.pk).exists()
    assert verify_chain().ok


# A human deletes the document while a proposal on it is being approved ---------------------------


def test_human_delete_waits_for_an_approval_in_flight_and_is_refused(world, hold):
    agent, p1, p2 = two_deleters(world)
    held = hold(ws, "_locked_pending")
    approver = Worker("olive approves P1", lambda: consent.proposal_approve(actor=world.owner, proposal=p1)).begin()
    deleter = held.then_waiting("ada deletes", lambda: consent.document_delete_request(actor=world.admin, document=world.document))

    assert approver.outcome().status == ProposalStatus.APPROVED
    with pytest.raises(NotFound, match="no longer exists"):
        deleter.outcome()
    assert status_of(p1) == ProposalStatus.APPROVED
    assert status_of(p2) == ProposalStatus.CANCELLED
    assert cancel_reasons(p2) == ["document deleted"]
    [deleted] = events_of(events.DOCUMENT_DELETED)
    assert deleted.details["proposal"] == p1.public_id
    assert verify_chain().ok


def test_approval_waits_for_a_human_delete_in_flight_and_is_refused(world, hold):
    agent, p1, p2 = two_deleters(world)
    held = hold(ws, "proposals_cancel")  # the delete holds the document and the proposals on it
    deleter = Worker("ada deletes", lambda: consent.document_delete_request(actor=world.admin, document=world.document)).begin()
    approver = held.then_waiting("olive approves P1", lambda: consent.proposal_approve(actor=world.owner, proposal=p1))

    assert deleter.outcome() is None
    with pytest.raises(InvalidTransition, match="already cancelled"):
        approver.outcome()
    assert status_of(p1) == ProposalStatus.CANCELLED
    assert status_of(p2) == ProposalStatus.CANCELLED
    [deleted] = events_of(events.DOCUMENT_DELETED)
    assert "proposal" not in deleted.details
    assert story_of(p1) == [events.PROPOSAL_CREATED, events.PROPOSAL_CANCELLED]
    assert verify_chain().ok


def test_human_delete_waits_for_a_cascade_cancelling_the_proposals_on_it(world, hold):
    agent, p1, p2 = two_deleters(world)
    held = hold(ws, "proposals_cancel")  # the removal holds Olive's agent's proposal, not yet the chain head
    remover = Worker("ada removes olive", lambda: ws.membership_remove(actor=world.admin, membership=world.membership)).begin()
    deleter = held.then_waiting("ada deletes", lambda: consent.document_delete_request(actor=world.admin, document=world.document))

    remover.outcome()
    assert deleter.outcome() is None
    assert cancel_reasons(p1) == ["owner left the workspace"]
    assert cancel_reasons(p2) == ["document deleted"]
    assert not Document.objects.filter(pk=world.document.pk).exists()
    assert verify_chain().ok


# A rejection committing while a cascade cancels the same proposal --------------------------------


def test_removal_waiting_on_a_rejection_leaves_it_rejected(world, hold):
    agent, p1, p2 = two_deleters(world)
    held = hold(ws, "_locked_pending")
    rejecter = Worker("olive rejects P1", lambda: consent.proposal_reject(actor=world.owner, proposal=p1)).begin()
    remover = held.then_waiting("ada removes olive", lambda: ws.membership_remove(actor=world.admin, membership=world.membership))

    assert rejecter.outcome().status == ProposalStatus.REJECTED
    remover.outcome()
    assert status_of(p1) == ProposalStatus.REJECTED
    assert story_of(p1) == [events.PROPOSAL_CREATED, events.PROPOSAL_REJECTED]
    assert status_of(p2) == ProposalStatus.PENDING  # Ada's agent's: Ada stays
    assert len(events_of(events.MEMBER_REMOVED)) == 1
    assert verify_chain().ok


# Taking a service account's access away while its proposal is being approved ------------------

SERVICE_TAKERS = {
    "service_revoke": (lambda w, svc, grant: service_services.service_revoke(actor=w.admin, service=svc), events.SERVICE_REVOKED),
    "grant_remove": (lambda w, svc, grant: ws.membership_remove(actor=w.admin, membership=grant), events.MEMBER_REMOVED),
    "grant_lowered": (lambda w, svc, grant: ws.membership_set_role(actor=w.admin, membership=grant, role=Role.VIEWER),
                      events.MEMBER_ROLE_CHANGED),
    "service_adopt": (lambda w, svc, grant: service_services.service_adopt(actor=w.admin, service=svc, owner=w.owner, issue_key=False),
                      events.SERVICE_ADOPTED),
}


@pytest.mark.parametrize("taker", list(SERVICE_TAKERS))
def test_service_access_taken_during_an_approval_waits_for_it_and_cancels_nothing_decided(world, hold, taker):
    """The cancellation of a service account's proposals takes the proposal rows after the
    account's (or its grant's) and the audit head last, as an approval does: no deadlock,
    and a decision that committed first stays as it was."""
    service, _ = Maker().service(world.org, "Sweeper")
    grant = Maker().member(world.space, service, "editor")
    second = Maker().document(world.space, world.admin, title="Second")
    with transaction.atomic():
        p1 = consent.document_delete_request(actor=service, document=world.document)
    with transaction.atomic():
        p2 = consent.document_delete_request(actor=service, document=second)
    take, taken_event = SERVICE_TAKERS[taker]

    held = hold(ws, "_locked_pending")
    approver = Worker("admin approves", lambda: consent.proposal_approve(actor=world.admin, proposal=p1)).begin()
    taking = held.then_waiting(taker, lambda: take(world, service, grant))

    assert approver.outcome().status == ProposalStatus.APPROVED
    taking.outcome()
    assert status_of(p1) == ProposalStatus.APPROVED
    assert story_of(p1) == [events.PROPOSAL_CREATED, events.PROPOSAL_APPROVED]
    assert status_of(p2) == ProposalStatus.CANCELLED
    [deleted] = events_of(events.DOCUMENT_DELETED)
    [taken] = events_of(taken_event)
    assert deleted.id < taken.id
    assert verify_chain().ok


# An elevation taken back while the elevated agent's proposal is being decided -----------------


def _elevated_proposal():
    """A restricted workspace where Olive's agent, elevated, asks to delete a document."""
    make = Maker()
    org = make.org(slug="vaultco")
    admin = make.human(org, "Vera Admin", email="vera@vaultco.test")
    owner = make.human(org, "Omar Owner", email="omar@vaultco.test")
    space = make.workspace(org, "vault", restricted=True)
    make.member(space, admin, "admin")
    make.member(space, owner, "editor")
    agent, _ = make.agent(owner, "Vaulter", scope="read,delete")
    ws.elevation_grant(actor=admin, workspace=space, agent=agent)
    document = make.document(space, owner, title="Vault plan")
    with transaction.atomic():
        proposal = consent.document_delete_request(actor=agent, document=document)
    return admin, space, agent, document, proposal


def test_an_elevation_removed_during_an_approval_waits_and_cancels_nothing_decided(hold):
    admin, space, agent, document, proposal = _elevated_proposal()
    held = hold(ws, "_locked_pending")  # the approval holds the proposal's row, the elevation share-locked
    approver = Worker("vera approves", lambda: consent.proposal_approve(actor=admin, proposal=proposal)).begin()
    remover = held.then_waiting(
        "vera removes the elevation", lambda: ws.elevation_remove(actor=admin, workspace=space, agent=agent)
    )

    assert approver.outcome().status == ProposalStatus.APPROVED
    assert remover.outcome() == 1
    assert status_of(proposal) == ProposalStatus.APPROVED
    assert story_of(proposal) == [events.PROPOSAL_CREATED, events.PROPOSAL_APPROVED]
    assert not Document.objects.filter(pk=document.pk).exists()
    [deleted] = events_of(events.DOCUMENT_DELETED)
    [removed] = events_of(events.AGENT_ELEVATION_REMOVED)
    assert deleted.id < removed.id
    assert verify_chain().ok


def test_an_approval_waits_for_an_elevation_removal_and_finds_the_proposal_cancelled(hold):
    admin, space, agent, document, proposal = _elevated_proposal()
    held = hold(ws, "elevations_remove")  # the elevation's row deleted, still locked
    remover = Worker("vera removes the elevation", lambda: ws.elevation_remove(actor=admin, workspace=space, agent=agent)).begin()
    approver = held.then_waiting("vera approves", lambda: consent.proposal_approve(actor=admin, proposal=proposal))

    assert remover.outcome() == 1
    with pytest.raises(InvalidTransition):
        approver.outcome()
    assert status_of(proposal) == ProposalStatus.CANCELLED
    assert cancel_reasons(proposal) == ["elevation removed"]
    assert Document.objects.filter(pk=document.pk).exists()
    assert verify_chain().ok


# A workspace restricted while an agent asks to delete there ------------------------------------


def _unrestricted_world():
    """Omar (editor) owns an unelevated agent with delete, in a workspace not yet restricted."""
    make = Maker()
    org = make.org(slug="vaultco")
    admin = make.human(org, "Vera Admin", email="vera@vaultco.test")
    owner = make.human(org, "Omar Owner", email="omar@vaultco.test")
    space = make.workspace(org, "vault")
    make.member(space, admin, "admin")
    make.member(space, owner, "editor")
    agent, _ = make.agent(owner, "Vaulter", scope="read,delete")
    document = make.document(space, owner, title="Vault plan")
    return admin, space, agent, document


def test_a_restriction_waits_for_a_delete_request_in_flight_and_cancels_it(hold):
    """The request took its access locks (the workspace among them) before the
    restriction: the restriction waits, then finds the proposal and cancels it. Before the
    workspace was locked, the proposal committed after the cancelling, pending."""
    admin, space, agent, document = _unrestricted_world()
    held = hold(access, "require")  # parked after the access check, before the proposal is written
    requester = Worker("the agent asks", lambda: consent.document_delete_request(actor=agent, document=document)).begin()
    restricter = held.then_waiting(
        "vera restricts", lambda: ws.workspace_update(actor=admin, workspace=space, restricted=True)
    )

    proposal = requester.outcome()
    assert restricter.outcome().proposals_cancelled == 1
    assert status_of(proposal) == ProposalStatus.CANCELLED
    assert cancel_reasons(proposal) == ["workspace restricted"]
    assert story_of(proposal) == [events.PROPOSAL_CREATED, events.PROPOSAL_CANCELLED]
    assert verify_chain().ok


def test_a_delete_request_waits_for_a_restriction_in_flight_and_is_refused():
    admin, space, agent, document = _unrestricted_world()
    held, run = held_transaction(lambda: ws.workspace_update(actor=admin, workspace=space, restricted=True))
    restricter = Worker("vera restricts", run).begin()
    requester = held.then_waiting("the agent asks", lambda: consent.document_delete_request(actor=agent, document=document))

    assert restricter.outcome().proposals_cancelled == 0
    with pytest.raises(access.NotVisible):  # members only, and the agent is not elevated
        requester.outcome()
    assert not Proposal.objects.filter(proposer=agent).exists()
    assert Document.objects.filter(pk=document.pk).exists()
    assert verify_chain().ok
