"""The consent gate: irreversible operations asked for by a non-human become proposals
that a human (the owner or a workspace admin) or a second, independently owned agent
with `delete` decides."""

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from dock.workspaces import services as workspace_services
from dock.workspaces.models import Document, Proposal, ProposalStatus

from . import access
from . import capabilities as caps
from .errors import Forbidden, ProposalExpired
from .models import Kind, Principal, Status


def document_delete_request(*, actor: Principal, document: Document, checked: access.Decision | None = None) -> Proposal | None:
    """A human's delete runs now; an agent's (or service account's) becomes a proposal.
    Either way the actor must hold `delete` in the workspace, checked in the same
    transaction as the write: here, unless the caller passes the decision (`checked`) of
    its own `access.require(actor, document.workspace, DELETE, lock=True)`, made in the
    transaction this joins (the API does, to lock the key after the access rows)."""
    with transaction.atomic():
        if checked is None:
            access.require(actor, document.workspace, caps.DELETE, lock=True)
        elif not checked.allows(caps.DELETE):
            raise Forbidden("This needs the delete capability here.")
        if actor.kind == Kind.HUMAN:
            workspace_services.document_delete(actor=actor, document=document)
            return None
        return workspace_services.proposal_create(actor=actor, document=document)


# What an agent needs in the workspace to decide another's proposal: delete, and read, to
# look at what approving deletes.
DECIDING = caps.READ | caps.DELETE


def may_decide(actor, proposal: Proposal) -> bool:
    """Called inside the decision's transaction: the decider's access is read with its
    rows locked (as the proposer's is), so a role lowered at the same moment either
    commits first and refuses, or waits for the decision."""
    if not isinstance(actor, Principal):
        return True  # the operator (CLI as the system)
    if actor.status != Status.ACTIVE or actor.pk == proposal.proposer_id:
        return False
    proposer = proposal.proposer
    if actor.kind == Kind.HUMAN:
        # The owner's row is share-locked too, and its status read again: the decision
        # names its decider, and the check of that reference at commit would otherwise
        # wait on a deactivation of the owner that holds the owner's row while it waits
        # for the agent's, which this decision has share-locked. Now the deactivation
        # waits for the decision, or commits first and the owner may no longer decide.
        decision = access.check(actor.pk, proposal.workspace_id, lock=True)
        if proposer.owner_id == actor.pk:
            return decision.rule != access.INACTIVE
        return decision.allows(caps.MANAGE)
    if actor.kind == Kind.AGENT:
        if actor.owner_id == proposer.owner_id:
            return False  # a second agent must be owned by someone else
        return access.check(actor.pk, proposal.workspace_id, lock=True).allows(DECIDING)
    return False


def _decide(*, actor, proposal: Proposal, approve: bool) -> Proposal:
    try:
        with transaction.atomic():
            if not may_decide(actor, proposal):
                raise Forbidden("You cannot decide this proposal.")
            if approve:
                return workspace_services.proposal_approve(actor=actor, proposal=proposal)
            return workspace_services.proposal_reject(actor=actor, proposal=proposal)
    except ProposalExpired:
        # Refused, and the decision rolled back; the expiry is stored on its own. (A caller
        # whose own transaction the refusal rolls back stores it again afterwards.)
        workspace_services.proposal_expire_if_due(proposal)
        raise


def proposal_approve(*, actor, proposal: Proposal) -> Proposal:
    return _decide(actor=actor, proposal=proposal, approve=True)


def proposal_reject(*, actor, proposal: Proposal) -> Proposal:
    return _decide(actor=actor, proposal=proposal, approve=False)


def proposals_for(actor: Principal, *, pending_only: bool = False):
    """Proposals the actor made (a human: their agents made), or may decide. An agent
    made its own under its present owner only (Proposal.owner): one transferred, or a
    service account adopted, keeps what it asked for before, where its new owner, who now
    holds its key, may never have been."""
    qs = Proposal.objects.select_related("workspace", "workspace__org", "proposer", "proposer__owner", "decided_by", "document").defer("document__body")
    if actor.kind == Kind.AGENT:
        visible = access.visible_workspaces(actor)
        mine = Q(proposer=actor, owner_id=actor.owner_id)
        decidable = [w.pk for w in visible if w.caps & DECIDING == DECIDING]
        mine_or_decidable = mine | (Q(workspace__in=decidable) & ~Q(proposer__owner_id=actor.owner_id))
    elif actor.kind == Kind.HUMAN:
        admin_of = [w.pk for w in access.visible_workspaces(actor) if w.caps & caps.MANAGE]
        mine_or_decidable = Q(owner=actor) | Q(workspace__in=admin_of)
    else:
        mine_or_decidable = Q(proposer=actor, owner__isnull=True)
    qs = qs.filter(mine_or_decidable)
    if pending_only:
        qs = qs.filter(status=ProposalStatus.PENDING, expires_at__gt=timezone.now())
    return qs.order_by("-created_at", "-id")
