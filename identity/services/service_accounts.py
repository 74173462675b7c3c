from django.db import transaction

from audit import events
from audit.services import batch, record

from ..errors import Conflict, InvalidInput, InvalidTransition
from ..models import Kind, Org, Principal, Status
from ..signals import service_adopted, service_revoked
from .keys import _new_key, keys_revoke_all
from .principals import clean_display_name, locked_active_human, named, principal_build


def service_create(*, actor, org: Org, name: str, handle: str | None = None) -> tuple[Principal, str]:
    """An org-owned automation: no human owner, access only by explicit grants. Its name is
    its own in the org (the CLI and the tells name it so)."""
    name = clean_display_name(name)
    with transaction.atomic():
        # One name, one account: creations in the org take turns. FOR NO KEY UPDATE does not
        # conflict with the key-share locks that inserting the org's principals and
        # workspaces take on this row (their foreign keys), so those are not held up.
        Org.objects.select_for_update(no_key=True).filter(pk=org.pk).first()
        twin = named(Principal.objects.filter(org=org, kind=Kind.SERVICE), name).values_list("handle", flat=True).first()
        if twin:
            raise Conflict(
                f"{org.slug} already has a service account called {name!r} (@{twin}): choose another name.",
                fields={"name": f"{org.name} already has a service account called “{name}”: choose another name."},
            )
        service = principal_build(kind=Kind.SERVICE, org=org, display_name=name, handle=handle)
        key, plaintext = _new_key(actor=actor, principal=service)
        record(events.SERVICE_CREATED, actor=actor, target=service, details={"key": key.prefix})
    return service, plaintext


def _locked_service(service: Principal) -> Principal:
    locked = Principal.objects.select_for_update(of=("self",)).select_related("org").get(pk=service.pk)
    if locked.kind != Kind.SERVICE:
        raise InvalidInput(f"{locked.handle} is not a service account.")
    return locked


def service_revoke(*, actor, service: Principal) -> Principal:
    # Its events are appended at the end: cancelling its proposals locks their rows, and
    # the audit chain head is the last lock a writer takes.
    with transaction.atomic(), batch():
        service = _locked_service(service)
        if service.status == Status.REVOKED:
            raise InvalidTransition(f"{service.handle} is already revoked.")
        service.status = Status.REVOKED
        service.save(update_fields=["status"])
        record(events.SERVICE_REVOKED, actor=actor, target=service)
        keys_revoke_all(actor=actor, principal=service, reason="service account revoked")
        service_revoked.send(sender=Principal, service=service, actor=actor)
    return service


def service_adopt(
    *, actor, service: Principal, owner: Principal, scope: int | None = None, issue_key: bool = True
) -> tuple[Principal, str | None]:
    """Turn a service account into an agent owned by `owner`, in one transaction.

    The principal (id, handle, history) stays; explicit grants go (receivers), access
    comes from the new owner from now on; old keys are destroyed and, with `issue_key`,
    one new key issued (a key carries the owner's access: the dashboard issues it only
    when the admin adopting is the new owner; the others issue theirs on the profile).
    `scope` is the agent's scope (capability bits, never manage); without it the
    principal keeps its scope, or gets read, comment and write if it has none.
    """
    from .. import capabilities
    from .agents import check_scope

    if scope is not None:
        check_scope(scope)
    from dock.workspaces.models import Membership
    from dock.workspaces.services import workspaces_lock

    with transaction.atomic(), batch():
        # The workspaces of the account's grants first, as every change to members takes
        # them: its grants go, and a write of the account's in flight there holds the
        # workspace, then the grant, then the account's row (access.check). Locking the
        # account's row first deadlocked with such a write.
        workspaces_lock(Membership.objects.filter(principal=service).values_list("workspace_id", flat=True))
        # The new owner's row before the account's: an agent's access rests on its owner's,
        # and a grant in flight holds the granting admin's access rows (share) before it
        # locks the account. When that admin is the new owner, the other order deadlocked.
        owner = locked_active_human(owner)
        if owner is None:
            raise InvalidInput("The new owner must be an active human.", fields={"owner": "Choose an active human."})
        service = _locked_service(service)
        if service.status == Status.REVOKED:
            raise InvalidTransition(f"{service.handle} is revoked.")
        if owner.org_id != service.org_id:
            raise InvalidInput("The new owner must belong to the service account's org.")
        service_adopted.send(sender=Principal, principal=service, actor=actor)
        revoked = keys_revoke_all(actor=actor, principal=service, reason="adopted as agent")
        service.kind = Kind.AGENT
        service.owner = owner
        if scope is not None:
            service.scope = scope
        elif not service.scope:
            service.scope = capabilities.READ | capabilities.COMMENT | capabilities.WRITE
        service.save(update_fields=["kind", "owner", "scope"])
        key, plaintext = _new_key(actor=actor, principal=service) if issue_key else (None, None)
        record(
            events.SERVICE_ADOPTED,
            actor=actor,
            target=service,
            details={
                "owner": owner.public_id, "owner_name": owner.display_name, "scope": capabilities.names(service.scope),
                "keys_revoked": revoked, "key": key.prefix if key else None,
            },
        )
    return service, plaintext
