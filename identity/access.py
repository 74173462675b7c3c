"""The one place that decides what a principal may do in a workspace.

Access is computed, never copied: an agent's rights come from its owner's membership at
the moment of the check, in one indexed query, so nothing lingers once the owner leaves.

SPEC rules for agent A in workspace W:
  1. A is not active → nothing.
  2. A's owner is an active member of W with role R, and W is not restricted (or A is
     elevated in W) → caps(R) ∩ scope(A).
  3. Otherwise, W is org-visible and A's org is W's org → {read} ∩ scope(A).
  4. Otherwise nothing (default-deny; W answers 404).
Humans: caps(R) from their membership, or read of an org-visible workspace of their org.
Service accounts: caps of their explicit grant only.
"""

from dataclasses import dataclass, field

from django.db import connection
from django.db.models import Case, Exists, OuterRef, Q, Subquery, Value, When

from dock.workspaces.models import ROLE_CAPS, Elevation, Membership, Visibility, Workspace

from . import capabilities as caps
from .errors import Forbidden, NotFound
from .models import Kind, Principal, Status


class NotVisible(NotFound):
    """The workspace does not exist for this principal (answer 404, never 403)."""


# Rule names, as the explainer and the audit details report them.
INACTIVE = "inactive"
MEMBERSHIP = "membership"
OWNER_MEMBERSHIP = "owner_membership"
ELEVATION = "elevation"
ORG_VISIBILITY = "org_visibility"
GRANT = "grant"
DENY = "default_deny"


@dataclass(frozen=True)
class Decision:
    caps: int
    rule: str
    role: str | None = None
    facts: dict = field(default_factory=dict, compare=False)

    @property
    def visible(self) -> bool:
        return self.caps != 0

    def allows(self, capability: int) -> bool:
        return self.caps & capability == capability

    @property
    def names(self) -> list[str]:
        return caps.names(self.caps)


def is_org_admin(principal: Principal, org_id: int | None = None) -> bool:
    """An active human whose role in their org is owner or admin (of the org `org_id`,
    when given). Org admins manage every agent and service account of their org."""
    if principal.kind != Kind.HUMAN or principal.status != Status.ACTIVE:
        return False
    user = getattr(principal, "user", None)  # None: a principal without an account
    return bool(user and user.is_org_admin and (org_id is None or principal.org_id == org_id))


def decide(
    *,
    kind: str,
    status: str,
    scope: int,
    org_id: int,
    owner_status: str | None,
    role: str | None,
    workspace_org_id: int,
    visibility: str,
    restricted: bool,
    elevated: bool,
) -> Decision:
    """The rules as a pure function of the facts (one row of the access query)."""
    if status != Status.ACTIVE:
        return Decision(0, INACTIVE, role)
    same_org_visible = visibility == Visibility.ORG and org_id == workspace_org_id
    if kind == Kind.HUMAN:
        if role is not None:
            return Decision(ROLE_CAPS[role], MEMBERSHIP, role)
        if same_org_visible:
            return Decision(caps.READ, ORG_VISIBILITY, role)
        return Decision(0, DENY, role)
    if kind == Kind.SERVICE:
        if role is not None:
            return Decision(ROLE_CAPS[role] & ~caps.MANAGE, GRANT, role)
        return Decision(0, DENY, role)
    # Agents.
    if role is not None and owner_status == Status.ACTIVE and (not restricted or elevated):
        return Decision(ROLE_CAPS[role] & scope, ELEVATION if restricted else OWNER_MEMBERSHIP, role)
    if same_org_visible:
        return Decision(caps.READ & scope, ORG_VISIBILITY, role)
    return Decision(0, DENY, role)


_QUERY = """
SELECT p.kind, p.status, p.scope, p.org_id, o.status, m.role,
       w.org_id, w.visibility, w.restricted, e.id, w.id
FROM identity_principal p
JOIN workspaces_workspace w ON w.id = %s
LEFT JOIN identity_principal o ON o.id = p.owner_id
LEFT JOIN workspaces_membership m ON m.workspace_id = w.id AND m.principal_id = COALESCE(p.owner_id, p.id)
LEFT JOIN workspaces_elevation e ON e.workspace_id = w.id AND e.agent_id = p.id
WHERE p.id = %s
"""

# Each workspace's settings and members, as a PostgreSQL advisory lock keyed by its id,
# in a key space of Dock's own ("dock" in the high 32 bits). A locked access check holds
# it shared until commit; a change of the workspace's settings or members holds it
# exclusive (workspaces.services.workspace_lock). Not the workspace's row: PostgreSQL
# queues lock requests behind a waiting one that they conflict with, so a change waits
# for the writes already in flight and the writes that come after it wait for it, where
# share locks on a row let a stream of overlapping writes starve the change. The row is
# left to the updates and foreign-key checks that need it.
_WORKSPACE_KEY_SPACE = 0x646F636B << 32


