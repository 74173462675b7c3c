import base64
import binascii
import hashlib
import heapq
import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from django.core.cache import cache
from django.core.exceptions import EmptyResultSet
from django.db import connection, connections
from django.db.models import CharField, Count, Func, Q
from django.db.models.functions import Cast, Substr, TruncDate

from . import chain
from . import events as registry
from .models import After, AuditEvent, Before, ChainHead, CrossOrg

CHAIN_FIELDS = ("id", *chain.HASHED, "hash")


def chain_rows(chunk_size: int = 5000):
    """Every event as a dict of its columns, in chain order, without building models."""
    return AuditEvent.objects.order_by("id").values(*CHAIN_FIELDS).iterator(chunk_size=chunk_size)


def chain_head() -> dict:
    head = ChainHead.objects.filter(pk=1).first()
    if head is None:
        return {"hash": chain.GENESIS, "count": 0, "last_event_id": None}
    return {"hash": head.hash, "count": head.count, "last_event_id": head.last_event_id}


def verify_chain(head: dict | None = None) -> chain.VerifyResult:
    """Recompute the chain up to `head` (chain_head(), read now when not given)."""
    head = head or chain_head()
    # Only the events up to the head: writers keep appending while the rows stream, and an
    # event committed after the head was read is not a break, just past it. Every event
    # up to it committed with it (ids are drawn under the head's lock), none after.
    # The rows come the export's way (time preformatted in the hashed form, no model
    # instances): several times faster than chain_rows() over a long chain, same result.
    rows = _fast_chain_rows(upto=head["last_event_id"])
    return chain.verify(rows, expected_count=head["count"], expected_head=head["hash"])


def filtered_events(
    *,
    actor_id: str | None = None,
    actor_kind: str | None = None,
    owner_id: str | None = None,
    workspace: str | None = None,
    action: str | None = None,
    since=None,
    until=None,
    org: str | None = None,
):
    """Events matching every given filter (ids are public ids; `org` scopes to what an
    org's auditors may see: its workspaces' events and its principals' events)."""
    qs = AuditEvent.objects.all()
    if org:
        qs = qs.filter(scope_q(org))
    if actor_id:
        qs = qs.filter(actor_id=actor_id)
    if actor_kind:
        qs = qs.filter(actor_kind=actor_kind)
    if owner_id:
        qs = qs.filter(owner_id=owner_id)
    if workspace:
        qs = qs.filter(workspace=workspace)
    if action:
        qs = qs.filter(action__startswith=action[:-1]) if action.endswith("*") else qs.filter(action=action)
    if since:
        qs = qs.filter(occurred_at__gte=since)
    if until:
        qs = qs.filter(occurred_at__lt=until)
    return qs


# The audit log as people read it: scoped, filtered, newest first, a page at a time. ---------
#
# Every page is read with keyset pagination on (occurred_at, id), never OFFSET, so page
# 500 costs what page 1 costs. The query is split into "branches" — disjoint slices of the
# result, each one an equality on the leading columns of one index followed by the
# (occurred_at, id) range — so each is an index range scan that stops after one page; the
# branches' pages are merged here. That is what keeps an OR (or an IN list) from turning
# into "collect every match, then sort".
#
# The org scope (an org's auditors see events in its workspaces, and events by its
# principals anywhere) is `org = X OR actor_org = X`:
# - With no selective filter the two sides are two branches: `org = X` on its index, and
#   `actor_org = X AND (org = actor_org) IS FALSE` — the events X's principals caused in
#   other orgs — on a small partial index of cross-org events only (audit.models.CrossOrg).
# - With a selective filter (actor, owner, workspace or action) the filter's index drives
#   and the scope is checked on each row. An actor's events all carry its actor_org, a
#   workspace's all carry its org, so for the auditor's own principals and workspaces
#   every row in the range passes; for a foreign one only its events inside the scope do,
#   which bounds the reading by that principal's or workspace's own volume.


KINDS = ("human", "agent", "service", "system")
# Kinds that never have an accountable human (owner_id is empty for them), and those that do.
UNOWNED_KINDS = ("service", "system")
OWNED_KINDS = ("human", "agent")
MAX_BRANCHES = 16
PAGE_SIZE = 50


# The keyset position of the first page: after every event there can be.
TOP = (datetime.max.replace(tzinfo=UTC), 2**63 - 1)


