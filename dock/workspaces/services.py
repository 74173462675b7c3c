"""Writes in the workspace domain. Callers decide *whether* an actor may (identity.access);
these functions do the change and record it, in one transaction."""

import hashlib
import secrets
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from audit import events
from audit.refs import SYSTEM, TargetRef, as_actor
from audit.services import batch, record
from identity import access, capabilities
from identity.errors import Conflict, Forbidden, InvalidInput, InvalidTransition, NotFound, ProposalExpired
from identity.ids import new_public_id
from identity.models import Kind, Org, Principal, Status
from identity.services.agents import may_manage_agent
from identity.services.principals import locked_principal, shows_text, without_controls
from identity.services.users import claiming, clean_slug

from .models import (
    ROLE_RANK,
    Comment,
    Document,
    Elevation,
    Invitation,
    Membership,
    Proposal,
    ProposalStatus,
    Revision,
    Role,
    Visibility,
    Workspace,
)
from .signals import membership_removed, membership_role_changed

# Path segments the pages use under /w/: a workspace by that slug would be unreachable.
RESERVED_SLUGS = frozenset({"new"})
TITLE_MAX = 200
BODY_MAX = 100_000
COMMENT_MAX = 10_000
DESCRIPTION_MAX = 500


def _clean_title(title, *, field: str = "title") -> str:
    """A document's title, or (`field="name"`) a workspace's name: one line of text."""
    if not isinstance(title, str):
        raise InvalidInput(f"{field.capitalize()} must be text.", fields={field: "Must be text."})
    _refuse_nul(title, field)
    title = without_controls(title).strip()
    if not shows_text(title):
        raise InvalidInput(f"A {field} is required.", fields={field: f"A {field} is required."})
    if len(title) > TITLE_MAX:
        raise InvalidInput(f"{field.capitalize()}s are at most {TITLE_MAX} characters.", fields={field: f"At most {TITLE_MAX} characters."})
    return title


def _refuse_nul(text: str, field: str) -> None:
    """As the dashboard's forms refuse it (Django's CharField): the API took it out unsaid."""
    if "\x00" in text:
        raise InvalidInput("Null characters are not allowed.", fields={field: "Null characters are not allowed."})


def _clean_body(body, *, limit=BODY_MAX, required=False, field="body") -> str:
    if not isinstance(body, str):
        raise InvalidInput("Body must be text.", fields={field: "Must be text."})
    _refuse_nul(body, field)
    if required and not shows_text(body):
        raise InvalidInput("Write something first.", fields={field: "This field is required."})
    if len(body) > limit:
        raise InvalidInput(f"At most {limit} characters.", fields={field: f"At most {limit} characters."})
    return body


def _clean_description(text) -> str:
    """One line (the workspace's header shows it after its name), of at most DESCRIPTION_MAX."""
    description = " ".join(str(text or "").split())
    if len(description) > DESCRIPTION_MAX:
        raise InvalidInput(
            f"The description is {len(description)} characters; at most {DESCRIPTION_MAX}.",
            fields={"description": f"At most {DESCRIPTION_MAX} characters."},
        )
    return description


def _check_role(role: str) -> str:
    if role not in Role.values:
        raise InvalidInput(f"Unknown workspace role {role!r} (choose from {', '.join(Role.values)}).", fields={"role": "Unknown role."})
    return role


# Workspaces ---------------------------------------------------------------------------


def workspace_create(
    *,
    actor,
    org: Org,
    slug: str,
    name: str,
    visibility: str = Visibility.MEMBERS,
    restricted: bool = False,
    description: str = "",
) -> Workspace:
    """Create a workspace; a human creator becomes its first admin."""
    slug = clean_slug(slug)
    if slug in RESERVED_SLUGS:
        raise InvalidInput(f"{slug!r} is reserved.", fields={"slug": "That name is reserved: choose another."})
    if visibility not in Visibility.values:
        raise InvalidInput(f"Unknown visibility {visibility!r} (choose from {', '.join(Visibility.values)}).", fields={"visibility": "Unknown visibility."})
    name = _clean_title(name, field="name")
    description = _clean_description(description)
    taken = Conflict(f"A workspace with the slug {slug!r} already exists.", fields={"slug": "That slug is taken."})
    with claiming(Workspace.objects.filter(slug=slug), taken), transaction.atomic(), batch():
        creator = actor if isinstance(actor, Principal) and actor.kind == Kind.HUMAN else None
        workspace = Workspace.objects.create(
            org=org, slug=slug, name=name, visibility=visibility, restricted=restricted,
            description=description, created_by=creator,
        )
        record(
            events.WORKSPACE_CREATED, actor=actor, target=workspace, workspace=workspace,
            details={"visibility": visibility, "restricted": restricted},
        )
        if creator is not None:
            _membership_insert(actor=actor, workspace=workspace, principal=creator, role=Role.ADMIN)
    return workspace


