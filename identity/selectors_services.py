"""Reads for the org admins' service-account pages: the accounts with their grants and
keys, what adopting one as an agent would change, and the "tells" that one should be an
agent. Each function runs a fixed number of queries, whatever the number of accounts."""

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import Case, Count, IntegerField, Q, Value, When
from django.utils import timezone

from audit import events as audit_events
from audit.models import AuditEvent
from dock.workspaces.models import ROLE_CAPS, Membership, Visibility, Workspace

from . import access
from . import capabilities as caps
from .models import ApiKey, Kind, Principal, Status

# How far back the tells look, and the most rows one of their queries may return.
ACTIVITY_WINDOW = timedelta(days=90)
KEY_WINDOW = timedelta(days=365)
TELL_ROWS = 5000
# Work in a workspace, as opposed to administering it (grants, invitations).
WORK_ACTIONS = (
    audit_events.DOCUMENT_CREATED,
    audit_events.DOCUMENT_UPDATED,
    audit_events.DOCUMENT_DELETED,
    audit_events.COMMENT_CREATED,
    audit_events.PROPOSAL_CREATED,
)
KEY_ACTIONS = (audit_events.KEY_ROTATED, audit_events.KEY_ISSUED)
PREVIEW_LIMIT = 200


# The accounts ----------------------------------------------------------------------------


def org_services(viewer: Principal):
    """The viewer's org's service accounts: live ones first, then by name."""
    revoked_last = Case(When(status=Status.REVOKED, then=Value(1)), default=Value(0), output_field=IntegerField())
    return (
        Principal.objects.filter(org_id=viewer.org_id, kind=Kind.SERVICE)
        .select_related("org")
        .annotate(revoked_last=revoked_last)
        .order_by("revoked_last", "display_name", "id")
    )


def service_for_admin(viewer: Principal, public_id: str) -> Principal | None:
    """A service account of the viewer's org by its public id, or None (the view answers
    404). Public ids, not handles, name them in paths: no handle can shadow "new"."""
    return Principal.objects.select_related("org").filter(public_id=public_id, kind=Kind.SERVICE, org_id=viewer.org_id).first()


@dataclass(frozen=True)
class Tell:
    code: str  # members | activity | rotations
    human: Principal
    text: str


@dataclass
class ServiceRow:
    service: Principal
    grants: list = field(default_factory=list)  # Membership rows, by workspace name
    keys: list = field(default_factory=list)  # live ApiKeys (current, then in grace), with .state
    spent_keys: int = 0  # revoked or run out
    tells: list = field(default_factory=list)
    grantable: list = field(default_factory=list)  # workspaces the viewer may grant it in

    @property
    def has_current_key(self) -> bool:
        return any(k.state == "current" for k in self.keys)

    @property
    def suggested_owner(self) -> Principal | None:
        if not self.tells:
            return None
        counts = Counter(t.human.pk for t in self.tells)
        best = max(counts.values())
        return next(t.human for t in self.tells if counts[t.human.pk] == best)


def manageable_workspaces(viewer: Principal, org_id: int, limit: int = PREVIEW_LIMIT) -> list[Workspace]:
    """Workspaces of the org where the viewer holds manage: where they may grant."""
    rows = access.visible_workspaces(viewer).filter(org_id=org_id).order_by("name", "id")[:limit]
    return [w for w in rows if w.caps & caps.MANAGE]


def service_rows(viewer: Principal, services: list[Principal], *, now=None) -> list[ServiceRow]:
    """Each account with its grants, live keys, count of spent keys, tells, and the
    workspaces the viewer could still grant it."""
    now = now or timezone.now()
    services = list(services)
    if not services:
        return []
    ids = [s.pk for s in services]
    rows = {s.pk: ServiceRow(s) for s in services}

    for grant in (
        Membership.objects.filter(principal_id__in=ids).select_related("workspace").order_by("workspace__name", "workspace_id")
    ):
        rows[grant.principal_id].grants.append(grant)

    live = Q(revoked_at__isnull=True) & (Q(expires_at__isnull=True) | Q(expires_at__gt=now))
    for key in ApiKey.objects.filter(live, principal_id__in=ids).defer("digest").order_by("-created_at", "-id"):
        key.state = key.state_at(now)
        rows[key.principal_id].keys.append(key)
    for row in rows.values():
        row.keys.sort(key=lambda k: 0 if k.state == "current" else 1)
    spent = ApiKey.objects.filter(principal_id__in=ids).exclude(live).values("principal_id").annotate(n=Count("id")).order_by()
    for item in spent:
        rows[item["principal_id"]].spent_keys = item["n"]

    for pk, found in tells_for(services, now=now).items():
        rows[pk].tells = found

    manageable = manageable_workspaces(viewer, viewer.org_id)
    for row in rows.values():
        if row.service.status == Status.ACTIVE:
            granted = {g.workspace_id for g in row.grants}
            row.grantable = [w for w in manageable if w.pk not in granted]
    return [rows[pk] for pk in ids]


# Tells: service accounts that look like somebody's agent ------------------------------------


