"""Reads for the dashboard's identity pages. Each takes the viewing principal and returns
only what it may see; a principal it may not see is None (the view answers 404)."""

from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef, Prefetch
from django.utils import timezone

from audit import events as audit_events
from audit import selectors as audit_selectors
from audit.charts import principal_activity_chart
from audit.models import AuditEvent
from dock.workspaces.models import Membership, Proposal, ProposalStatus

from . import access, consent
from .models import ApiKey, Kind, Principal, Status, User
from .services.agents import may_manage_agent

WITH_FACES = ("org", "owner")


def principal_by_email(email: str) -> Principal | None:
    """For the audit trail of a failed log-in only: never shown to the person trying."""
    user = User.objects.filter(email=email).select_related("principal__org").first()
    return user.principal if user else None


# People --------------------------------------------------------------------------------


def org_people(viewer: Principal, *, kind: str | None = None):
    """Everyone in the viewer's org, by name; `kind` narrows to humans, agents or services."""
    qs = Principal.objects.filter(org_id=viewer.org_id).select_related(*WITH_FACES)
    if kind in Kind.values:
        qs = qs.filter(kind=kind)
    return qs.order_by("display_name", "id")


def org_kind_counts(viewer: Principal) -> dict[str, int]:
    rows = Principal.objects.filter(org_id=viewer.org_id).values("kind").annotate(n=Count("id")).order_by()
    counts = {kind: 0 for kind in Kind.values}
    counts.update({row["kind"]: row["n"] for row in rows})
    counts["all"] = sum(counts[k] for k in Kind.values)
    return counts


def org_chart_humans(viewer: Principal):
    """The org's humans by name, each with `org_agents` (their agents) prefetched: page
    this queryset and the prefetch runs for the page only."""
    agents = Principal.objects.filter(kind=Kind.AGENT).select_related(*WITH_FACES).order_by("display_name", "id")
    return (
        Principal.objects.filter(org_id=viewer.org_id, kind=Kind.HUMAN)
        .select_related("org")
        .prefetch_related(Prefetch("agents", queryset=agents, to_attr="org_agents"))
        .order_by("display_name", "id")
    )


def org_services(viewer: Principal, limit: int = 50):
    return list(Principal.objects.filter(org_id=viewer.org_id, kind=Kind.SERVICE).select_related("org").order_by("display_name", "id")[:limit])


# Profiles ------------------------------------------------------------------------------


def openable_profiles(viewer: Principal, principals) -> set[int]:
    """The pks of those of `principals` whose profile the viewer may open: of the viewer's
    org, or met in a workspace the viewer can see (an agent through its owner's
    membership). At most one query, for the ones of other orgs."""
    principals = list(principals)
    openable = {p.pk for p in principals if p.org_id == viewer.org_id}
    member_of = {p.pk: p.owner_id if p.kind == Kind.AGENT else p.pk for p in principals if p.pk not in openable}
    if member_of:
        visible = access.visible_workspaces(viewer).values("pk")
        met = set(Membership.objects.filter(principal_id__in=set(member_of.values()), workspace__in=visible)
                  .values_list("principal_id", flat=True))
        openable |= {pk for pk, member_id in member_of.items() if member_id in met}
    return openable


def profile_principal(viewer: Principal, handle: str) -> Principal | None:
    """A principal of the viewer's org, or one met in a workspace the viewer can see."""
    principal = Principal.objects.select_related(*WITH_FACES, "owner__org").filter(handle=handle).first()
    if principal is None:
        return None
    return principal if principal.pk in openable_profiles(viewer, [principal]) else None


def managed_agent(viewer: Principal, handle: str) -> Principal | None:
    """An agent of the viewer's org (for the control endpoints); outside the org: None."""
    return Principal.objects.select_related(*WITH_FACES, "owner__org").filter(
        handle=handle, kind=Kind.AGENT, org_id=viewer.org_id
    ).first()


def _agents(owner: Principal):
    return Principal.objects.filter(owner=owner, kind=Kind.AGENT).select_related(*WITH_FACES).order_by("display_name", "id")