@dataclass(frozen=True)
class Updated:
    """What workspace_update changed ({field: {"from", "to"}}) and what went with it."""

    workspace: Workspace
    changed: dict
    elevations_removed: int = 0
    proposals_cancelled: int = 0


def workspace_update(*, actor, workspace: Workspace, **changes) -> Updated:
    """Change a workspace's name, description, visibility or restriction; who may is the
    caller's to decide (a face changes it inside `managing`). Access is computed from
    these settings, so what a change takes away is gone at commit, and what rested on the
    old setting goes in this same transaction:

    - Restricting: members' agents keep working here only if elevated. Whatever the others
      asked for and can no longer do is cancelled, as when an elevation is removed.
    - Lifting the restriction: members' agents work by their owner's role again, and the
      elevations have nothing left to lift. They are removed: kept, they would wait unseen
      and let their agents back in past whoever restricts the workspace next (which is why
      elevation_grant refuses an unrestricted workspace).

    A write or delete request in flight here holds the workspace shared from its access
    check to its commit (access.check with lock; workspace_lock): the change waits for
    it, and then finds the proposal it made; a request that comes later waits, and is
    judged by the new settings."""
    allowed = {"name", "visibility", "restricted", "description"}
    unknown = set(changes) - allowed
    if unknown:
        raise InvalidInput(f"Unknown field(s): {', '.join(sorted(unknown))}.")
    if "name" in changes:
        changes["name"] = _clean_title(changes["name"], field="name")
    if "description" in changes:
        changes["description"] = _clean_description(changes["description"])
    if "visibility" in changes and changes["visibility"] not in Visibility.values:
        raise InvalidInput(
            f"Unknown visibility {changes['visibility']!r} (choose from {', '.join(Visibility.values)}).",
            fields={"visibility": "Unknown visibility."},
        )
    if "restricted" in changes and not isinstance(changes["restricted"], bool):
        raise InvalidInput("restricted is true or false.", fields={"restricted": "Yes or no."})
    with transaction.atomic(), batch():
        workspace_lock(workspace.pk)
        workspace = Workspace.objects.select_related("org").get(pk=workspace.pk)
        diff = {}
        for field, value in changes.items():
            if getattr(workspace, field) != value:
                diff[field] = {"from": getattr(workspace, field), "to": value}
                setattr(workspace, field, value)
        if not diff:
            return Updated(workspace, {})
        restricting = diff.get("restricted", {}).get("to") is True
        # Whose proposals the restriction takes the ground from: those who could delete
        # here before it (once resumed, if paused), judged again after it. A proposal that
        # could not run before stays as it was (its approval refuses, as ever).
        could_delete = _proposers_who_may_delete(workspace) if restricting else set()
        workspace.save(update_fields=list(diff))
        record(events.WORKSPACE_UPDATED, actor=actor, target=workspace, workspace=workspace, details=diff)
        elevations, proposals = 0, 0
        if diff.get("restricted", {}).get("to") is False:
            agents = Elevation.objects.filter(workspace=workspace).values("agent_id")
            elevations = elevations_remove(actor=actor, workspace=workspace, agents=agents, reason="workspace no longer restricted")
        lost = could_delete - _proposers_who_may_delete(workspace) if restricting else set()
        if lost:
            proposals = proposals_cancel(
                actor=actor, proposals=Proposal.objects.filter(workspace=workspace, proposer_id__in=lost),
                reason="workspace restricted",
            )
    return Updated(workspace, diff, elevations, proposals)


def _proposers_who_may_delete(workspace: Workspace) -> set[int]:
    """Of the agents and service accounts with a pending proposal in `workspace`, those
    that may delete there (as if active: a paused agent's proposal waits for its resuming)."""
    proposers = set(
        Proposal.objects.filter(workspace=workspace, status=ProposalStatus.PENDING).values_list("proposer_id", flat=True)
    )
    return {pk for pk in proposers if access.check(pk, workspace.pk, as_active=True).allows(capabilities.DELETE)}


# Memberships --------------------------------------------------------------------------


def _membership_insert(*, actor, workspace: Workspace, principal: Principal, role: str, via: str = "direct") -> Membership:
    try:
        with transaction.atomic():
            membership = Membership.objects.create(workspace=workspace, principal=principal, role=role)
    except IntegrityError:
        raise Conflict(f"{principal.display_name} is already a member of {workspace.slug}.") from None
    record(
        events.MEMBER_ADDED, actor=actor, target=principal, workspace=workspace,
        details={"role": role, "via": via},
    )
    return membership


