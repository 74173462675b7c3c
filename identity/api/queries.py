"""The API's hot-path reads as hand-written SQL over raw rows.

The column lists are derived from the models once, at import, so a renamed field breaks
loudly here rather than silently. Rules about who may do what are not in this module:
it fetches the facts, and `identity.access.decide` judges them.

On PostgreSQL the statements of the hot read are server-side prepared statements
(dock.db.Statement): a seven-table join costs more to plan than to run.
"""

from datetime import UTC, datetime

from django.db import connection

from dock.db import Statement
from dock.workspaces.models import Document, Elevation, Membership, Workspace

from ..models import ApiKey, Org, Principal

POSTGRES = connection.vendor == "postgresql"


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _fields(model):
    return list(model._meta.concrete_fields)


def _select(model, alias: str) -> str:
    q = connection.ops.quote_name
    return ", ".join(f"{alias}.{q(f.column)}" for f in _fields(model))


def aware(value):
    """Raw SQLite rows carry naive UTC timestamps; PostgreSQL's are already aware."""
    if value is not None and isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def iso_column(column: str) -> str:
    """A timestamp column as the API writes it (ISO 8601, UTC, microseconds: see
    rendering.iso), formatted by the database: turning each value into a datetime and
    back costs more than the rest of a row. SQLite keeps Django's text form
    ('YYYY-MM-DD HH:MM:SS[.ffffff]', UTC), which is rearranged here."""
    if POSTGRES:
        return f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')"""
    return (f"substr({column}, 1, 10) || 'T' || substr({column}, 12, 8) || '.' "
            f"|| substr(substr({column}, 21) || '000000', 1, 6) || '+00:00'")


def timestamp(value):
    """A timestamp from a row: text from iso_column, or a datetime."""
    if value is None or isinstance(value, datetime):
        return aware(value)
    return datetime.fromisoformat(value)


class Columns:
    """Where each model's columns sit in a row, and which of them are timestamps."""

    def __init__(self, model, start: int):
        fields = _fields(model)
        self.model = model
        self.start = start
        self.stop = start + len(fields)
        self.attnames = [f.attname for f in fields]
        self.datetimes = [start + i for i, f in enumerate(fields) if f.get_internal_type() == "DateTimeField"]
        self.at = {name: start + i for i, name in enumerate(self.attnames)}

    def build(self, row, db: str = "default"):
        values = list(row[self.start:self.stop])
        for i in self.datetimes:
            values[i - self.start] = aware(values[i - self.start])
        return self.model.from_db(db, self.attnames, values)


# Authentication: key + principal + owner in a single round trip. ---------------------------
#
# Every variant starts with the same twelve columns (CORE); the full variant adds every
# column of principal, org and owner (so that writes get model instances without another
# query); the hot variant adds the caller's access facts in one workspace instead.

CORE = (f"k.id, k.digest, {iso_column('k.expires_at')}, {iso_column('k.revoked_at')}, {iso_column('k.last_used_at')}, "
        "p.id, p.kind, p.status, p.scope, p.org_id, p.owner_id, o.status")
CORE_COLUMNS = 12
PRINCIPAL = Columns(Principal, CORE_COLUMNS)
ORG = Columns(Org, PRINCIPAL.stop)
OWNER = Columns(Principal, ORG.stop)
WORKSPACE_START = CORE_COLUMNS  # hot variant: w.id, w.org_id, w.visibility, w.restricted, m.role, e.id

_FROM = f"""
FROM {_table(ApiKey)} k
JOIN {_table(Principal)} p ON p.id = k.principal_id
LEFT JOIN {_table(Principal)} o ON o.id = p.owner_id"""

AUTH = Statement("dock_api_auth", f"""
SELECT {CORE}, {_select(Principal, "p")}, {_select(Org, "g")}, {_select(Principal, "o")}{_FROM}
JOIN {_table(Org)} g ON g.id = p.org_id
WHERE k.prefix = %s""")

# The access join mirrors identity.access's query: the membership that counts is the
# owner's for an agent, the principal's own otherwise.
AUTH_IN_WORKSPACE = Statement("dock_api_auth_ws", f"""
SELECT {CORE}, w.id, w.org_id, w.visibility, w.restricted, m.role, e.id{_FROM}
LEFT JOIN {_table(Workspace)} w ON w.slug = %s
LEFT JOIN {_table(Membership)} m ON m.workspace_id = w.id AND m.principal_id = COALESCE(p.owner_id, p.id)
LEFT JOIN {_table(Elevation)} e ON e.workspace_id = w.id AND e.agent_id = p.id
WHERE k.prefix = %s""", types=["text", "text"])


def auth_row(prefix: str, workspace_slug: str | None = None):
    with connection.cursor() as cursor:
        if workspace_slug is None:
            AUTH.run(cursor, [prefix])
        else:
            AUTH_IN_WORKSPACE.run(cursor, [workspace_slug, prefix])
        return cursor.fetchone()


def created_at(row) -> datetime:
    """A DOCUMENT_ROW's creation time (its keyset position)."""
    return timestamp(row[4])


def is_full(row) -> bool:
    return len(row) == OWNER.stop


# Documents of a workspace, newest first, with their authors. ------------------------------

DOCUMENT_ROW = (f"d.id, d.public_id, d.title, d.body, {iso_column('d.created_at')}, {iso_column('d.updated_at')}, "
                "a.public_id, a.handle, a.kind, a.display_name, a.avatar")