def workspace_key(workspace_id: int) -> int:
    return _WORKSPACE_KEY_SPACE | int(workspace_id)


# Check-and-act on PostgreSQL: hold the workspace shared (above), and share-lock the
# membership and the principal row the decision rests on, so a concurrent restriction or
# visibility change, pause, suspension, role change or removal waits for this
# transaction (or, if it committed first, is seen by it). The workspace first, as every
# change to its settings and members takes it first.
_LOCK_WORKSPACE_MEMBERSHIP = """
SELECT pg_advisory_xact_lock_shared(%s);
SELECT m.id FROM workspaces_membership m
WHERE m.workspace_id = %s
  AND m.principal_id = (SELECT COALESCE(p.owner_id, p.id) FROM identity_principal p WHERE p.id = %s)
FOR SHARE
"""

# The elevation too, for an agent in a restricted workspace: removing it then waits for
# the write in flight, or, if it committed first, the write is refused. Locked after the
# principal row, in the same round trip as the access query: transferring an agent locks
# the agent's row before it removes the agent's elevations, and the other way round the
# two would deadlock. The query read the elevation before it was locked, so its answer
# is what the lock found.
_LOCK_ELEVATION = """;
SELECT e.id FROM workspaces_elevation e WHERE e.workspace_id = %s AND e.agent_id = %s FOR SHARE
"""


def decision_from_row(row) -> Decision:
    kind, status, scope, org_id, owner_status, role, w_org, visibility, restricted, elevation_id, _ = row
    return decide(
        kind=kind, status=status, scope=scope, org_id=org_id, owner_status=owner_status, role=role,
        workspace_org_id=w_org, visibility=visibility, restricted=bool(restricted), elevated=elevation_id is not None,
    )


def check(principal_id: int, workspace_id: int, *, lock: bool = False, as_active: bool = False) -> Decision:
    """What `principal_id` may do in `workspace_id`, from the database as it is now. With
    `as_active`, judged as if the principal were active: what a paused agent gets back on
    resuming (a pending proposal of its waits for that)."""
    with connection.cursor() as cursor:
        if lock and connection.vendor == "postgresql":
            cursor.execute(_LOCK_WORKSPACE_MEMBERSHIP, [workspace_key(workspace_id), workspace_id, principal_id])
            cursor.execute(_QUERY + " FOR SHARE OF p" + _LOCK_ELEVATION, [workspace_id, principal_id, workspace_id, principal_id])
            row = cursor.fetchone()
            cursor.nextset()
            elevation = cursor.fetchone()
            if row is not None:
                row = (*row[:9], elevation[0] if elevation else None, row[10])
        else:
            cursor.execute(_QUERY, [workspace_id, principal_id])
            row = cursor.fetchone()
    if row is None:
        return Decision(0, DENY)
    if as_active:
        row = (row[0], Status.ACTIVE, *row[2:])
    return decision_from_row(row)


def check_many(principal_id: int, workspace_ids) -> dict[int, Decision]:
    """`check` for several workspaces in one query (pages that explain many at once)."""
    ids = [int(i) for i in workspace_ids]
    if not ids:
        return {}
    placeholders = ", ".join(["%s"] * len(ids))
    sql = _QUERY.replace("w.id = %s", f"w.id IN ({placeholders})")
    with connection.cursor() as cursor:
        cursor.execute(sql, [*ids, principal_id])
        rows = cursor.fetchall()
    decisions = {row[-1]: decision_from_row(row) for row in rows}
    return {i: decisions.get(i, Decision(0, DENY)) for i in ids}


def require(principal: Principal, workspace: Workspace, capability: int, *, lock: bool = False) -> Decision:
    """Raise NotVisible (404) if `principal` cannot see `workspace`, Forbidden (403) if it
    can but lacks `capability`. With lock=True, call inside the write's transaction."""
    decision = check(principal.pk, workspace.pk, lock=lock)
    if not decision.visible:
        raise NotVisible("Not found.")
    if not decision.allows(capability):
        missing = caps.names(capability & ~decision.caps)  # of those asked for, what it lacks
        raise Forbidden(f"This needs the {' and '.join(missing)} capabilit{'ies' if len(missing) > 1 else 'y'} here.")
    return decision