def membership_add(*, actor, workspace: Workspace, principal: Principal, role: str = Role.VIEWER) -> Membership:
    """Add a human (any org) or grant a service account (its own org) a role.

    Agents never hold memberships: they inherit from their owner.
    """
    _check_role(role)
    with transaction.atomic():
        workspace_lock(workspace.pk)
        # Read again under its row lock: a service account adopted as an agent (or revoked)
        # meanwhile is seen here, and one adopted later waits for this grant, then drops it.
        principal = locked_principal(principal)
        if principal.kind == Kind.AGENT:
            raise InvalidInput("Agents are never members: they work where their owner can.", fields={"principal": "Agents inherit access from their owner."})
        if principal.status != Status.ACTIVE:
            raise InvalidTransition(f"{principal.display_name} is not active.")
        if principal.kind == Kind.SERVICE:
            if principal.org_id != workspace.org_id:
                raise InvalidInput("Service accounts are granted access only in their own org's workspaces.")
            _check_grant_role(role)
        return _membership_insert(actor=actor, workspace=workspace, principal=principal, role=role,
                                  via="grant" if principal.kind == Kind.SERVICE else "direct")


def _check_grant_role(role: str) -> None:
    if role == Role.ADMIN:
        raise InvalidInput("Service accounts are granted viewer or editor, never admin.", fields={"role": "viewer or editor"})


_WORKSPACE_LOCK = (
    "SELECT pg_advisory_xact_lock(%s); "
    f"SELECT 1 FROM {Workspace._meta.db_table} WHERE id = %s FOR NO KEY UPDATE"
)


def workspace_lock(workspace_id: int) -> None:
    """Lock the workspace `workspace_id` until commit. Changes to one workspace's settings,
    members, grants, invitations and elevations take it first, so they run one at a time:
    the last-admin rule reads the other members' roles, and an elevation rests on its
    agent's owner being a member, which a concurrent change could undo. Taken before any
    membership or principal row, so such changes queue here instead of deadlocking on
    each other's rows. On PostgreSQL it is first the workspace's advisory lock, exclusive
    (see access.workspace_key): it waits for the writes in flight here, whose access
    checks hold it shared, and the writes that come later wait for it. Then the row (FOR
    NO KEY UPDATE, which foreign-key checks do not wait for)."""
    if connection.vendor != "postgresql":
        Workspace.objects.select_for_update(no_key=True).filter(pk=workspace_id).exists()
        return
    with connection.cursor() as cursor:  # one round trip, as the row lock alone took
        cursor.execute(_WORKSPACE_LOCK, [access.workspace_key(workspace_id), workspace_id])


def workspaces_lock(workspace_ids) -> None:
    """workspace_lock for several workspaces, in id order (the order every taker of
    several uses, so that two cannot deadlock)."""
    for workspace_id in sorted(set(workspace_ids)):
        workspace_lock(workspace_id)


@contextmanager
def managing(*, actor, workspace: Workspace):
    """The transaction in which a face changes `workspace`'s members, grants, invitations
    or elevations on behalf of `actor`: the workspace row is locked first (see
    workspace_lock), then `actor` must hold MANAGE there, with its own membership
    share-locked. Checked the other way round, two admins changing each other's
    memberships at once would each hold the membership the other one changes."""
    with transaction.atomic():
        workspace_lock(workspace.pk)
        yield access.require(actor, workspace, capabilities.MANAGE, lock=True)


def _locked_membership(membership: Membership) -> Membership:
    """The membership's row, locked until commit, after its workspace's (workspace_lock)."""
    workspace_lock(membership.workspace_id)
    try:
        return (
            Membership.objects.select_for_update(of=("self",))
            .select_related("workspace", "workspace__org", "principal", "principal__org")
            .get(pk=membership.pk)
        )
    except Membership.DoesNotExist:
        raise NotFound("That membership no longer exists.") from None


def _last_admin(membership: Membership) -> bool:
    """Whether `membership` is the workspace's only admin who can still run it: another
    admin who is deactivated (a guest whose own org let them go, say) counts for nothing,
    since nobody can act as them, and nobody else could invite, remove or decide there."""
    return (
        membership.role == Role.ADMIN
        and membership.principal.kind == Kind.HUMAN
        and not Membership.objects.filter(
            workspace_id=membership.workspace_id, role=Role.ADMIN, principal__kind=Kind.HUMAN,
            principal__status=Status.ACTIVE,
        )
        .exclude(pk=membership.pk)
        .exists()
    )