_DOCUMENTS = f"""
SELECT {DOCUMENT_ROW}
FROM {_table(Document)} d
LEFT JOIN {_table(Principal)} a ON a.id = d.author_id
WHERE d.workspace_id = %s{{after}}
ORDER BY d.created_at DESC, d.id DESC
LIMIT %s"""
DOCUMENTS = Statement("dock_api_docs", _DOCUMENTS.format(after=""), types=["bigint", "bigint"])
DOCUMENTS_AFTER = Statement(
    "dock_api_docs_after",
    _DOCUMENTS.format(after=" AND (d.created_at < %s OR (d.created_at = %s AND d.id < %s))"),
    types=["bigint", "timestamptz", "timestamptz", "bigint", "bigint"],
)


def documents_page(workspace_id: int, *, limit: int, after: tuple[datetime, int] | None = None) -> list[tuple]:
    """Up to `limit` documents, newest first, strictly after the keyset position `after`
    (rows as DOCUMENT_ROW)."""
    with connection.cursor() as cursor:
        if after is None:
            DOCUMENTS.run(cursor, [workspace_id, limit])
        else:
            at = connection.ops.adapt_datetimefield_value(after[0])
            DOCUMENTS_AFTER.run(cursor, [workspace_id, at, at, after[1], limit])
        return cursor.fetchall()


# The hot read in one round trip: key + principal + owner + access in the workspace, and
# the page of its documents. The page is fetched alongside the facts it depends on and
# simply dropped when they deny access; it never leaves the process then. ------------------

_DOCS_DERIVED = (
    "docs.id, docs.public_id, docs.title, docs.body, docs.created, docs.updated, "
    "docs.a_public_id, docs.a_handle, docs.a_kind, docs.a_name, docs.a_avatar"
)
HOT_DOCUMENTS_START = CORE_COLUMNS + 6

_HOT = f"""
SELECT {CORE}, w.id, w.org_id, w.visibility, w.restricted, m.role, e.id, {_DOCS_DERIVED}{_FROM}
LEFT JOIN {_table(Workspace)} w ON w.slug = %s
LEFT JOIN {_table(Membership)} m ON m.workspace_id = w.id AND m.principal_id = COALESCE(p.owner_id, p.id)
LEFT JOIN {_table(Elevation)} e ON e.workspace_id = w.id AND e.agent_id = p.id
LEFT JOIN (
    SELECT d.id, d.public_id, d.title, d.body,
           {iso_column("d.created_at")} AS created, {iso_column("d.updated_at")} AS updated,
           a.public_id AS a_public_id, a.handle AS a_handle, a.kind AS a_kind, a.display_name AS a_name,
           a.avatar AS a_avatar, d.created_at AS sort_at
    FROM {_table(Document)} d
    LEFT JOIN {_table(Principal)} a ON a.id = d.author_id
    WHERE d.workspace_id = (SELECT ws.id FROM {_table(Workspace)} ws WHERE ws.slug = %s){{after}}
    ORDER BY d.created_at DESC, d.id DESC
    LIMIT %s
) docs ON 1 = 1
WHERE k.prefix = %s
ORDER BY docs.sort_at DESC, docs.id DESC"""
HOT_READ = Statement("dock_api_read", _HOT.format(after=""), types=["text", "text", "bigint", "text"])
HOT_READ_AFTER = Statement(
    "dock_api_read_after",
    _HOT.format(after=" AND (d.created_at < %s OR (d.created_at = %s AND d.id < %s))"),
    types=["text", "text", "timestamptz", "timestamptz", "bigint", "bigint", "text"],
)


# Where a statement costs a network round trip (PostgreSQL), the hot read is this one
# statement. In-process (SQLite) two are cheaper: the key's row and then the page, which
# is fetched only once access is decided, instead of every document row also carrying
# the eighteen columns of the key's facts.
HOT_READ_IN_ONE = POSTGRES


def hot_read(prefix: str, workspace_slug: str, *, limit: int, after: tuple[datetime, int] | None = None) -> list[tuple]:
    """Rows of CORE + access facts + DOCUMENT_ROW (None-filled when the page is empty);
    no rows at all when the key prefix is unknown."""
    with connection.cursor() as cursor:
        if after is None:
            HOT_READ.run(cursor, [workspace_slug, workspace_slug, limit, prefix])
        else:
            at = connection.ops.adapt_datetimefield_value(after[0])
            HOT_READ_AFTER.run(cursor, [workspace_slug, workspace_slug, at, at, after[1], limit, prefix])
        return cursor.fetchall()


# One document with the caller's access facts in its workspace. ---------------------------

DOCUMENT_ACCESS = Statement("dock_api_doc", f"""
SELECT {DOCUMENT_ROW}, w.id, w.org_id, w.visibility, w.restricted, w.slug, m.role, e.id
FROM {_table(Document)} d
JOIN {_table(Workspace)} w ON w.id = d.workspace_id
LEFT JOIN {_table(Principal)} a ON a.id = d.author_id
LEFT JOIN {_table(Membership)} m ON m.workspace_id = w.id AND m.principal_id = %s
LEFT JOIN {_table(Elevation)} e ON e.workspace_id = w.id AND e.agent_id = %s
WHERE d.public_id = %s""", types=["bigint", "bigint", "text"])


def document_with_access(public_id: str, *, member_id: int, principal_id: int):
    with connection.cursor() as cursor:
        DOCUMENT_ACCESS.run(cursor, [member_id, principal_id, public_id])
        return cursor.fetchone()
