"""Reads for the workspace pages. Each takes the acting principal and returns only what it
may see; a workspace it cannot see does not exist for it (NotVisible → 404).

The access decision for a workspace is made once per request (`workspace_get`) and rides
on the workspace object; every other selector re-checks it is for the same principal,
and asks the database again when it is not.
"""

from copy import copy
from dataclasses import dataclass, field

from django.core.paginator import Paginator
from django.db.models import Exists, OuterRef, Prefetch

from identity import access
from identity import capabilities as caps
from identity.errors import Forbidden
from identity.models import Kind, Principal, Status

from .models import ROLE_CAPS, Comment, Document, Elevation, Invitation, Membership, Revision, Role, Visibility, Workspace

MEMBERS_PER_PAGE = 25
DOCUMENTS_PER_PAGE = 30
REVISIONS_SHOWN = 20

_PRINCIPAL_FIELDS = ("author", "author__owner")


def _decision(principal: Principal, workspace: Workspace) -> access.Decision:
    decision = getattr(workspace, "decision", None)
    if decision is None or getattr(workspace, "decision_for", None) != principal.pk:
        decision = access.check(principal.pk, workspace.pk)
        workspace.decision, workspace.decision_for = decision, principal.pk
    if not decision.visible:
        raise access.NotVisible("Not found.")
    return decision


def _require(principal: Principal, workspace: Workspace, capability: int) -> access.Decision:
    decision = _decision(principal, workspace)
    if not decision.allows(capability):
        raise Forbidden(f"This needs the {', '.join(caps.names(capability))} capability here.")
    return decision


# Workspaces ------------------------------------------------------------------------------


def workspace_get(*, principal: Principal, slug: str) -> Workspace:
    """The workspace `slug` with `.decision` (what `principal` may do there) attached."""
    workspace = Workspace.objects.select_related("org").filter(slug=slug).first()
    if workspace is None:
        raise access.NotVisible("Not found.")
    _decision(principal, workspace)
    return workspace


# Documents ---------------------------------------------------------------------------------


def document_page(*, principal: Principal, workspace: Workspace, page: str | int | None):
    _decision(principal, workspace)
    documents = (
        Document.objects.filter(workspace=workspace)
        .select_related("author", "author__owner", "updated_by", "updated_by__owner")
        .defer("body")
        .order_by("-created_at", "-id")
    )
    return Paginator(documents, DOCUMENTS_PER_PAGE).get_page(page)


def document_get(*, principal: Principal, workspace: Workspace, public_id: str) -> Document:
    _decision(principal, workspace)
    document = (
        Document.objects.filter(workspace=workspace, public_id=public_id)
        .select_related("author", "author__owner", "updated_by", "updated_by__owner")
        .first()
    )
    if document is None:
        raise access.NotVisible("Not found.")
    document.workspace = workspace
    return document


def comments_of(*, principal: Principal, document: Document) -> list[Comment]:
    _decision(principal, document.workspace)
    return list(
        Comment.objects.filter(document=document).select_related(*_PRINCIPAL_FIELDS).order_by("created_at", "id")
    )


def revisions_of(*, principal: Principal, document: Document) -> list[Revision]:
    _decision(principal, document.workspace)
    return list(
        Revision.objects.filter(document=document).select_related(*_PRINCIPAL_FIELDS)
        .defer("body").order_by("-number")[:REVISIONS_SHOWN]
    )


# Members -----------------------------------------------------------------------------------


@dataclass
class AgentHere:
    """One of a member's agents, and what it may do in this workspace because of them."""

    agent: Principal
    decision: access.Decision
    elevated: bool
    restricted: bool

    @property
    def caps(self) -> list[str]:
        return self.decision.names

    @property
    def can_elevate(self) -> bool:
        """A restricted workspace keeps the owner's role from carrying over until elevated."""
        return self.restricted and not self.elevated and self.agent.status != Status.REVOKED


@dataclass
class MemberRow:
    membership: Membership
    agents: list[AgentHere] = field(default_factory=list)

    @property
    def principal(self) -> Principal:
        return self.membership.principal

    @property
    def caps(self) -> list[str]:
        return caps.names(ROLE_CAPS[self.membership.role])


def agent_decision(*, agent: Principal, owner_status: str | None, role: str | None, workspace: Workspace, elevated: bool) -> access.Decision:
    """The access rules (identity.access.decide) applied to facts already in memory."""
    return access.decide(
        kind=agent.kind, status=agent.status, scope=agent.scope, org_id=agent.org_id, owner_status=owner_status,
        role=role, workspace_org_id=workspace.org_id, visibility=workspace.visibility,
        restricted=workspace.restricted, elevated=elevated,
    )


def _rows(workspace: Workspace, memberships: list[Membership]) -> list[MemberRow]:
    """Each member with their agents (prefetched, with `elevated_here`) and their decisions."""
    rows = []
    for membership in memberships:
        owner = membership.principal
        row = MemberRow(membership)
        for agent in owner.live_agents:
            agent.owner = owner
            row.agents.append(AgentHere(
                agent, agent_decision(agent=agent, owner_status=owner.status, role=membership.role,
                                      workspace=workspace, elevated=agent.elevated_here),
                agent.elevated_here, workspace.restricted,
            ))
        rows.append(row)
    return rows