def membership_set_role(*, actor, membership: Membership, role: str, allow_last_admin: bool = False) -> Membership:
    """Change a member's role; lowering it takes their agents' extra rights with it, now."""
    _check_role(role)
    with transaction.atomic(), batch():
        membership = _locked_membership(membership)
        old = membership.role
        if old == role:
            return membership
        if membership.principal.kind == Kind.SERVICE:
            _check_grant_role(role)
        if not allow_last_admin and ROLE_RANK[role] < ROLE_RANK[old] and _last_admin(membership):
            raise InvalidTransition("A workspace needs at least one admin: make someone else admin first.")
        membership.role = role
        membership.save(update_fields=["role"])
        record(
            events.MEMBER_ROLE_CHANGED, actor=actor, target=membership.principal, workspace=membership.workspace,
            details={"from": old, "to": role},
        )
        membership_role_changed.send(sender=Membership, membership=membership, old_role=old, actor=actor)
    return membership


def membership_remove(*, actor, membership: Membership, allow_last_admin: bool = False) -> None:
    """Remove a member. Their agents lose the access in this same transaction: access is
    computed from the membership, and receivers clear elevations and pending proposals."""
    with transaction.atomic(), batch():
        membership = _locked_membership(membership)
        if not allow_last_admin and _last_admin(membership):
            raise InvalidTransition("A workspace needs at least one admin: make someone else admin first.")
        membership_removed.send(sender=Membership, membership=membership, actor=actor)
        record(
            events.MEMBER_REMOVED, actor=actor, target=membership.principal, workspace=membership.workspace,
            details={"role": membership.role},
        )
        membership.delete()


def membership_leave(*, actor: Principal, membership: Membership) -> None:
    """A member leaves: their own removal, which needs no admin. The rule that a workspace
    keeps an admin still holds."""
    if membership.principal_id != actor.pk:
        raise Forbidden("Only the member themselves can leave; an admin removes others.")
    membership_remove(actor=actor, membership=membership)


# Invitations --------------------------------------------------------------------------


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_create(*, actor, workspace: Workspace, email: str, role: str = Role.VIEWER) -> tuple[Invitation, str]:
    """An invitation and its single-use token (returned once; only its hash is kept)."""
    from identity.services.users import normalize_email

    email = normalize_email(email)
    _check_role(role)
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        # Only someone who may manage members invites, and they see the member list: this
        # tells them nothing new about who has an account.
        if Membership.objects.filter(workspace=workspace, principal__user__email__iexact=email).exists():
            message = f"{email} is already a member of {workspace.name}."
            raise InvalidInput(message, fields={"email": message})
        invitation = Invitation.objects.create(
            public_id=new_public_id("inv"), workspace=workspace, email=email, role=role, token_digest=_token_digest(token),
            invited_by=actor if isinstance(actor, Principal) else None,
            expires_at=timezone.now() + timedelta(seconds=settings.DOCK_INVITATION_TTL_SECONDS),
        )
        record(events.INVITATION_CREATED, actor=actor, target=invitation, workspace=workspace, details={"email": email, "role": role})
    return invitation, token


def invitation_lookup(token: str) -> Invitation | None:
    if not isinstance(token, str) or not (20 <= len(token) <= 100):
        return None
    return (
        Invitation.objects.select_related("workspace", "workspace__org", "invited_by", "invited_by__org")
        .filter(token_digest=_token_digest(token))
        .first()
    )


def invitation_sender_may_invite(invitation: Invitation) -> bool:
    """An invitation stands on its sender's right to invite people here. Removed from the
    workspace, made editor or viewer, or deactivated since, they no longer have it, and
    neither has their link (an admin invites again)."""
    if invitation.invited_by_id is None:
        return False
    return access.check(invitation.invited_by_id, invitation.workspace_id).allows(capabilities.MANAGE)


