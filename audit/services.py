"""`record` is the only code that writes audit events."""

import contextlib
import contextvars
from datetime import UTC

from django.db import connection
from django.utils import timezone

from dock.db import Statement

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
_HEAD = ChainHead._meta.db_table
_EVENTS = AuditEvent._meta.db_table
_LOCK = f"SELECT hash, count FROM {_HEAD} WHERE id = 1 FOR UPDATE"
_SETTLE = "SET CONSTRAINTS ALL IMMEDIATE; SET CONSTRAINTS ALL DEFERRED; "
_SETTLE_AND_LOCK = _SETTLE + _LOCK
_GENESIS = f"INSERT INTO {_HEAD} (id, hash, count) VALUES (1, %s, 0) ON CONFLICT DO NOTHING"


def _locked_head(cursor) -> tuple[str, int]:
    """(hash, count) of the chain head, row-locked until commit."""
    postgres = connection.vendor == "postgresql"
    for _attempt in range(2):
        if postgres:
            cursor.execute(_SETTLE_AND_LOCK)
            while cursor.description is None and cursor.nextset():
                pass  # past the two SETs, to the head row
        else:
            # SQLite: BEGIN IMMEDIATE already serialises writers; FOR UPDATE is not SQL there.
            cursor.execute(_LOCK.removesuffix(" FOR UPDATE"))
        row = cursor.fetchone()
        if row is not None:
            return row[0], row[1]
        cursor.execute(_GENESIS, [chain.GENESIS])  # an empty database: start the chain
    raise AuditError("the audit chain head could not be locked")


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
_COLUMNS = ", ".join(_FIELDS)
_ROW = "(" + ", ".join(["%s"] * len(_FIELDS)) + ")"
_SET_HEAD = f"UPDATE {_HEAD} SET hash = %s, count = %s, last_event_id = {{last}} WHERE id = 1"
_PG_CHUNK = 2000  # rows per statement: 18 parameters each, under PostgreSQL's 65,535


def _params(rows: list[dict], names: tuple[str, ...] = _FIELDS) -> list[list]:
    """Each row's values of the columns `names`, as the database takes them."""
    if connection.vendor == "sqlite":
        # As Django would store them (naive UTC time, JSON text), without its per-value
        # settings lookups and encoder on this hot path.
        time, details = _sqlite_time, chain.json_text
    else:
        time = connection.ops.adapt_datetimefield_value
        field = AuditEvent._meta.get_field("details")

        def details(value):
            return field.get_db_prep_save(value, connection)

    out = []
    for row in rows:
        values = dict(row, occurred_at=time(row["occurred_at"]), details=details(row["details"]))
        out.append([values[name] for name in names])
    return out


def _sqlite_time(value) -> str:
    """An aware datetime as Django stores it in SQLite: `str()` of it as naive UTC."""
    return str(value.astimezone(UTC).replace(tzinfo=None))


def _write(cursor, rows: list[dict], count: int) -> None:
    """Insert several events (a batch) and move the head, in raw SQL: the ORM's per-row
    model building and statement compiling cost more than the database work on this hot
    path. `count` is the head's count after the rows."""
    params = _params(rows)
    head = [rows[-1]["hash"], count]
    if connection.vendor == "postgresql":
        # One round trip per chunk: the insert and the head update in one statement.
        for start in range(0, len(params), _PG_CHUNK):
            chunk = params[start:start + _PG_CHUNK]
            last = start + len(chunk) >= len(params)
            values = ", ".join([_ROW] * len(chunk))
            flat = [value for row in chunk for value in row]
            if last:
                cursor.execute(
                    f"WITH ins AS (INSERT INTO {_EVENTS} ({_COLUMNS}) VALUES {values} RETURNING id) "
                    + _SET_HEAD.format(last="(SELECT max(id) FROM ins)"),
                    flat + head,
                )
            else:
                cursor.execute(f"INSERT INTO {_EVENTS} ({_COLUMNS}) VALUES {values}", flat)
        return
    cursor.executemany(f"INSERT INTO {_EVENTS} ({_COLUMNS}) VALUES {_ROW}", params)
    # The writer holds SQLite's write lock: the newest id is its own last event.
    cursor.execute(_SET_HEAD.format(last=f"(SELECT max(id) FROM {_EVENTS})"), head)