def agents_of(owner: Principal):
    return list(_agents(owner))


def keys_of(principal: Principal, limit: int = 8) -> list[ApiKey]:
    """Live keys first (current, then those in their grace window), then the most recent
    spent ones. Digests never leave this function's rows: templates get prefixes."""
    now = timezone.now()
    rows = list(
        ApiKey.objects.filter(principal=principal)
        .defer("digest")
        .order_by("-created_at", "-id")[: limit * 2]
    )
    for key in rows:
        key.state = key.state_at(now)
    order = {"current": 0, "grace": 1}
    rows.sort(key=lambda k: (order.get(k.state, 2), -k.created_at.timestamp()))
    return rows[:limit]


def transfer_candidates(agent: Principal):
    return (
        Principal.objects.filter(org_id=agent.org_id, kind=Kind.HUMAN, status=Status.ACTIVE)
        .exclude(pk=agent.owner_id)
        .select_related("org")
        .order_by("display_name", "id")
    )


def service_grants(viewer: Principal, service: Principal):
    """A service account's explicit grants, in the workspaces the viewer can see."""
    visible = access.visible_workspaces(viewer).values("pk")
    return list(
        Membership.objects.filter(principal=service, workspace__in=visible)
        .select_related("workspace", "workspace__org")
        .order_by("workspace__name")
    )


@dataclass
class AccessRow:
    workspace: object
    explanation: access.Explanation


def access_explainer(viewer: Principal, principal: Principal, limit: int = 50) -> list[AccessRow]:
    """For each workspace the viewer can see: what `principal` may do there and why.
    Workspaces the viewer cannot see are not named, even if the principal can act there."""
    workspaces = list(access.visible_workspaces(viewer).order_by("name", "id")[:limit])
    decisions = access.check_many(principal.pk, [w.pk for w in workspaces])
    return [AccessRow(w, access.explain(principal, w, decisions[w.pk])) for w in workspaces]


def _audits(viewer: Principal, principal: Principal) -> bool:
    """Whether `viewer` is an auditor (or owner or admin) of `principal`'s org."""
    user = getattr(viewer, "user", None)
    return bool(user and user.can_audit and viewer.org_id == principal.org_id)


def may_see_activity(viewer: Principal, principal: Principal) -> bool:
    if viewer.pk == principal.pk:
        return True
    if principal.kind == Kind.AGENT and may_manage_agent(viewer, principal):
        return True
    return _audits(viewer, principal)


def with_actors(events: list[AuditEvent]) -> list[AuditEvent]:
    """Attach each event's actor (if it still exists) as `event.actor`, in one query, and
    its registered description as `event.label`, so rows can show the principal card."""
    ids = {e.actor_id for e in events if e.actor_kind in Kind.values}
    actors = {p.public_id: p for p in Principal.objects.filter(public_id__in=ids).select_related(*WITH_FACES)} if ids else {}
    for event in events:
        event.actor = actors.get(event.actor_id)
        event.label = audit_events.describe(event.action)
    return events


# Sign-ins are in the audit log; on a dashboard or a profile they would drown out the work.
QUIET_ACTIONS = (audit_events.HUMAN_LOGGED_IN, audit_events.HUMAN_LOGGED_OUT, audit_events.HUMAN_LOGIN_FAILED)


def accountable_only(viewer: Principal | None, principal: Principal) -> str:
    """The public id of the human whose accountability narrows the activity `viewer` is
    shown of `principal` (may_see_activity), or "" for all of it.

    An agent's owner who is no auditor of its org sees what it did under them. An agent
    can come with a past: transferred from another owner, or adopted from a service
    account, it acted where its new owner may never have been (another person's
    members-only workspace, another org's), and that stays with the auditors and org
    admins, who read it in the audit log anyway."""
    if viewer is None or principal.kind != Kind.AGENT or viewer.pk == principal.pk or _audits(viewer, principal):
        return ""
    return viewer.public_id