def invitation_accept(*, actor: Principal, token: str) -> Membership:
    """Accept as `actor` (a human whose email is the invited one). Single use."""
    with transaction.atomic(), batch():
        found = invitation_lookup(token)
        if found is None:
            raise NotFound("This invitation link is not valid.")
        # The workspace first, as every change to its members takes it (workspace_lock):
        # an admin inviting this address again meanwhile withdraws this invitation with
        # the workspace locked, then waits for this one's row.
        workspace_lock(found.workspace_id)
        invitation = Invitation.objects.select_for_update(of=("self",)).select_related("workspace", "workspace__org").get(pk=found.pk)
        if invitation.accepted_at is not None:
            raise InvalidTransition("This invitation has already been used.")
        if invitation.revoked_at is not None:
            raise InvalidTransition("This invitation was withdrawn: ask for a new one.")
        if invitation.expires_at <= timezone.now():
            raise InvalidTransition("This invitation has expired: ask for a new one.")
        if invitation.invited_by_id is None:  # its sender was deleted: nobody stands behind it
            raise InvalidTransition("The person who sent this invitation is no longer on Dock: ask for a new one.")
        if not invitation_sender_may_invite(invitation):
            raise InvalidTransition(
                f"The person who sent this invitation can no longer invite people to {invitation.workspace.name}: "
                "ask someone in the workspace for a new one."
            )
        user = getattr(actor, "user", None)
        if actor.kind != Kind.HUMAN or user is None or user.email.lower() != invitation.email.lower():
            raise InvalidTransition("This invitation was sent to a different email address.")
        invitation.accepted_at = timezone.now()
        invitation.accepted_by = actor
        invitation.save(update_fields=["accepted_at", "accepted_by"])
        record(events.INVITATION_ACCEPTED, actor=actor, target=invitation, workspace=invitation.workspace,
               details={"role": invitation.role})
        existing = Membership.objects.filter(workspace=invitation.workspace, principal=actor).first()
        if existing is not None:
            if ROLE_RANK[invitation.role] > ROLE_RANK[existing.role]:
                return membership_set_role(actor=actor, membership=existing, role=invitation.role)
            return existing
        return _membership_insert(actor=actor, workspace=invitation.workspace, principal=actor, role=invitation.role, via="invitation")


def invitation_revoke(*, actor, invitation: Invitation) -> Invitation:
    with transaction.atomic():
        invitation = Invitation.objects.select_for_update(of=("self",)).select_related("workspace", "workspace__org").get(pk=invitation.pk)
        if invitation.accepted_at is not None:
            raise InvalidTransition(f"{invitation.email} has already accepted this invitation.")
        if invitation.revoked_at is not None:
            raise InvalidTransition(f"The invitation to {invitation.email} was already withdrawn.")
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
        record(events.INVITATION_REVOKED, actor=actor, target=invitation, workspace=invitation.workspace)
    return invitation


def invitations_withdraw(*, actor, invitations, reason: str) -> int:
    """Withdraw those of `invitations` still open, recording each; returns how many.

    For when their sender loses the right to invite (removed, lowered, deactivated,
    deleted): an invitation stands on that right, and checked only on acceptance it came
    back to life if the sender got the right back, a link sent long before by someone an
    admin had since let go. Locked in id order, after whatever the caller locked and
    before any proposal (identity.receivers keeps that order); an acceptance committing
    meanwhile keeps its invitation, which is then no longer open."""
    with transaction.atomic():
        open_ones = list(
            invitations.open()
            .select_for_update(of=("self",))
            .select_related("workspace", "workspace__org")
            .order_by("pk")
        )
        if open_ones:
            Invitation.objects.filter(pk__in=[i.pk for i in open_ones]).update(revoked_at=timezone.now())
            for invitation in open_ones:
                record(events.INVITATION_REVOKED, actor=actor, target=invitation, workspace=invitation.workspace,
                       details={"reason": reason})
    return len(open_ones)


# Elevations ---------------------------------------------------------------------------


def elevation_grant(*, actor, workspace: Workspace, agent: Principal) -> Elevation:
    if agent.kind != Kind.AGENT:
        raise InvalidInput("Only agents are elevated; humans and service accounts are members.")
    with transaction.atomic():
        # The workspace first, as removing a member takes it: a removal of the owner that
        # commits first is seen below, and one that comes later waits, then removes this
        # elevation with the owner's others. The agent's row next, read again: a
        # revocation or a transfer committing meanwhile is seen too.
        workspace_lock(workspace.pk)
        agent = locked_principal(agent)
        if agent.status == Status.REVOKED:
            raise InvalidTransition(f"{agent.handle} is revoked: it can never act again, so it is not elevated.")
        if not Workspace.objects.filter(pk=workspace.pk, restricted=True).exists():
            # Nothing to lift: members' agents work here by their owner's role already. Kept,
            # the elevation would wait unseen, and let the agent in were the workspace ever
            # made restricted, past whoever restricted it. (The members page never offers it.)
            raise InvalidTransition(f"{workspace.slug} is not restricted: {agent.handle} works there by its owner's role, unelevated.")
        if not Membership.objects.filter(workspace=workspace, principal_id=agent.owner_id).exists():
            # Nothing would remove such an elevation when its owner leaves: it would wait,
            # unseen, for the owner to join again.
            raise InvalidTransition(f"{agent.handle}'s owner is not a member of {workspace.slug}: add them first.")
        elevation, created = Elevation.objects.get_or_create(
            workspace=workspace, agent=agent, defaults={"granted_by": actor if isinstance(actor, Principal) else None}
        )
        if not created:
            raise Conflict(f"{agent.handle} is already elevated in {workspace.slug}.")
        record(events.AGENT_ELEVATED, actor=actor, target=agent, workspace=workspace)
    return elevation