# One event (the common case): one round trip on PostgreSQL, two statements on SQLite,
# where locking the head, hashing in Python and then writing took three. A statement reads
# the head (on PostgreSQL it locks it, after the pending foreign-key checks have settled:
# see _HEAD above; on SQLite the writer already holds the database) and inserts the event
# linked to it. The database hashes the canonical form with the head it has just read, as
# `before || head || after` (chain.canonical_around_prev): the same bytes chain.verify
# hashes, so verification needs no database to agree with it. Then the head moves: in the
# same statement on PostgreSQL, in a second one on SQLite (which has no DML in a CTE).
_LINKED = tuple(name for name in _FIELDS if name not in ("prev_hash", "hash"))
_TYPES = {"occurred_at": "timestamptz", "details": "jsonb"}
_INSERT_LINKED = (
    f"INSERT INTO {_EVENTS} ({', '.join(_LINKED)}, prev_hash, hash) "
    f"SELECT {', '.join(['%s'] * len(_LINKED))}, head.hash, {{sha256_hex}} FROM {{head}}"
)
_CANONICAL = "%s || head.hash || %s"
_PG_APPEND_ONE = Statement(
    "dock_audit_append",
    f"WITH head AS (SELECT hash, count FROM {_HEAD} WHERE id = 1 FOR UPDATE), ins AS ("
    + _INSERT_LINKED.format(sha256_hex=f"encode(sha256(convert_to({_CANONICAL}, 'UTF8')), 'hex')", head="head")
    + f" RETURNING id, hash) UPDATE {_HEAD} SET hash = ins.hash, count = head.count + 1, last_event_id = ins.id "
    f"FROM ins, head WHERE {_HEAD}.id = 1",
    types=[_TYPES.get(name, "text") for name in _LINKED] + ["text", "text"],
    prefix=_SETTLE,
)
# dock_sha256 is chain.sha256_hex, registered on every SQLite connection (audit.apps). No
# CTE: Python's sqlite3 counts the rows of a statement only when it starts with INSERT.
_SQLITE_APPEND_ONE = Statement(
    "dock_audit_append",
    _INSERT_LINKED.format(sha256_hex=f"dock_sha256({_CANONICAL})", head=f"{_HEAD} AS head WHERE head.id = 1"),
)
_SQLITE_MOVE_HEAD = (
    f"UPDATE {_HEAD} SET hash = (SELECT hash FROM {_EVENTS} WHERE id = last_insert_rowid()), "
    "count = count + 1, last_event_id = last_insert_rowid() WHERE id = 1"
)


def _write_linked(cursor, row: dict) -> None:
    statement = _PG_APPEND_ONE if connection.vendor == "postgresql" else _SQLITE_APPEND_ONE
    params = _params([row], _LINKED)[0] + list(chain.canonical_around_prev(row))
    for _attempt in range(2):
        statement.run(cursor, params)
        if cursor.rowcount == 1:
            if statement is _SQLITE_APPEND_ONE:
                cursor.execute(_SQLITE_MOVE_HEAD)
            return
        cursor.execute(_GENESIS, [chain.GENESIS])  # an empty database: start the chain
    raise AuditError("the audit chain head could not be locked")


def _append(rows: list[dict]) -> None:
    # The head row lock orders writers: each event's prev_hash is the hash of the event
    # committed just before it, on PostgreSQL as on SQLite. Held until commit, so it is
    # the last lock a writer takes.
    with connection.cursor() as cursor:
        now = timezone.now()
        if len(rows) == 1:
            rows[0]["occurred_at"] = now
            _write_linked(cursor, rows[0])  # reads (and locks) the head itself
            return
        prev, count = _locked_head(cursor)
        for row in rows:
            row["occurred_at"] = now
            row["prev_hash"] = prev
            row["hash"] = prev = chain.compute_hash(row)
        _write(cursor, rows, count + len(rows))


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