def profile_activity_page(principal: Principal, *, after: str | None = None, limit: int = 10, viewer: Principal | None = None):
    """A page of a profile's activity, newest first (older than the cursor `after`, from
    the page before), read through the audit app: a human's own events and their agents'
    (they are accountable for both); an agent's or a service's own (for `viewer`: see
    accountable_only). An audit.selectors EventPage; raises its InvalidCursor for a
    cursor it did not make."""
    shown = audit_selectors.principal_filter(principal.public_id, principal.kind, leave_out=QUIET_ACTIONS,
                                             owner_id=accountable_only(viewer, principal))
    return audit_selectors.events_page(shown, org=None, cursor=after, limit=limit)


def profile_activity_chart(principal: Principal, *, viewer: Principal | None = None):
    """The chart above profile_activity, counting what it lists (no sign-ins)."""
    return principal_activity_chart(principal.public_id, kind=principal.kind, leave_out=QUIET_ACTIONS,
                                    owner_id=accountable_only(viewer, principal))


def dashboard_activity(owner: Principal, limit: int = 10) -> list[AuditEvent]:
    """The dashboard's feed: what a human and their agents did (read as the audit log's
    owner filter reads it, an index range per kind), without sign-ins, each event with its
    actor and label."""
    return with_actors(audit_selectors.activity_for_owner(owner.public_id, limit=limit, leave_out=QUIET_ACTIONS))


# Proposals -----------------------------------------------------------------------------


def decidable_proposals(viewer: Principal):
    """Pending proposals the viewer may decide. For a human, every pending proposal that
    consent.proposals_for returns is one they may decide (their agents', or a workspace
    they administer), which is exactly consent.may_decide's rule for humans."""
    return consent.proposals_for(viewer, pending_only=True).select_related("proposer__org", "proposer__owner__org")


def agents_proposals(viewer: Principal, limit: int = 50):
    """Recent proposals made by the viewer's agents, whatever their state: under the
    viewer (Proposal.owner), not what an agent handed to them asked for before."""
    return list(
        Proposal.objects.filter(owner=viewer)
        .select_related("workspace", "workspace__org", "proposer", "proposer__org", "proposer__owner", "decided_by", "decided_by__org", "document")
        .defer("document__body")
        .order_by("-created_at", "-id")[:limit]
    )


def pending_count(viewer: Principal) -> int:
    return consent.proposals_for(viewer, pending_only=True).count()


def proposal_for(viewer: Principal, public_id: str) -> Proposal | None:
    return (
        consent.proposals_for(viewer)
        .select_related("proposer__org", "proposer__owner__org", "decided_by__org")
        .filter(public_id=public_id)
        .first()
    )


def proposals_cancelled_with(viewer: Principal, approved: Proposal) -> list[Proposal]:
    """The viewer's other requests to delete the same document, which approving `approved`
    cancelled (they are cancelled in its transaction, after it was decided)."""
    return list(
        consent.proposals_for(viewer)
        .select_related("proposer__org", "proposer__owner__org", "decided_by__org")
        .filter(target_id=approved.target_id, status=ProposalStatus.CANCELLED, decided_at__gte=approved.decided_at)
        .exclude(pk=approved.pk)
    )


def my_agents(viewer: Principal):
    """The viewer's agents, each knowing whether it has a current key: after an org-wide
    rotation retired their keys, the owner is the one who must issue new ones."""
    current = ApiKey.objects.filter(principal=OuterRef("pk"), revoked_at__isnull=True, expires_at__isnull=True)
    return list(_agents(viewer).annotate(has_current_key=Exists(current)))


def home_workspaces(viewer: Principal, *, page: int = 1, limit: int = 12) -> tuple[list, bool]:
    """One page of the workspaces the viewer can see, by name, and whether more follow
    (one row more is read to know: no count)."""
    start = (page - 1) * limit
    rows = list(access.visible_workspaces(viewer).order_by("name", "id")[start:start + limit + 1])
    return rows[:limit], len(rows) > limit


def key_of(principal: Principal, prefix: str) -> ApiKey | None:
    """One of `principal`'s keys by its public prefix (never its digest)."""
    return ApiKey.objects.defer("digest").filter(principal=principal, prefix=prefix).first()
