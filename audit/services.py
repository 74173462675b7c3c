"""`record` is the only code that writes audit events."""

import contextlib
import contextvars

from django.db import connection
from django.db.models import Subquery
from django.utils import timezone

from . import chain, context, events
from .models import AuditEvent, ChainHead
from .refs import as_actor, as_target, as_workspace


class AuditError(RuntimeError):
    pass


_batch: contextvars.ContextVar[list | None] = contextvars.ContextVar("dock_audit_batch", default=None)


# PostgreSQL checks Django's foreign keys (DEFERRABLE INITIALLY DEFERRED) at COMMIT, that
# is after the head lock: a check that waits for a row locked by a writer that is itself
# queued for the head would deadlock (rotating a key while its agent is being paused;
# commenting on a document while it is being edited). So the transaction's pending checks
# run first, while nothing waits on it, and the head is locked next, in the same round
# trip. Later statements are deferred again, as before (every deferrable constraint in
# the schema is an initially deferred foreign key).
_SETTLE_AND_LOCK = (
    "SET CONSTRAINTS ALL IMMEDIATE; SET CONSTRAINTS ALL DEFERRED; "
    "SELECT id, hash, count, last_event_id FROM {table} WHERE id = 1 FOR UPDATE"
)


def _locked_head() -> ChainHead:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_SETTLE_AND_LOCK.format(table=connection.ops.quote_name(ChainHead._meta.db_table)))
            while cursor.description is None and cursor.nextset():
                pass  # past the two SETs, to the head row
            row = cursor.fetchone()
        if row is not None:
            return ChainHead.from_db(connection.alias, ["id", "hash", "count", "last_event_id"], row)
    head = ChainHead.objects.select_for_update().filter(pk=1).first()
    if head is None:
        ChainHead.objects.bulk_create([ChainHead(pk=1, hash=chain.GENESIS, count=0)], ignore_conflicts=True)
        head = ChainHead.objects.select_for_update().get(pk=1)
    return head


def _require_transaction() -> None:
    if not connection.in_atomic_block:
        raise AuditError("audit events must be recorded inside the transaction of the change they record")


def _prepare(action, *, actor, target, workspace, org, details) -> dict:
    if action not in events.REGISTRY:
        raise AuditError(f"unregistered audit event {action!r}")
    who = as_actor(actor)
    what = as_target(target)
    where = as_workspace(workspace)
    request_id, ip = context.current()
    return {
        "action": action,
        "actor_id": who.id,
        "actor_kind": who.kind,
        "actor_name": who.name[:200],
        "owner_id": who.owner_id,
        "owner_name": who.owner_name[:200],
        "org": org or (where.org if where else "") or (what.org if what else "") or who.org,
        "actor_org": who.org,
        "workspace": where.slug if where else "",
        "target_kind": what.kind if what else "",
        "target_id": what.id if what else "",
        "target_name": (what.name if what else "")[:200],
        "details": details or {},
        "request_id": request_id,
        "ip": ip or "",
    }


_FIELDS = (*chain.HASHED[:8], "actor_org", *chain.HASHED[8:], "hash")


def _insert_many(rows: list[dict]) -> None:
    """One executemany for a batch: the ORM's bulk_create splits into many statements on
    SQLite and builds a model per row, which dominated large cascades."""
    table = AuditEvent._meta.db_table
    quote = connection.ops.quote_name
    details = AuditEvent._meta.get_field("details")
    sql = f"INSERT INTO {quote(table)} ({', '.join(quote(f) for f in _FIELDS)}) VALUES ({', '.join(['%s'] * len(_FIELDS))})"
    params = []
    for row in rows:
        values = dict(row)
        values["occurred_at"] = connection.ops.adapt_datetimefield_value(row["occurred_at"])
        values["details"] = details.get_db_prep_save(row["details"], connection)
        params.append([values[name] for name in _FIELDS])
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def _append(rows: list[dict]) -> None:
    # The head row lock orders writers: each event's prev_hash is the hash of the event
    # committed just before it, on PostgreSQL as on SQLite. Held until commit, so it is
    # the last lock a writer takes.
    head = _locked_head()
    now = timezone.now()
    prev = head.hash
    for row in rows:
        row["occurred_at"] = now
        row["prev_hash"] = prev
        row["hash"] = prev = chain.compute_hash(row)
    if len(rows) == 1:
        event = AuditEvent(**rows[0])
        event.save(force_insert=True)
        ChainHead.objects.filter(pk=1).update(hash=prev, count=head.count + 1, last_event_id=event.pk)
        return
    _insert_many(rows)
    ChainHead.objects.filter(pk=1).update(
        hash=prev,
        count=head.count + len(rows),
        last_event_id=Subquery(AuditEvent.objects.filter(hash=prev).values("id")[:1]),
    )


def record(action: str, *, actor, target=None, workspace=None, org: str | None = None, details=None) -> None:
    """Append one event to the chain, inside the caller's transaction.

    Called outside a transaction it refuses: an event that could commit without its
    change (or a change without its event) is exactly what the audit log exists to rule out.
    """
    _require_transaction()
    row = _prepare(action, actor=actor, target=target, workspace=workspace, org=org, details=details)
    pending = _batch.get()
    if pending is not None:
        pending.append(row)
    else:
        _append([row])


@contextlib.contextmanager
def batch():
    """Collect the events recorded inside the block and append them in one go at its end
    (one head lock, one insert): for cascades that record many events. The block must be
    inside the change's transaction; if it raises, nothing is appended (and the
    transaction rolls back with the exception)."""
    _require_transaction()
    if _batch.get() is not None:  # nested: the outer batch appends
        yield
        return
    pending: list[dict] = []
    token = _batch.set(pending)
    try:
        yield
    finally:
        _batch.reset(token)
    if pending:
        _append(pending)