def tells_for(services: list[Principal], *, now=None) -> dict[int, list[Tell]]:
    """Why an active service account looks like one person's agent:

    - members: its grants are all in workspaces whose only (active) human member is the
      same person;
    - activity: in the last 90 days it worked (documents, comments, proposals) only in
      workspaces where one person, alone or through their agents, also worked;
    - rotations: its keys were rotated or issued by people, and always by the same one
      (an org-wide incident rotation does not count).
    """
    now = now or timezone.now()
    live = [s for s in services if s.kind == Kind.SERVICE and s.status == Status.ACTIVE]
    if not live:
        return {}
    by_pk = {s.pk: s for s in live}
    by_public = {s.public_id: s for s in live}
    found: dict[int, list[tuple[str, object, int]]] = defaultdict(list)  # pk → (code, human pk or public id, n)

    # Grants whose workspaces one person has to themselves.
    granted: dict[int, set[int]] = defaultdict(set)
    for principal_id, workspace_id in Membership.objects.filter(principal_id__in=by_pk).values_list("principal_id", "workspace_id"):
        granted[principal_id].add(workspace_id)
    spaces = set().union(*granted.values()) if granted else set()
    humans_in: dict[int, set[int]] = defaultdict(set)
    if spaces:
        members = Membership.objects.filter(
            workspace_id__in=spaces, principal__kind=Kind.HUMAN, principal__status=Status.ACTIVE
        ).values_list("workspace_id", "principal_id")
        for workspace_id, human_id in members:
            humans_in[workspace_id].add(human_id)
    for pk, workspace_ids in granted.items():
        humans = set().union(*(humans_in[w] for w in workspace_ids))
        if len(humans) == 1:
            found[pk].append(("members", humans.pop(), len(workspace_ids)))

    # Work that overlaps one person's work.
    since = now - ACTIVITY_WINDOW
    worked: dict[str, set[str]] = defaultdict(set)
    acted = (
        AuditEvent.objects.filter(actor_id__in=by_public, action__in=WORK_ACTIONS, occurred_at__gte=since)
        .exclude(workspace="")
        .values_list("actor_id", "workspace")
        .order_by()
        .distinct()[:TELL_ROWS]
    )
    for actor_id, slug in acted:
        worked[actor_id].add(slug)
    slugs = set().union(*worked.values()) if worked else set()
    people_in: dict[str, set[str]] = defaultdict(set)
    if slugs:
        others = (
            AuditEvent.objects.filter(workspace__in=slugs, action__in=WORK_ACTIONS, occurred_at__gte=since,
                                      actor_kind__in=(Kind.HUMAN, Kind.AGENT))
            .exclude(owner_id="")
            .values_list("workspace", "owner_id")
            .order_by()
            .distinct()[:TELL_ROWS]
        )
        for slug, owner_id in others:
            people_in[slug].add(owner_id)
    for public_id, workspace_slugs in worked.items():
        people = set().union(*(people_in[s] for s in workspace_slugs))
        if len(people) == 1:
            found[by_public[public_id].pk].append(("activity", people.pop(), len(workspace_slugs)))

    # Keys rotated by one person.
    key_since = now - KEY_WINDOW
    org_slug = live[0].org.slug
    incidents = set(
        AuditEvent.objects.filter(org=org_slug, action=audit_events.ORG_KEYS_ROTATED, occurred_at__gte=key_since)
        .exclude(request_id="")
        .values_list("request_id", flat=True)[:TELL_ROWS]
    )
    rotators: dict[str, Counter] = defaultdict(Counter)
    key_events = (
        AuditEvent.objects.filter(action__in=KEY_ACTIONS, occurred_at__gte=key_since, org=org_slug, target_id__in=by_public)
        .values_list("target_id", "actor_id", "actor_kind", "request_id")
        .order_by()[:TELL_ROWS]
    )
    for target_id, actor_id, actor_kind, request_id in key_events:
        if actor_kind == Kind.HUMAN and not (request_id and request_id in incidents):
            rotators[target_id][actor_id] += 1
    for public_id, counts in rotators.items():
        if len(counts) == 1:
            (human_id, n), = counts.items()
            found[by_public[public_id].pk].append(("rotations", human_id, n))

    # The people named, in one query; one deleted since is no tell.
    pks = {h for items in found.values() for _, h, _ in items if isinstance(h, int)}
    public_ids = {h for items in found.values() for _, h, _ in items if isinstance(h, str)}
    people = {}
    if pks or public_ids:
        for p in Principal.objects.filter(Q(pk__in=pks) | Q(public_id__in=public_ids), kind=Kind.HUMAN).select_related("org"):
            people[p.pk] = people[p.public_id] = p
    tells: dict[int, list[Tell]] = {}
    for pk, items in found.items():
        out = []
        for code, ref, n in items:
            human = people.get(ref)
            if human is not None and human.status == Status.ACTIVE:
                out.append(Tell(code, human, _tell_text(code, human, n)))
        if out:
            tells[pk] = out
    return tells


