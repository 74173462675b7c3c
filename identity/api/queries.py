"""The API's hot-path reads as hand-written SQL over raw rows.

The column lists are derived from the models once, at import, so a renamed field breaks
loudly here rather than silently. Rules about who may do what are not in this module:
it fetches the facts, and `identity.access.decide` judges them.
"""

from datetime import UTC, datetime

from django.db import connection

from dock.workspaces.models import Document, Elevation, Membership, Workspace

from ..models import ApiKey, Org, Principal


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _fields(model):
    return [f for f in model._meta.concrete_fields]


def _select(model, alias: str) -> str:
    q = connection.ops.quote_name
    return ", ".join(f"{alias}.{q(f.column)}" for f in _fields(model))


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


def aware(value):
    """Raw SQLite rows carry naive UTC timestamps; PostgreSQL's are already aware."""
    if value is not None and isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


# Authentication: key + principal + org + owner, and optionally the caller's access facts
# in one workspace, in a single round trip. ---------------------------------------------

KEY_COLUMNS = 5  # id, digest, expires_at, revoked_at, last_used_at
PRINCIPAL = Columns(Principal, KEY_COLUMNS)
ORG = Columns(Org, PRINCIPAL.stop)
OWNER = Columns(Principal, ORG.stop)
WORKSPACE_START = OWNER.stop  # w.id, w.org_id, w.visibility, w.restricted, m.role, e.id, w.slug, w.name

_AUTH_BASE = f"""
SELECT k.id, k.digest, k.expires_at, k.revoked_at, k.last_used_at,
       {_select(Principal, "p")}, {_select(Org, "g")}, {_select(Principal, "o")}{{extra}}
FROM {_table(ApiKey)} k
JOIN {_table(Principal)} p ON p.id = k.principal_id
JOIN {_table(Org)} g ON g.id = p.org_id
LEFT JOIN {_table(Principal)} o ON o.id = p.owner_id{{joins}}
WHERE k.prefix = %s
"""

AUTH_SQL = _AUTH_BASE.format(extra="", joins="")
# The access join mirrors identity.access's query: the membership that counts is the
# owner's for an agent, the principal's own otherwise.
AUTH_IN_WORKSPACE_SQL = _AUTH_BASE.format(
    extra=", w.id, w.org_id, w.visibility, w.restricted, m.role, e.id, w.slug, w.name",
    joins=f"""
LEFT JOIN {_table(Workspace)} w ON w.slug = %s
LEFT JOIN {_table(Membership)} m ON m.workspace_id = w.id AND m.principal_id = COALESCE(p.owner_id, p.id)
LEFT JOIN {_table(Elevation)} e ON e.workspace_id = w.id AND e.agent_id = p.id""",
)


def auth_row(prefix: str, workspace_slug: str | None = None):
    with connection.cursor() as cursor:
        if workspace_slug is None:
            cursor.execute(AUTH_SQL, [prefix])
        else:
            cursor.execute(AUTH_IN_WORKSPACE_SQL, [workspace_slug, prefix])
        return cursor.fetchone()


# Documents of a workspace, newest first, with their authors. ------------------------------

DOCUMENT_ROW = "d.id, d.public_id, d.title, d.body, d.created_at, d.updated_at, a.public_id, a.handle, a.kind, a.display_name, a.avatar"

_DOCUMENTS = f"""
SELECT {DOCUMENT_ROW}
FROM {_table(Document)} d
LEFT JOIN {_table(Principal)} a ON a.id = d.author_id
WHERE d.workspace_id = %s{{after}}
ORDER BY d.created_at DESC, d.id DESC
LIMIT %s
"""
DOCUMENTS_SQL = _DOCUMENTS.format(after="")
DOCUMENTS_AFTER_SQL = _DOCUMENTS.format(after=" AND (d.created_at < %s OR (d.created_at = %s AND d.id < %s))")


def documents_page(workspace_id: int, *, limit: int, after: tuple[datetime, int] | None = None) -> list[tuple]:
    """Up to `limit` documents, newest first, strictly after the keyset position `after`."""
    with connection.cursor() as cursor:
        if after is None:
            cursor.execute(DOCUMENTS_SQL, [workspace_id, limit])
        else:
            at = connection.ops.adapt_datetimefield_value(after[0])
            cursor.execute(DOCUMENTS_AFTER_SQL, [workspace_id, at, at, after[1], limit])
        return cursor.fetchall()


# One document with the caller's access facts in its workspace. ---------------------------

DOCUMENT_ACCESS_SQL = f"""
SELECT {DOCUMENT_ROW}, w.id, w.org_id, w.visibility, w.restricted, w.slug, m.role, e.id
FROM {_table(Document)} d
JOIN {_table(Workspace)} w ON w.id = d.workspace_id
LEFT JOIN {_table(Principal)} a ON a.id = d.author_id
LEFT JOIN {_table(Membership)} m ON m.workspace_id = w.id AND m.principal_id = %s
LEFT JOIN {_table(Elevation)} e ON e.workspace_id = w.id AND e.agent_id = %s
WHERE d.public_id = %s
"""


def document_with_access(public_id: str, *, member_id: int, principal_id: int):
    with connection.cursor() as cursor:
        cursor.execute(DOCUMENT_ACCESS_SQL, [member_id, principal_id, public_id])
        return cursor.fetchone()