def _memberships(workspace: Workspace):
    agents = (
        Principal.objects.filter(kind=Kind.AGENT).exclude(status=Status.REVOKED)
        .annotate(elevated_here=Exists(Elevation.objects.filter(workspace=workspace, agent=OuterRef("pk"))))
        .order_by("display_name", "id")
    )
    return (
        Membership.objects.filter(workspace=workspace)
        .select_related("principal")
        .prefetch_related(Prefetch("principal__agents", queryset=agents, to_attr="live_agents"))
    )


def _human_memberships(workspace: Workspace):
    return _memberships(workspace).filter(principal__kind=Kind.HUMAN)


def member_page(*, principal: Principal, workspace: Workspace, page: str | int | None):
    """Human members (paginated), each with their agents and what those agents get here."""
    _decision(principal, workspace)
    humans = _human_memberships(workspace).order_by("principal__display_name", "principal_id")
    paginator = Paginator(humans, MEMBERS_PER_PAGE)
    page_obj = paginator.get_page(page)
    page_obj.rows = _rows(workspace, list(page_obj.object_list))
    return page_obj


def human_member_count(workspace: Workspace) -> int:
    """What member_page counts: the workspace's human members."""
    return _human_memberships(workspace).count()


def service_grants(*, principal: Principal, workspace: Workspace, limit: int = 100) -> list[Membership]:
    _decision(principal, workspace)
    return list(
        Membership.objects.filter(workspace=workspace, principal__kind=Kind.SERVICE)
        .select_related("principal").order_by("principal__display_name", "principal_id")[:limit]
    )


def member_get(*, principal: Principal, workspace: Workspace, handle: str) -> MemberRow:
    """One member (human or service account) and their agents here."""
    _decision(principal, workspace)
    membership = _memberships(workspace).filter(principal__handle=handle).first()
    if membership is None:
        raise access.NotVisible("Not found.")
    membership.workspace = workspace
    return _rows(workspace, [membership])[0]


def invitations_open(*, principal: Principal, workspace: Workspace) -> list[Invitation]:
    """Open invitations, for those who manage the workspace (nobody else sees them)."""
    if not _decision(principal, workspace).allows(caps.MANAGE):
        return []
    # Only those whose sender may still invite people here (an active admin of it): the
    # others' links no longer work (services.invitation_sender_may_invite).
    sender_invites = Membership.objects.filter(
        workspace=workspace, principal_id=OuterRef("invited_by_id"), role=Role.ADMIN, principal__status=Status.ACTIVE,
    )
    return list(
        Invitation.objects.open().filter(Exists(sender_invites), workspace=workspace)
        .select_related("invited_by", "invited_by__owner")
        .order_by("-created_at", "-id")[:100]
    )


def invitations_open_to(*, principal: Principal, workspace: Workspace, email: str) -> list[Invitation]:
    """Open invitations to one address (a new one replaces them)."""
    _require(principal, workspace, caps.MANAGE)
    return list(Invitation.objects.open().filter(workspace=workspace, email__iexact=(email or "").strip()))


def invitation_sent_again(invitation: Invitation) -> bool:
    """Whether a newer invitation to the same workspace went to the same address, and its
    link still works: the withdrawn one's was then replaced, not taken back."""
    return Invitation.objects.open().filter(
        workspace_id=invitation.workspace_id, email__iexact=invitation.email, id__gt=invitation.id,
    ).exists()


def invitation_get(*, principal: Principal, workspace: Workspace, public_id: str) -> Invitation:
    _require(principal, workspace, caps.MANAGE)
    invitation = Invitation.objects.filter(workspace=workspace, public_id=public_id).first()
    if invitation is None:
        raise access.NotVisible("Not found.")
    invitation.workspace = workspace
    return invitation


@dataclass
class Impact:
    """What removing a member would take away from one of their agents. `now` and `after`
    are what it may do; for a paused or suspended agent, what it could do once active."""

    agent: Principal
    now: list[str]
    after: list[str]
    dormant: bool = False  # not active now: the loss shows when it is resumed or restored

    @property
    def loses_all(self) -> bool:
        return not self.after


def removal_impact(*, principal: Principal, workspace: Workspace, row: MemberRow) -> list[Impact]:
    """The agents that lose access if `row`'s member is removed (computed, not guessed:
    the same rules with the membership gone). A paused agent is listed too: resuming it
    would no longer bring its access back. A member may see their own (to leave)."""
    if row.principal.pk == principal.pk:
        _decision(principal, workspace)
    else:
        _require(principal, workspace, caps.MANAGE)
    return _impact(workspace, row)


def operator_removal_impact(*, workspace: Workspace, membership: Membership) -> list[Impact]:
    """removal_impact for the operator (`manage.py dock member remove`, acting as the
    system, which may manage every workspace): the same computation, the same answer."""
    membership = _memberships(workspace).get(pk=membership.pk)
    return _impact(workspace, _rows(workspace, [membership])[0])