def visible_workspaces(principal: Principal):
    """Workspaces `principal` can see, each annotated with `caps` (a capability bit set)."""
    if principal.status != Status.ACTIVE:
        return Workspace.objects.none()
    member_id = principal.owner_id if principal.kind == Kind.AGENT else principal.pk
    role = Subquery(Membership.objects.filter(workspace=OuterRef("pk"), principal_id=member_id).values("role")[:1])
    qs = Workspace.objects.annotate(my_role=role)
    candidates = Q(pk__in=Membership.objects.filter(principal_id=member_id).values("workspace_id"))
    if principal.kind != Kind.SERVICE:
        candidates |= Q(visibility=Visibility.ORG, org_id=principal.org_id)
    qs = qs.filter(candidates)

    if principal.kind == Kind.HUMAN:
        role_caps = {r: c for r, c in ROLE_CAPS.items()}
        org_read = caps.READ
        member_ok = Q(my_role__isnull=False)
    elif principal.kind == Kind.SERVICE:
        role_caps = {r: c & ~caps.MANAGE for r, c in ROLE_CAPS.items()}
        org_read = 0
        member_ok = Q(my_role__isnull=False)
    else:
        owner_active = principal.owner.status == Status.ACTIVE
        role_caps = {r: c & principal.scope for r, c in ROLE_CAPS.items()}
        org_read = caps.READ & principal.scope
        qs = qs.annotate(elevated=Exists(Elevation.objects.filter(workspace=OuterRef("pk"), agent_id=principal.pk)))
        member_ok = Q(my_role__isnull=False) & (Q(restricted=False) | Q(elevated=True))
        if not owner_active:
            member_ok = Q(pk__in=[])

    whens = [When(member_ok & Q(my_role=r), then=Value(c)) for r, c in role_caps.items()]
    whens.append(When(Q(visibility=Visibility.ORG, org_id=principal.org_id), then=Value(org_read)))
    return qs.annotate(caps=Case(*whens, default=Value(0))).filter(caps__gt=0).select_related("org")


@dataclass
class Explanation:
    decision: Decision
    steps: list[str]

    @property
    def allowed(self) -> list[str]:
        return self.decision.names


def explain(principal: Principal, workspace: Workspace, decision: Decision | None = None) -> Explanation:
    """Why `principal` can (or cannot) act in `workspace`: the chain, or the denying rule.
    Pass a `decision` from `check_many` to explain several workspaces without a query each."""
    if decision is None:
        decision = check(principal.pk, workspace.pk)
    name = principal.display_name
    steps: list[str] = []
    if decision.rule == INACTIVE:
        noun = {Kind.AGENT: "agent", Kind.SERVICE: "service account"}.get(principal.kind, "person")
        steps.append(f"{name} is {principal.status}, and only an active {noun} can do anything, anywhere.")
        return Explanation(decision, steps)
    role_caps = ", ".join(caps.names(ROLE_CAPS[decision.role])) if decision.role else ""
    if principal.kind == Kind.AGENT:
        owner = principal.owner
        steps.append(f"{name} is an active agent with scope: {', '.join(principal.scope_names) or 'nothing'}.")
        steps.append(f"It is owned by {owner.display_name} ({owner.status}).")
        if decision.role:
            steps.append(f"{owner.display_name} is {decision.role} of {workspace.name} → {role_caps}.")
            if workspace.restricted:
                steps.append(
                    f"{workspace.name} is restricted and {name} is elevated there."
                    if decision.rule == ELEVATION
                    else f"{workspace.name} is restricted and {name} has not been elevated there, so the owner's role does not carry over."
                )
        else:
            steps.append(f"{owner.display_name} is not a member of {workspace.name}.")
    elif principal.kind == Kind.SERVICE:
        steps.append(
            f"{name} is a service account granted {decision.role} in {workspace.name}." if decision.role
            else f"{name} is a service account with no grant in {workspace.name}."
        )
    elif decision.role:
        steps.append(f"{name} is {decision.role} of {workspace.name} → {role_caps}.")
    else:
        steps.append(f"{name} is not a member of {workspace.name}.")

    if decision.rule == ORG_VISIBILITY:
        steps.append(f"{workspace.name} is readable by everyone in {workspace.org.name} (org visibility) → read.")
    if principal.kind == Kind.AGENT and decision.rule in (OWNER_MEMBERSHIP, ELEVATION, ORG_VISIBILITY):
        steps.append(f"Capped by the agent's scope → {', '.join(decision.names) or 'nothing'}.")
    if decision.rule == DENY:
        steps.append(f"No rule grants access: denied by default, so {workspace.name} is hidden from {name} altogether.")
    else:
        steps.append(f"Effective: {', '.join(decision.names) or 'nothing'}.")
    return Explanation(decision, steps)