def elevations_remove(*, actor, workspace: Workspace, agents, reason: str) -> int:
    """Remove the elevations of `agents` in `workspace` and record each (two statements,
    however many agents: a leaving owner may take a thousand with them)."""
    removed = list(
        Elevation.objects.filter(workspace=workspace, agent__in=agents).values_list(
            "pk", "agent__public_id", "agent__display_name", "agent__org__slug"
        )
    )
    if removed:
        Elevation.objects.filter(pk__in=[pk for pk, *_ in removed]).delete()
        for _pk, public_id, name, org_slug in removed:
            record(events.AGENT_ELEVATION_REMOVED, actor=actor, target=TargetRef(Kind.AGENT, public_id, name, org_slug),
                   workspace=workspace, details={"reason": reason})
    return len(removed)


def elevation_remove(*, actor, workspace: Workspace, agent: Principal) -> int:
    """A workspace admin takes back an agent's elevation. What the agent asked for there
    and can no longer do goes with it, as when its owner is lowered or removed: left
    pending, it was offered to deciders with an Approve that could only refuse, until it
    expired. (The elevation row is locked by its delete before the proposals are, the order
    an approval takes them in.)"""
    with transaction.atomic(), batch():
        removed = elevations_remove(actor=actor, workspace=workspace, agents=[agent], reason="removed by a workspace admin")
        if removed and not access.check(agent.pk, workspace.pk).allows(capabilities.DELETE):
            proposals_cancel(
                actor=actor, proposals=Proposal.objects.filter(workspace=workspace, proposer=agent), reason="elevation removed"
            )
    return removed


# Documents and comments -----------------------------------------------------------------


def _locked_document(document: Document) -> Document:
    try:
        return Document.objects.select_for_update(of=("self",)).select_related("workspace", "workspace__org").get(pk=document.pk)
    except Document.DoesNotExist:
        raise NotFound("That document no longer exists.") from None


_DOCUMENT_KEPT = f"SELECT 1 FROM {Document._meta.db_table} WHERE id = %s"


def _kept_document(document: Document) -> None:
    """Refuse (404) if `document` is gone, and keep it from going until commit: on
    PostgreSQL its row is locked FOR KEY SHARE, which waits for a delete in flight and
    blocks one that starts later, without blocking edits. For what points at a document
    (a comment, a request to delete it), read in the same transaction: without it a row
    inserted for a document deleted meanwhile failed its foreign-key check (a 500)."""
    sql = _DOCUMENT_KEPT + (" FOR KEY SHARE" if connection.vendor == "postgresql" else "")
    with connection.cursor() as cursor:
        cursor.execute(sql, [document.pk])
        if cursor.fetchone() is None:
            raise NotFound("That document no longer exists.")


def document_create(*, actor: Principal, workspace: Workspace, title: str, body: str = "") -> Document:
    title = _clean_title(title)
    body = _clean_body(body)
    with transaction.atomic():
        now = timezone.now()
        document = Document.objects.create(
            public_id=new_public_id("doc"), workspace=workspace, title=title, body=body,
            author=actor, updated_by=actor, created_at=now, updated_at=now,
        )
        Revision.objects.create(document=document, number=1, title=title, body=body, author=actor, created_at=now)
        record(events.DOCUMENT_CREATED, actor=actor, target=document, workspace=workspace)
    return document


class EditConflict(Conflict):
    """Someone saved the document after the editor opened it: saving would silently throw
    their text away. `document` is the newer version, as saved."""

    def __init__(self, document: Document):
        by = document.updated_by.display_name if document.updated_by else "Someone"
        super().__init__(f"{by} saved a newer version at {document.updated_at:%H:%M:%S} UTC, after you opened this page.")
        self.document = document


def document_update(
    *, actor: Principal, document: Document, title: str | None = None, body: str | None = None,
    unchanged_since: datetime | None = None,
) -> Document:
    """`unchanged_since`: the document's updated_at when the editor read it; a save made
    since by anyone is an EditConflict instead of being overwritten."""
    with transaction.atomic():
        document = _locked_document(document)
        if unchanged_since is not None and document.updated_at != unchanged_since:
            raise EditConflict(Document.objects.select_related("updated_by").get(pk=document.pk))
        changed = []
        if title is not None:
            title = _clean_title(title)
            if title != document.title:
                document.title, changed = title, [*changed, "title"]
        if body is not None:
            body = _clean_body(body)
            if body != document.body:
                document.body, changed = body, [*changed, "body"]
        if not changed:
            return document
        document.updated_by = actor
        document.updated_at = timezone.now()
        document.save(update_fields=[*changed, "updated_by", "updated_at"])
        last = document.revisions.order_by("-number").values_list("number", flat=True).first() or 0
        Revision.objects.create(document=document, number=last + 1, title=document.title, body=document.body, author=actor)
        record(events.DOCUMENT_UPDATED, actor=actor, target=document, workspace=document.workspace,
               details={"fields": changed, "revision": last + 1})
    return document