def _impact(workspace: Workspace, row: MemberRow) -> list[Impact]:
    # Leaving also drops the agent's elevations here, so `elevated` goes too.
    return _losses(workspace, [row], role=None, elevated=False)


def _losses(workspace: Workspace, rows: list[MemberRow], /, **changed) -> list[Impact]:
    """The agents in `rows` whose access shrinks when the facts named in `changed` change
    so. A paused or suspended agent is judged as if active: it is listed for what it would
    no longer get back on resuming."""
    impact = []
    for row in rows:
        for here in row.agents:
            agent = here.agent
            dormant = agent.status in (Status.PAUSED, Status.SUSPENDED)
            if dormant:
                agent = Principal(kind=agent.kind, status=Status.ACTIVE, scope=agent.scope, org_id=agent.org_id)
            facts = {"agent": agent, "owner_status": row.principal.status, "role": row.membership.role,
                     "workspace": workspace, "elevated": here.elevated}
            before = agent_decision(**facts)
            after = agent_decision(**(facts | changed))
            if before.caps & ~after.caps:
                impact.append(Impact(here.agent, before.names, after.names, dormant))
    return impact


def _member_rows(workspace: Workspace) -> list[MemberRow]:
    return _rows(workspace, list(_human_memberships(workspace).order_by("principal__display_name", "principal_id")))


def _settings_losses(workspace: Workspace, rows: list[MemberRow], **settings) -> list[Impact]:
    """The agents of `rows` that would lose access if `workspace` had these settings now:
    the same rules, applied with those facts changed."""
    changed = copy(workspace)
    for name, value in settings.items():
        setattr(changed, name, value)
    return _losses(workspace, rows, workspace=changed)


@dataclass
class SettingsImpact:
    """What each setting, changed alone now, would take from the members' agents."""

    restriction: list[Impact]  # restricting: those not elevated keep at most org visibility's read
    visibility: list[Impact]  # members only: in a restricted workspace, the unelevated ones read by org visibility alone


def settings_impact(*, principal: Principal, workspace: Workspace) -> SettingsImpact:
    """The settings page's previews, from one reading of the members and their agents."""
    _require(principal, workspace, caps.MANAGE)
    restricting, members_only = not workspace.restricted, workspace.visibility == Visibility.ORG
    rows = _member_rows(workspace) if restricting or members_only else []
    return SettingsImpact(
        restriction=_settings_losses(workspace, rows, restricted=True) if restricting else [],
        visibility=_settings_losses(workspace, rows, visibility=Visibility.MEMBERS) if members_only else [],
    )


def operator_settings_impact(*, workspace: Workspace, **settings) -> list[Impact]:
    """The agents a change of settings takes access from, for the operator (`manage.py dock
    workspace update`, acting as the system): the same computation as the page's."""
    return _settings_losses(workspace, _member_rows(workspace), **settings)


def elevation_count(*, principal: Principal, workspace: Workspace) -> int:
    """How many agents are elevated here: the elevations lifting the restriction removes."""
    _require(principal, workspace, caps.MANAGE)
    return Elevation.objects.filter(workspace=workspace).count()


def org_readers(*, principal: Principal, workspace: Workspace) -> int:
    """How many active people of the workspace's org read it only through org visibility
    (they are not members): who loses it, with their agents, if it becomes members only."""
    _require(principal, workspace, caps.MANAGE)
    members = Membership.objects.filter(workspace=workspace).values("principal_id")
    return (
        Principal.objects.filter(org_id=workspace.org_id, kind=Kind.HUMAN, status=Status.ACTIVE)
        .exclude(pk__in=members).count()
    )


def is_last_admin(*, principal: Principal, workspace: Workspace, membership: Membership) -> bool:
    """Whether `membership` is the workspace's only active human admin (who cannot leave or
    be lowered: a deactivated admin cannot run the workspace in their place)."""
    _decision(principal, workspace)
    if membership.role != Role.ADMIN or membership.principal.kind != Kind.HUMAN:
        return False
    return not (
        Membership.objects.filter(workspace=workspace, role=Role.ADMIN, principal__kind=Kind.HUMAN, principal__status=Status.ACTIVE)
        .exclude(pk=membership.pk).exists()
    )


def agent_in_workspace(*, principal: Principal, workspace: Workspace, handle: str) -> AgentHere:
    """An agent whose owner is a member here (the only agents a workspace admin elevates)."""
    _require(principal, workspace, caps.MANAGE)
    agent = (
        Principal.objects.filter(kind=Kind.AGENT, handle=handle)
        .select_related("owner", "org").first()
    )
    if agent is None:
        raise access.NotVisible("Not found.")
    membership = Membership.objects.filter(workspace=workspace, principal_id=agent.owner_id).first()
    if membership is None:
        raise access.NotVisible("Not found.")
    elevated = Elevation.objects.filter(workspace=workspace, agent=agent).exists()
    return AgentHere(
        agent, agent_decision(agent=agent, owner_status=agent.owner.status, role=membership.role,
                              workspace=workspace, elevated=elevated),
        elevated, workspace.restricted,
    )
