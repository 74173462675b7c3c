"""`record` is the only code that writes audit events."""

from django.db import connection, transaction
from django.utils import timezone

from . import chain, context, events
from .models import AuditEvent, ChainHead
from .refs import as_actor, as_target, as_workspace


class AuditError(RuntimeError):
    pass


def _locked_head() -> ChainHead:
    head = ChainHead.objects.select_for_update().filter(pk=1).first()
    if head is None:
        ChainHead.objects.bulk_create([ChainHead(pk=1, hash=chain.GENESIS, count=0)], ignore_conflicts=True)
        head = ChainHead.objects.select_for_update().get(pk=1)
    return head


def record(action: str, *, actor, target=None, workspace=None, org: str | None = None, details=None) -> AuditEvent:
    """Append one event to the chain, inside the caller's transaction.

    Called outside a transaction it refuses: an event that could commit without its
    change (or a change without its event) is exactly what the audit log exists to rule out.
    """
    if action not in events.REGISTRY:
        raise AuditError(f"unregistered audit event {action!r}")
    if not connection.in_atomic_block:
        raise AuditError("audit.record must run inside the transaction of the change it records")
    who = as_actor(actor)
    what = as_target(target)
    where = as_workspace(workspace)
    request_id, ip = context.current()

    with transaction.atomic():
        # The head row lock orders writers: each event's prev_hash is the hash of the
        # event committed just before it, on PostgreSQL as on SQLite.
        head = _locked_head()
        row = {
            "occurred_at": timezone.now(),
            "action": action,
            "actor_id": who.id,
            "actor_kind": who.kind,
            "actor_name": who.name[:200],
            "owner_id": who.owner_id,
            "owner_name": who.owner_name[:200],
            "org": org or (where.org if where else "") or (what.org if what else "") or who.org,
            "workspace": where.slug if where else "",
            "target_kind": what.kind if what else "",
            "target_id": what.id if what else "",
            "target_name": (what.name if what else "")[:200],
            "details": details or {},
            "request_id": request_id,
            "ip": ip or "",
            "prev_hash": head.hash,
        }
        row["hash"] = chain.compute_hash(row)
        event = AuditEvent.objects.create(actor_org=who.org, **row)
        ChainHead.objects.filter(pk=1).update(hash=row["hash"], count=head.count + 1, last_event_id=event.id)
    return event