def _tell_text(code: str, human: Principal, n: int) -> str:
    name = human.display_name
    if code == "members":
        where = "the workspace it is granted" if n == 1 else f"all {n} workspaces it is granted"
        return f"{name} is the only person in {where}."
    if code == "activity":
        where = "the workspace" if n == 1 else f"the {n} workspaces"
        return f"In the last {ACTIVITY_WINDOW.days} days, only {name} (or their agents) worked in {where} where it worked."
    if n == 1:
        return f"Its key was rotated or issued once, by {name}, and by nobody else."
    return f"Its key was rotated or issued {n} times, each time by {name}."


def org_tells(viewer: Principal, limit: int = 200) -> list[ServiceRow]:
    """Active service accounts of the viewer's org that show at least one tell."""
    services = list(org_services(viewer).filter(status=Status.ACTIVE)[:limit])
    tells = tells_for(services)
    return [ServiceRow(s, tells=tells[s.pk]) for s in services if s.pk in tells]


# Adoption --------------------------------------------------------------------------------


def adoption_candidates(service: Principal):
    """Who may own it: the active humans of its org."""
    return (
        Principal.objects.filter(org_id=service.org_id, kind=Kind.HUMAN, status=Status.ACTIVE)
        .select_related("org")
        .order_by("display_name", "id")
    )


def default_adoption_scope(grants) -> int:
    """What its grants allowed, without manage (never an agent's); read if it had none."""
    scope = 0
    for grant in grants:
        scope |= ROLE_CAPS[grant.role]
    return (scope & caps.AGENT_SCOPE_MASK) or caps.READ


@dataclass
class InheritedRow:
    workspace: Workspace
    role: str | None  # the owner's role there, if a member
    decision: access.Decision

    @property
    def needs_elevation(self) -> bool:
        return self.role is not None and self.workspace.restricted and self.decision.rule != access.ELEVATION


@dataclass
class LostGrant:
    grant: Membership
    had: int  # what the grant allowed
    after: int  # what the agent may do there once adopted

    @property
    def had_names(self) -> list[str]:
        return caps.names(self.had)

    @property
    def after_names(self) -> list[str]:
        return caps.names(self.after)

    @property
    def lost_names(self) -> list[str]:
        return caps.names(self.had & ~self.after)


@dataclass
class AdoptionPreview:
    owner: Principal
    scope: int
    inherited: list[InheritedRow]  # workspaces where the agent could act, and those that need an elevation
    grants: list[LostGrant]
    truncated: bool = False

    @property
    def scope_names(self) -> list[str]:
        return caps.names(self.scope)

    @property
    def reachable(self) -> list[InheritedRow]:
        return [r for r in self.inherited if r.decision.visible]


def adoption_preview(service: Principal, owner: Principal, scope: int, *, limit: int = PREVIEW_LIMIT) -> AdoptionPreview:
    """What the service account would be able to do as `owner`'s agent with `scope`,
    decided by the same rules as every access check (`access.decide`), from the
    owner's memberships and the org-visible workspaces of the org; and what each of its
    grants, all dropped, allowed against what inheritance gives there."""
    memberships = list(
        Membership.objects.filter(principal=owner).select_related("workspace", "workspace__org").order_by("workspace__name", "workspace_id")[: limit + 1]
    )
    truncated = len(memberships) > limit
    memberships = memberships[:limit]
    roles = {m.workspace_id: m.role for m in memberships}
    workspaces = {m.workspace_id: m.workspace for m in memberships}
    org_wide = list(
        Workspace.objects.filter(org_id=service.org_id, visibility=Visibility.ORG)
        .exclude(pk__in=list(roles))
        .select_related("org")
        .order_by("name", "id")[: limit + 1]
    )
    truncated = truncated or len(org_wide) > limit
    for w in org_wide[:limit]:
        workspaces[w.pk] = w
    grants = list(Membership.objects.filter(principal=service).select_related("workspace", "workspace__org").order_by("workspace__name"))
    for g in grants:
        workspaces.setdefault(g.workspace_id, g.workspace)

    def decision(w: Workspace) -> access.Decision:
        return access.decide(
            kind=Kind.AGENT, status=Status.ACTIVE, scope=scope, org_id=service.org_id, owner_status=owner.status,
            role=roles.get(w.pk), workspace_org_id=w.org_id, visibility=w.visibility, restricted=w.restricted,
            elevated=False,  # a service account has no elevations: they are made for agents
        )

    decisions = {pk: decision(w) for pk, w in workspaces.items()}
    inherited = [
        InheritedRow(w, roles.get(pk), decisions[pk])
        for pk, w in workspaces.items()
        if decisions[pk].visible or roles.get(pk) is not None
    ]
    inherited.sort(key=lambda r: (not r.decision.visible, r.workspace.name.lower(), r.workspace.pk))
    lost = [LostGrant(g, ROLE_CAPS[g.role] & ~caps.MANAGE, decisions[g.workspace_id].caps) for g in grants]
    return AdoptionPreview(owner=owner, scope=scope, inherited=inherited, grants=lost, truncated=truncated)