def document_delete(*, actor: Principal, document: Document, approved_by=None, proposal: Proposal | None = None) -> None:
    """Irreversible. An agent's delete reaches here only through an approved proposal."""
    # Its events are appended together at the end: the audit chain head is the last lock
    # a writer takes, and cancelling the other proposals locks their rows, which a
    # cascade cancelling them too may hold while it waits for the head.
    with transaction.atomic(), batch():
        document = _locked_document(document)
        details = {"title": document.title}
        if approved_by is not None:  # a principal, or the operator (the system) from the CLI
            approver = as_actor(approved_by)
            details["approved_by"] = approver.id
            details["approved_by_name"] = approver.name
        if proposal is not None:
            details["proposal"] = proposal.public_id
        record(events.DOCUMENT_DELETED, actor=actor, target=document, workspace=document.workspace, details=details)
        # Other requests to delete it have nothing left to do: cancelled, not left pending
        # until they expire (approving one would refuse: the document is gone).
        others = Proposal.objects.filter(document=document)
        if proposal is not None:
            others = others.exclude(pk=proposal.pk)
        proposals_cancel(actor=actor, proposals=others, reason="document deleted")
        document.delete()


def comment_create(*, actor: Principal, document: Document, body: str) -> Comment:
    body = _clean_body(body, limit=COMMENT_MAX, required=True)
    with transaction.atomic():
        _kept_document(document)
        comment = Comment.objects.create(public_id=new_public_id("cmt"), document=document, body=body, author=actor)
        record(events.COMMENT_CREATED, actor=actor, target=comment, workspace=document.workspace,
               details={"document": document.public_id})
    return comment


# Proposals (the consent gate) -------------------------------------------------------------


def proposal_create(*, actor: Principal, document: Document, reason: str = "") -> Proposal:
    with transaction.atomic():
        _kept_document(document)
        existing = Proposal.objects.filter(
            document=document, proposer=actor, status=ProposalStatus.PENDING, expires_at__gt=timezone.now()
        ).first()
        if existing is not None:
            return existing
        proposal = Proposal.objects.create(
            public_id=new_public_id("prp"), workspace=document.workspace, proposer=actor, owner_id=actor.owner_id,
            operation="document.delete", document=document, target_id=document.public_id,
            target_name=document.title, reason=(reason or "")[:500],
            expires_at=timezone.now() + timedelta(seconds=settings.DOCK_PROPOSAL_TTL_SECONDS),
        )
        record(events.PROPOSAL_CREATED, actor=actor, target=proposal, workspace=document.workspace,
               details={"operation": proposal.operation, "document": document.public_id})
    return proposal


def _locked(proposal: Proposal):
    """The proposal's row, locked until commit, with what deciding and recording it read."""
    return (
        Proposal.objects.select_for_update(of=("self",))
        .select_related("workspace", "workspace__org", "proposer", "proposer__org", "proposer__owner", "document")
        .filter(pk=proposal.pk)
    )


def _locked_pending(proposal: Proposal) -> Proposal:
    return _still_pending(_locked(proposal).get())


def _still_pending(proposal: Proposal) -> Proposal:
    if proposal.status != ProposalStatus.PENDING:
        raise InvalidTransition(f"This proposal is already {proposal.status}.")
    if proposal.expires_at <= timezone.now():
        raise ProposalExpired(proposal)
    return proposal


def proposal_expire_if_due(proposal: Proposal) -> bool:
    """Store that a pending proposal past its expiry has expired, in a transaction of its
    own (deciding one refuses, and its transaction rolls back). True if this call did."""
    with transaction.atomic():
        proposal = _locked(proposal).first()
        if proposal is None or proposal.status != ProposalStatus.PENDING or proposal.expires_at > timezone.now():
            return False
        proposal.status = ProposalStatus.EXPIRED
        proposal.save(update_fields=["status"])
        # Time ran out: the system's doing, not the proposer's (nor whoever's approval found it).
        record(events.PROPOSAL_EXPIRED, actor=SYSTEM, target=proposal, workspace=proposal.workspace,
               details={"proposer": proposal.proposer.public_id})
    return True