class InvalidCursor(ValueError):
    pass


@dataclass(frozen=True)
class EventFilter:
    """What to read; every field is optional. Ids are public ids."""

    actor_ids: tuple[str, ...] = ()
    actor_kind: str = ""  # human | agent | service | system
    unowned: bool = False  # no accountable human: owner_id is empty
    owner_id: str = ""
    workspace: str = ""
    action: str = ""  # a registered name, or "group.*"
    since: datetime | None = None
    until: datetime | None = None  # exclusive
    leave_out: tuple[str, ...] = ()  # registered names not to read (a feed without sign-ins)

    def q(self) -> Q:
        q = Q()
        if self.actor_ids:
            q &= Q(actor_id=self.actor_ids[0]) if len(self.actor_ids) == 1 else Q(actor_id__in=self.actor_ids)
        if self.actor_kind:
            q &= Q(actor_kind=self.actor_kind)
        if self.unowned:
            q &= Q(owner_id="")
        if self.owner_id:
            q &= Q(owner_id=self.owner_id)
        if self.workspace:
            q &= Q(workspace=self.workspace)
        if self.action:
            q &= Q(action__startswith=self.action[:-1]) if self.action.endswith("*") else Q(action=self.action)
        if self.since:
            q &= Q(occurred_at__gte=self.since)
        if self.until:
            q &= Q(occurred_at__lt=self.until)
        if self.leave_out:
            q &= ~Q(action__in=self.leave_out)
        return q

    def actions(self) -> tuple[str, ...]:
        """The registered names the action filter stands for (a group expands)."""
        if not self.action:
            return ()
        if self.action.endswith("*"):
            prefix = self.action[:-1]
            return tuple(sorted(name for name in registry.REGISTRY if name.startswith(prefix)))
        return (self.action,)


def scope_q(org: str) -> Q:
    """What an org's auditors may read: its workspaces' events and its principals' events.

    Written as `org = X OR (actor_org = X AND (org = actor_org) IS FALSE)` — the same set
    as `org = X OR actor_org = X` — so that the second side matches the partial index of
    cross-org events."""
    return Q(org=org) | (Q(actor_org=org) & Q(CrossOrg()))


def visible_events(filters: EventFilter, *, org: str | None):
    """The filtered events an org's auditors may read (every event when `org` is None:
    operators and owners reading their own), as a queryset in no particular order."""
    qs = AuditEvent.objects.filter(filters.q())
    return qs.filter(scope_q(org)) if org is not None else qs


@dataclass
class EventPage:
    events: list
    next_cursor: str | None  # the next page, older events (`after` it); None on the oldest
    cursor: str | None = None  # the `after` position this page was read from
    prev_cursor: str | None = None  # the page before, newer events (`before` it); None on the newest
    branches: list = field(default_factory=list)  # the querysets read, for EXPLAIN in tests

    @property
    def has_next(self) -> bool:
        return self.next_cursor is not None

    @property
    def has_prev(self) -> bool:
        return self.prev_cursor is not None


