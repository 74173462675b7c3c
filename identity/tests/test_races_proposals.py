"""Deciding proposals under real concurrency, on PostgreSQL.

Every transaction that touches proposals takes its locks in one order: the access rows
(principals, memberships), then the document, then proposals (several in id order), and
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
from dock.workspaces.models import Proposal, ProposalStatus
from identity import consent

from . import test_concurrency
from .test_concurrency import Worker, events_of, wait_until_blocked

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


# A rejection committing while a cascade cancels the same proposal --------------------------------


def test_removal_waiting_on_a_rejection_leaves_it_rejected(world, hold):
    agent, p1, p2 = two_deleters(world)
    held = hold(ws, "_locked_pending")
    rejecter = Worker("olive rejects P1", lambda: consent.proposal_reject(actor=world.owner, proposal=p1)).begin()
    held.wait_reached()
    remover = Worker("ada removes olive", lambda: ws.membership_remove(actor=world.admin, membership=world.membership)).begin()
    wait_until_blocked(remover)
    held.release.set()

    assert rejecter.outcome().status == ProposalStatus.REJECTED
    remover.outcome()
    assert status_of(p1) == ProposalStatus.REJECTED
    assert story_of(p1) == [events.PROPOSAL_CREATED, events.PROPOSAL_REJECTED]
    assert status_of(p2) == ProposalStatus.PENDING  # Ada's agent's: Ada stays
    assert len(events_of(events.MEMBER_REMOVED)) == 1
    assert verify_chain().ok