def proposal_approve(*, actor, proposal: Proposal) -> Proposal:
    """Carry out the operation, attributed to the proposer, with the approver recorded.
    Who may approve is decided by the caller (identity.consent)."""
    with transaction.atomic(), batch():
        # The proposer's access rows are share-locked before the proposal's row: the
        # changes that take that access away (removing or lowering the owner, revoking,
        # transferring or suspending the agent) lock those rows first and the proposals
        # after, to cancel them. Taken the other way round, the two would deadlock. The
        # proposer and workspace of a proposal never change, so reading it unlocked is
        # enough to find them; whether it is still pending is read again once locked.
        current = _still_pending(Proposal.objects.select_related("proposer", "proposer__owner").get(pk=proposal.pk))
        # The operation runs as the proposer, so the proposer must still be able to run
        # it now: paused, narrowed in scope, or out of the workspace, it cannot. The
        # proposal then stays pending (a paused agent may be resumed) until it expires.
        if not access.check(current.proposer_id, current.workspace_id, lock=True).allows(capabilities.DELETE):
            name, status = current.proposer.display_name, current.proposer.status
            if status == Status.PAUSED:
                # Its owner (or an admin of its org) resumes it; a decider who cannot, such
                # as an admin of a workspace it works in as another org's guest, is told who can.
                if isinstance(actor, Principal) and not may_manage_agent(actor, current.proposer):
                    owner = current.proposer.owner.display_name
                    raise InvalidTransition(
                        f"{name} is paused, so this proposal cannot run now: its owner, {owner}, can resume it; or reject the proposal."
                    )
                raise InvalidTransition(f"{name} is paused, so this proposal cannot run now: resume it first, or reject the proposal.")
            if status != Status.ACTIVE:
                raise InvalidTransition(f"{name} is {status}, so this proposal cannot run now.")
            raise InvalidTransition(f"{name} can no longer delete in this workspace, so this proposal cannot run now.")
        # The document before the proposal, as deleting a document (by a human, or by
        # approving another proposal on it) locks the document and then cancels the
        # proposals on it: one order, so neither can deadlock with this. Whoever waited
        # finds the document gone, and here the proposal cancelled with it.
        if current.document_id is not None:
            Document.objects.select_for_update().filter(pk=current.document_id).exists()
        proposal = _locked_pending(proposal)
        proposal.status = ProposalStatus.APPROVED
        proposal.decided_by = actor if isinstance(actor, Principal) else None
        proposal.decided_at = timezone.now()
        if proposal.document is not None:
            # Once deleted, the document is gone from the proposal: it names from now on
            # what was deleted, not the title it had when the agent asked.
            proposal.target_name = proposal.document.title
        proposal.save(update_fields=["status", "decided_by", "decided_at", "target_name"])
        record(events.PROPOSAL_APPROVED, actor=actor, target=proposal, workspace=proposal.workspace,
               details={"proposer": proposal.proposer.public_id, "operation": proposal.operation})
        if proposal.document is None:
            raise InvalidTransition("The document is already gone.")
        document_delete(actor=proposal.proposer, document=proposal.document, approved_by=actor, proposal=proposal)
    return proposal


def proposal_reject(*, actor, proposal: Proposal) -> Proposal:
    with transaction.atomic():
        proposal = _locked_pending(proposal)
        proposal.status = ProposalStatus.REJECTED
        proposal.decided_by = actor if isinstance(actor, Principal) else None
        proposal.decided_at = timezone.now()
        proposal.save(update_fields=["status", "decided_by", "decided_at"])
        record(events.PROPOSAL_REJECTED, actor=actor, target=proposal, workspace=proposal.workspace,
               details={"proposer": proposal.proposer.public_id})
    return proposal


def proposals_cancel(*, actor, proposals, reason: str) -> int:
    """Cancel those of `proposals` still pending (e.g. the proposer's owner left the
    workspace); returns how many this call cancelled.

    A decision may be committing on one of them meanwhile. Its row is locked here before
    it is written, and on PostgreSQL a row that was waited for is read again and kept out
    once no longer pending: an approval or rejection that committed first stays as it is,
    with no cancellation recorded over it. The rows are locked in id order, the order
    every writer that takes several of them uses, so two cascades cannot deadlock."""
    with transaction.atomic():
        pending = list(
            proposals.filter(status=ProposalStatus.PENDING)
            .select_for_update(of=("self",))
            .select_related("workspace", "workspace__org")
            .order_by("pk")
        )
        if pending:
            Proposal.objects.filter(pk__in=[p.pk for p in pending]).update(
                status=ProposalStatus.CANCELLED, decided_at=timezone.now(), cancelled_because=reason[:100])
            for proposal in pending:
                record(events.PROPOSAL_CANCELLED, actor=actor, target=proposal, workspace=proposal.workspace, details={"reason": reason})
    return len(pending)
