from contextlib import contextmanager

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils.text import slugify

from audit import events
from audit.services import batch, record

from ..errors import Conflict, InvalidInput, InvalidTransition
from ..models import Kind, Org, OrgRole, Principal, Status, User
from ..signals import principal_deactivated, principal_deleting
from .principals import clean_display_name, principal_build
from .sessions import sessions_end


def normalize_email(email: str) -> str:
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise InvalidInput(f"{email!r} is not a valid email address.", fields={"email": "Enter a valid email address."}) from None
    # The validator lets 320 characters through, the column and the login form hold 254:
    # longer, PostgreSQL refused the row and SQLite kept an address nobody could sign in with.
    limit = User._meta.get_field("email").max_length
    if len(email) > limit:
        raise InvalidInput(f"Email addresses are at most {limit} characters.", fields={"email": f"At most {limit} characters."})
    return email


def clean_slug(slug) -> str:
    """An org's or a workspace's slug, as its URLs take it: what slugify keeps."""
    slug = (slug or "").strip().lower()
    if not slug or slugify(slug) != slug or len(slug) > 64:
        raise InvalidInput(f"{slug!r} is not a valid slug (lowercase letters, digits, hyphens, underscores).",
                           fields={"slug": "Use lowercase letters, digits, hyphens and underscores."})
    return slug


@contextmanager
def claiming(existing: QuerySet, taken: Conflict):
    """Around a block (its own transaction, or a savepoint when nested) that creates the
    row `existing` finds: `taken` when there is one already, and also when a concurrent
    request (a double click) commits it while this one waits on the unique index. The
    insert then fails and the block is rolled back; the answer is the conflict, not a
    server error."""
    if existing.exists():
        raise taken
    try:
        yield
    except IntegrityError:
        if existing.exists():
            raise taken from None
        raise


def org_create(*, actor, slug: str, name: str) -> Org:
    slug = clean_slug(slug)
    name = clean_display_name(name)
    taken = Conflict(f"An org with the slug {slug!r} already exists.", fields={"slug": "That slug is taken."})
    with claiming(Org.objects.filter(slug=slug), taken), transaction.atomic():
        org = Org.objects.create(slug=slug, name=name)
        record(events.ORG_CREATED, actor=actor, target=org, org=org.slug)
    return org


def user_create(
    *,
    actor,
    email: str,
    org: Org,
    display_name: str | None = None,
    role: str = OrgRole.MEMBER,
    password: str | None = None,
    handle: str | None = None,
) -> User:
    email = normalize_email(email)
    if role not in OrgRole.values:
        raise InvalidInput(f"Unknown org role {role!r} (choose from {', '.join(OrgRole.values)}).", fields={"role": "Unknown role."})
    registered = Conflict(f"A user with the email {email!r} already exists.", fields={"email": "That email is already registered."})
    # A free handle taken meanwhile is chosen again by principal_build.
    with claiming(User.objects.filter(email=email), registered), transaction.atomic():
        principal = principal_build(kind=Kind.HUMAN, org=org, display_name=display_name or email.split("@")[0], handle=handle)
        user = User(principal=principal, email=email, org_role=role)
        if password:
            try:
                validate_password(password, user)
            except ValidationError as exc:
                raise InvalidInput(" ".join(exc.messages), fields={"password": " ".join(exc.messages)}) from None
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save()
        # A human is accountable for themselves: when they create their own account,
        # the actor is the new principal.
        record(events.HUMAN_CREATED, actor=principal if actor is None else actor, target=principal,
               details={"email": email, "org_role": role})
    return user


def user_set_role(*, actor, user: User, role: str) -> User:
    if role not in OrgRole.values:
        raise InvalidInput(f"Unknown org role {role!r}.", fields={"role": "Unknown role."})
    with transaction.atomic():
        old = user.org_role
        if old == role:
            return user
        user.org_role = role
        user.save(update_fields=["org_role"])
        record(events.HUMAN_ROLE_CHANGED, actor=actor, target=user.principal, details={"from": old, "to": role})
    return user


def user_set_password(*, actor, user: User, password: str) -> User:
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise InvalidInput(" ".join(exc.messages), fields={"password": " ".join(exc.messages)}) from None
    with transaction.atomic():
        user.set_password(password)
        user.save(update_fields=["password"])
        record(events.HUMAN_PASSWORD_CHANGED, actor=actor, target=user.principal)
    return user


def user_deactivate(*, actor, user: User) -> User:
    """Deactivate a human: their sessions end, and (by receivers, in this same
    transaction) their agents are suspended and every agent key revoked."""
    with transaction.atomic(), batch():
        principal = Principal.objects.select_for_update().get(pk=user.principal_id)
        if principal.status == Status.DEACTIVATED:
            raise InvalidTransition(f"{user.email} is already deactivated.")
        principal.status = Status.DEACTIVATED
        principal.save(update_fields=["status"])
        user.principal = principal
        record(events.HUMAN_DEACTIVATED, actor=actor, target=principal)
        sessions_end(user=user)
        principal_deactivated.send(sender=User, principal=principal, actor=actor)
    return user


def user_reactivate(*, actor, user: User) -> User:
    """Reactivating the owner does not restore their agents: an org admin does that."""
    with transaction.atomic():
        principal = Principal.objects.select_for_update().get(pk=user.principal_id)
        if principal.status != Status.DEACTIVATED:
            raise InvalidTransition(f"{user.email} is not deactivated.")
        principal.status = Status.ACTIVE
        principal.save(update_fields=["status"])
        user.principal = principal
        record(events.HUMAN_REACTIVATED, actor=actor, target=principal)
    return user


def user_delete(*, actor, user: User) -> None:
    """Delete a human and, by cascade, their agents. Audit events stay."""
    from django.db.models import Q

    from dock.workspaces.models import Workspace
    from dock.workspaces.services import workspaces_lock

    with transaction.atomic(), batch():
        # The workspaces the deletion changes first (their memberships go, their creator
        # is cleared), as every change to members takes them: a write of the person's or
        # their agents' in flight there holds the workspace before their membership.
        workspaces_lock(
            Workspace.objects.filter(Q(memberships__principal_id=user.principal_id) | Q(created_by_id=user.principal_id))
            .values_list("pk", flat=True)
        )
        principal = Principal.objects.select_related("org").get(pk=user.principal_id)
        agents = list(principal.agents.values_list("public_id", flat=True))
        principal_deleting.send(sender=User, principal=principal, actor=actor)
        record(events.HUMAN_DELETED, actor=actor, target=principal, details={"email": user.email, "agents": agents})
        principal.delete()