def encode_cursor(occurred_at: datetime, event_id: int) -> str:
    raw = json.dumps([occurred_at.astimezone(UTC).isoformat(), event_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# A cursor the log writes is about 70 characters (an ISO time and an id). Anything much
# longer is not one of ours, and is refused before the JSON parser recurses into it.
CURSOR_MAX = 128


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        if len(cursor) > CURSOR_MAX:
            raise ValueError
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        when, event_id = json.loads(raw)
        occurred_at = datetime.fromisoformat(when)
        if (occurred_at.tzinfo is None or not isinstance(event_id, int) or isinstance(event_id, bool)
                or not 0 < event_id < 2**63):
            raise ValueError
        occurred_at = occurred_at.astimezone(UTC)  # an offset past the calendar's ends overflows here
    except (ValueError, TypeError, OverflowError, binascii.Error, UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidCursor("This page link is not valid any more; start again from the newest events.") from None
    return occurred_at, event_id


def _branches(filters: EventFilter, org: str | None) -> tuple[list[Q], bool]:
    """Disjoint slices of the result, each an equality prefix of one index, and whether
    the scope must still be checked row by row (it is not one of the slices)."""
    dims: list[list[Q]] = []
    if len(filters.actor_ids) > 1:
        dims.append([Q(actor_id=a) for a in filters.actor_ids])
    if filters.owner_id and not filters.actor_kind:
        # (owner_id, actor_kind, occurred_at, id): one slice per kind that has an owner.
        dims.append([Q(actor_kind=k) for k in OWNED_KINDS])
    if filters.unowned and not filters.actor_kind and not filters.owner_id:
        dims.append([Q(actor_kind=k) for k in UNOWNED_KINDS])
    if filters.action.endswith("*"):
        names = filters.actions()
        if not names:
            return [], False  # a group with no registered events matches nothing
        dims.append([Q(action=name) for name in names])
    selective = bool(filters.actor_ids or filters.owner_id or filters.unowned or filters.workspace or filters.action
                     or filters.actor_kind in UNOWNED_KINDS)
    row_scope = org is not None and selective
    if org is not None and not selective:
        dims.append([Q(org=org), Q(actor_org=org) & Q(CrossOrg())])
    branches = [Q()]
    for options in dims:
        if len(branches) * len(options) > MAX_BRANCHES:
            continue  # the filter itself still applies; this dimension just is not split
        branches = [b & o for b in branches for o in options]
    return branches, row_scope


def _read(filters: EventFilter, org: str | None, bound, *, newest_first: bool, limit: int):
    """Up to `limit` + 1 events past the keyset `bound`, in the direction read, and the
    querysets read (one per branch, each an index range scan from the bound)."""
    base = filters.q()
    if filters.actor_kind in UNOWNED_KINDS and not filters.owner_id:
        base &= Q(owner_id="")  # true of these kinds anyway; lets the owner index drive
    branches, row_scope = _branches(filters, org)
    if row_scope:
        base &= scope_q(org)
    base &= bound
    order = ("-occurred_at", "-id") if newest_first else ("occurred_at", "id")
    querysets = [AuditEvent.objects.filter(base & branch).order_by(*order)[: limit + 1] for branch in branches]
    if len(querysets) == 1:
        rows = list(querysets[0])
    else:
        rows = list(heapq.merge(*[list(qs) for qs in querysets], key=lambda e: (e.occurred_at, e.id),
                                reverse=newest_first))
    return rows[: limit + 1], querysets


def _position(event) -> str:
    return encode_cursor(event.occurred_at, event.id)


def events_page(filters: EventFilter, *, org: str | None, cursor: str | None = None, before: str | None = None,
                limit: int = PAGE_SIZE) -> EventPage:
    """One page of events, newest first: the newest ones, or those older than `cursor`
    (the `next_cursor` of the page before), or those newer than `before` (the
    `prev_cursor` of the page after). Either way the same index range scan, read from the
    position down or up, so a page deep in the log costs what the first one does.

    Raises InvalidCursor for a cursor this function did not make, or for both at once."""
    if cursor and before:
        raise InvalidCursor("This page link is not valid any more; start again from the newest events.")
    if before:
        at, event_id = decode_cursor(before)
        upward = filters
        if filters.since is not None and at >= filters.since:
            # Everything past the cursor is inside `since` already. Left in, the two lower
            # bounds compete, and SQLite starts its range at `since`, below the cursor.
            upward = replace(filters, since=None)
        rows, querysets = _read(upward, org, After(at, event_id), newest_first=False, limit=limit)
        if len(rows) <= limit:  # no more than a page is newer: that is the newest page
            return events_page(filters, org=org, limit=limit)
        rows = rows[:limit][::-1]
        return EventPage(events=rows, next_cursor=_position(rows[-1]), cursor=None, prev_cursor=_position(rows[0]),
                         branches=querysets)
    at, event_id = decode_cursor(cursor) if cursor else TOP
    if filters.until is not None and at < filters.until:
        filters = replace(filters, until=None)  # the same for `until` and a cursor below it
    rows, querysets = _read(filters, org, Before(at, event_id), newest_first=True, limit=limit)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = _position(rows[-1]) if more else None
    # Below a cursor, newer events exist (at least the one the cursor names).
    prev_cursor = (_position(rows[0]) if rows else cursor) if cursor else None
    return EventPage(events=rows, next_cursor=next_cursor, cursor=cursor, prev_cursor=prev_cursor, branches=querysets)


def principal_filter(public_id: str, kind: str, *, leave_out: tuple[str, ...] = (), owner_id: str = "") -> EventFilter:
    """What a profile shows of a principal, wherever it happened, but for the actions
    `leave_out`: a human's own events and their agents' (owner_id is them: they are
    accountable for both); an agent's or a service account's own — with `owner_id`,
    only those that human is accountable for. Its list and its chart read the same filter."""
    if kind == "human":
        return EventFilter(owner_id=public_id, leave_out=leave_out)
    return EventFilter(actor_ids=(public_id,), owner_id=owner_id, leave_out=leave_out)


def activity_for_owner(owner_public_id: str, limit: int = 20, *, leave_out: tuple[str, ...] = ()) -> list:
    """The latest events a human is accountable for (principal_filter), newest first. For
    "my agents' activity" on profiles and the dashboard."""
    if not owner_public_id:
        return []
    return events_page(principal_filter(owner_public_id, "human", leave_out=leave_out), org=None, limit=limit).events


# The activity chart: events per day by actor kind. -------------------------------------------

CHART_MAX_DAYS = 92
CHART_DEFAULT_DAYS = 30
CHART_CACHE_SECONDS = 600
# Bumped by anything that writes events into past days (the bulk loader), so cached
# counts of settled days are not trusted after it.
CHART_VERSION_KEY = "audit:daily:version"


def forget_daily_counts() -> None:
    try:
        cache.incr(CHART_VERSION_KEY)
    except ValueError:
        cache.set(CHART_VERSION_KEY, 2, None)


@dataclass
class DailyCounts:
    days: list  # [date], oldest first
    counts: dict  # {date: {kind: n}}
    first: datetime
    end: datetime  # exclusive

    @property
    def total(self) -> int:
        return sum(sum(c.values()) for c in self.counts.values())

    def by_kind(self) -> dict:
        totals = dict.fromkeys(KINDS, 0)
        for per_kind in self.counts.values():
            for kind, n in per_kind.items():
                totals[kind] = totals.get(kind, 0) + n
        return totals


def chart_window(filters: EventFilter, now: datetime | None = None) -> tuple[datetime, datetime]:
    """Whole UTC days covering the filter's time range, at most CHART_MAX_DAYS, ending
    today (or at `until`); the last CHART_DEFAULT_DAYS days when no range is given."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    tomorrow = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    end = tomorrow
    if filters.until:
        until = filters.until.astimezone(UTC)
        day = until.replace(hour=0, minute=0, second=0, microsecond=0)
        end = min(tomorrow, day if until == day else day + timedelta(days=1))
    if filters.since:
        start = filters.since.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    else:
        start = end - timedelta(days=CHART_DEFAULT_DAYS)
    start = max(start, end - timedelta(days=CHART_MAX_DAYS))
    if start >= end:
        start = end - timedelta(days=1)
    return start, end


def _count_by_day(filters: EventFilter, org: str | None, start: datetime, end: datetime) -> dict:
    lo = max(start, filters.since) if filters.since else start
    hi = min(end, filters.until) if filters.until else end
    if lo >= hi:
        return {}
    qs = visible_events(EventFilter(**{**filters.__dict__, "since": lo, "until": hi}), org=org)
    if connection.vendor == "sqlite":
        # Stored as UTC text: the date is its first ten characters (no per-row Python call).
        day = Substr("occurred_at", 1, 10)
    else:
        day = TruncDate("occurred_at", tzinfo=UTC)
    counts: dict = {}
    for row in qs.order_by().annotate(day=day).values("day", "actor_kind").annotate(n=Count("id")):
        when = row["day"]
        if isinstance(when, str):
            when = datetime.strptime(when, "%Y-%m-%d").date()
        counts.setdefault(when, {})[row["actor_kind"]] = row["n"]
    return counts


def daily_counts(filters: EventFilter, *, org: str | None, now: datetime | None = None) -> DailyCounts:
    """Events per UTC day and actor kind over the chart window of `filters`.

    Days before today never change (events are append-only and stamped when written), so
    their counts are cached for a while; today's are counted on every call."""
    start, end = chart_window(filters, now)
    now = (now or datetime.now(UTC)).astimezone(UTC)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    settled_end = min(end, today)
    counts: dict = {}
    if start < settled_end:
        version = cache.get_or_set(CHART_VERSION_KEY, 1)
        key = "audit:daily:" + _digest([version, org, filters.__dict__, start.isoformat(), settled_end.isoformat()])
        settled = cache.get(key)
        if settled is None:
            settled = _count_by_day(filters, org, start, settled_end)
            cache.set(key, settled, CHART_CACHE_SECONDS)
        counts.update(settled)
    if end > today:
        counts.update(_count_by_day(filters, org, max(start, today), end))
    days = [(start + timedelta(days=i)).date() for i in range((end - start).days)]
    return DailyCounts(days=days, counts=counts, first=start, end=end)


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:32]


# The chain as rows, for verification and export (audit.export). ------------------------------

class ExportTime(Func):
    """occurred_at as the export writes it (ISO 8601, UTC, microseconds, "Z"), made by the
    database so that no row needs Python to reshape it."""

    output_field = CharField()

    def as_postgresql(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"to_char({sql} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')", params

    def as_sql(self, compiler, connection, **extra):
        # SQLite keeps "2026-11-28 20:31:05.123456" in UTC, without the fraction when it
        # is zero. (An expression has no declared type, so the driver returns text.)
        sql, params = compiler.compile(self.source_expressions[0])
        text = f"CAST({sql} AS TEXT)"
        return (f"(replace(CASE WHEN length({text}) = 19 THEN {text} || '.000000' ELSE {text} END, ' ', 'T') || 'Z')",
                params * 3)


def stream_rows(values, chunk_size: int):
    """The rows of a `values_list` queryset in chunks, streamed from one statement, so
    memory stays flat however many rows there are; no model instances, no per-row ORM work."""
    try:
        sql, params = values.query.get_compiler(using=values.db).as_sql()
    except EmptyResultSet:  # known to be empty before asking (e.g. `actor_id__in=[]`)
        return
    conn = connections[values.db]
    if conn.vendor == "postgresql":
        yield from _streamed_postgres(conn, sql, params, chunk_size)
        return
    # SQLite's cursor streams by itself. Not in a transaction: Dock's SQLite transactions
    # take the write lock (IMMEDIATE).
    with conn.cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(chunk_size):
            yield rows


def _streamed_postgres(conn, sql: str, params, chunk_size: int):
    """psycopg's streamed result (libpq's chunked rows): PostgreSQL computes and sends rows
    while Python writes the ones before, where each FETCH of a server-side cursor would
    wait for its chunk to be computed. Memory stays within a chunk. Django's cursor does
    not stream, so this is psycopg's own, with Django's error wrapping."""
    conn.ensure_connection()
    with conn.wrap_database_errors, conn.connection.cursor() as cursor:
        rows = []
        for row in cursor.stream(sql, params, size=chunk_size):
            rows.append(row)
            if len(rows) == chunk_size:
                yield rows
                rows = []
        if rows:
            yield rows


def _chain_chunks(chunk_size: int, upto: int | None = None):
    """Every event in chain order (up to the id `upto`, when given): tuples of id and
    `chain.COLUMNS`, occurred_at in its hashed form and details as JSON text."""
    at_details = chain.COLUMNS.index("details")
    fields = ["id", "_at", *chain.COLUMNS[1:at_details], "_details", *chain.COLUMNS[at_details + 1:]]
    events = AuditEvent.objects.all() if upto is None else AuditEvent.objects.filter(id__lte=upto)
    values = events.order_by("id").annotate(_at=ExportTime("occurred_at"), _details=Cast("details", CharField()))
    return stream_rows(values.values_list(*fields), chunk_size)


def _fast_chain_rows(chunk_size: int = 5000, *, upto: int | None = None):
    names = ("id", *chain.COLUMNS)
    details = names.index("details")
    decode = json_decoder()
    for rows in _chain_chunks(chunk_size, upto):
        for row in rows:
            item = dict(zip(names, row))  # noqa: B905
            item["details"] = decode(row[details])
            yield item


def json_decoder(limit: int = 20_000):
    """json.loads for details text, remembering recent texts: many events carry the same
    small details. The dicts it returns are shared, so callers must not change them."""
    seen: dict = {}
    loads = json.loads

    def decode(text):
        if not text:
            return {}
        value = seen.get(text)
        if value is None:
            if len(seen) >= limit:
                seen.clear()
            value = seen[text] = loads(text)
        return value

    return decode
