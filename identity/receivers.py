"""Cascades: how principals answer workspace and identity changes.

Each receiver runs inside the sender's transaction; if it raises, the sender's whole
change (and its audit events) rolls back. Those that lock several kinds of row lock them
in one order: invitations, then elevations, then proposals. Two cascades on the same
person (removed from a workspace while being deactivated) otherwise each held what the
other waited for.
"""

from audit import events
from audit.services import record
from dock.workspaces import services as workspace_services
from dock.workspaces.models import ROLE_CAPS, Elevation, Invitation, Membership, Proposal
from dock.workspaces.signals import membership_removed, membership_role_changed

from .models import Kind, Principal
from .services.agents import agent_suspend
from .services.keys import keys_revoke_all
from .signals import (
    agent_revoked,
    agent_transferred,
    principal_deactivated,
    principal_deleting,
    service_adopted,
    service_revoked,
)


def _agents_of(owner_id: int):
    return Principal.objects.filter(owner_id=owner_id, kind=Kind.AGENT)


def owner_left_workspace(sender, *, membership: Membership, actor, **kwargs):
    """The owner is leaving: the invitations they sent there are withdrawn, their agents'
    elevations there go, their proposals there are cancelled. Their access needs no
    cleanup: it is computed from the membership. A service account's grant is its own
    access: what it asked for there is cancelled."""
    if membership.principal.kind == Kind.SERVICE:
        workspace_services.proposals_cancel(
            actor=actor,
            proposals=Proposal.objects.filter(workspace=membership.workspace, proposer=membership.principal),
            reason="grant removed",
        )
        return
    if membership.principal.kind != Kind.HUMAN:
        return
    workspace_services.invitations_withdraw(
        actor=actor, invitations=Invitation.objects.filter(workspace=membership.workspace, invited_by=membership.principal),
        reason="sender left the workspace",
    )
    agents = _agents_of(membership.principal_id)
    workspace_services.elevations_remove(actor=actor, workspace=membership.workspace, agents=agents, reason="owner left the workspace")
    workspace_services.proposals_cancel(
        actor=actor,
        proposals=Proposal.objects.filter(workspace=membership.workspace, proposer__in=agents),
        reason="owner left the workspace",
    )


def owner_role_changed(sender, *, membership: Membership, old_role: str, actor, **kwargs):
    """A lowered role narrows the agents at once (computed); proposals that needed more go.
    A service account's lowered grant does the same to its own proposals."""
    if membership.principal.kind not in (Kind.HUMAN, Kind.SERVICE):
        return
    lost = ROLE_CAPS[old_role] & ~ROLE_CAPS[membership.role]
    if not lost:
        return
    from . import capabilities

    if lost & capabilities.MANAGE:
        workspace_services.invitations_withdraw(
            actor=actor,
            invitations=Invitation.objects.filter(workspace=membership.workspace, invited_by=membership.principal),
            reason="sender is no longer an admin here",
        )
    if lost & capabilities.DELETE:
        if membership.principal.kind == Kind.SERVICE:
            proposers, reason = [membership.principal], "grant no longer allows it"
        else:
            proposers, reason = _agents_of(membership.principal_id), "owner's role no longer allows it"
        workspace_services.proposals_cancel(
            actor=actor,
            proposals=Proposal.objects.filter(workspace=membership.workspace, proposer__in=proposers),
            reason=reason,
        )


def owner_deactivated(sender, *, principal: Principal, actor, **kwargs):
    """Every agent of a deactivated human is suspended and every key of theirs revoked;
    the invitations they sent are withdrawn."""
    for agent in _agents_of(principal.pk).select_related("org", "owner").order_by("id"):
        agent = agent_suspend(actor=actor, agent=agent, reason="owner deactivated", owner=principal)
        if agent.owner_id != principal.pk:
            continue  # transferred while this ran: its new owner's now, keys and all
        keys_revoke_all(actor=actor, principal=agent, reason="owner deactivated")
    workspace_services.invitations_withdraw(
        actor=actor, invitations=Invitation.objects.filter(invited_by=principal), reason="sender deactivated"
    )
    workspace_services.proposals_cancel(
        actor=actor, proposals=Proposal.objects.filter(proposer__owner=principal), reason="owner deactivated"
    )


def owner_deleting(sender, *, principal: Principal, actor, **kwargs):
    """The database cascade deletes the agents; the audit log keeps their story. The
    invitations they sent are withdrawn."""
    for agent in _agents_of(principal.pk).select_related("org", "owner"):
        record(events.AGENT_DELETED, actor=actor, target=agent, details={"owner": principal.public_id})
    workspace_services.invitations_withdraw(
        actor=actor, invitations=Invitation.objects.filter(invited_by=principal), reason="sender deleted"
    )


def agent_changed_owner(sender, *, agent: Principal, previous_owner: Principal, actor, **kwargs):
    """Elevations and pending proposals were made under the previous owner's accountability."""
    for elevation in Elevation.objects.filter(agent=agent).select_related("workspace", "workspace__org"):
        workspace_services.elevations_remove(actor=actor, workspace=elevation.workspace, agents=[agent], reason="agent transferred")
    workspace_services.proposals_cancel(actor=actor, proposals=Proposal.objects.filter(proposer=agent), reason="agent transferred")


def agent_gone(sender, *, agent: Principal, actor, **kwargs):
    workspace_services.proposals_cancel(actor=actor, proposals=Proposal.objects.filter(proposer=agent), reason="agent revoked")


def service_gone(sender, *, service: Principal, actor, **kwargs):
    """A revoked service account can never run what it asked for."""
    workspace_services.proposals_cancel(
        actor=actor, proposals=Proposal.objects.filter(proposer=service), reason="service account revoked"
    )


def service_became_agent(sender, *, principal: Principal, actor, **kwargs):
    """Adoption drops explicit grants in favour of inheritance from the new owner. What the
    account asked for rested on those grants, with no person behind it: cancelled, as a
    transfer cancels an agent's, rather than left for the new owner to answer for."""
    for grant in Membership.objects.filter(principal=principal).select_related("workspace", "workspace__org", "principal"):
        record(events.MEMBER_REMOVED, actor=actor, target=principal, workspace=grant.workspace,
               details={"role": grant.role, "reason": "service account adopted as agent"})
    Membership.objects.filter(principal=principal).delete()
    workspace_services.proposals_cancel(
        actor=actor, proposals=Proposal.objects.filter(proposer=principal), reason="service account adopted as agent"
    )


def connect():
    membership_removed.connect(owner_left_workspace, dispatch_uid="identity.owner_left_workspace")
    membership_role_changed.connect(owner_role_changed, dispatch_uid="identity.owner_role_changed")
    principal_deactivated.connect(owner_deactivated, dispatch_uid="identity.owner_deactivated")
    principal_deleting.connect(owner_deleting, dispatch_uid="identity.owner_deleting")
    agent_transferred.connect(agent_changed_owner, dispatch_uid="identity.agent_changed_owner")
    agent_revoked.connect(agent_gone, dispatch_uid="identity.agent_gone")
    service_adopted.connect(service_became_agent, dispatch_uid="identity.service_became_agent")
    service_revoked.connect(service_gone, dispatch_uid="identity.service_gone")
