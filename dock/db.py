"""Hot statements in raw SQL, prepared once per connection on PostgreSQL.

For the few statements that run on every request or every audited change, planning costs
as much as running: on PostgreSQL they are server-side prepared statements, once per
database connection (connections persist, CONN_MAX_AGE). They still go through Django's
cursor, so they are logged and counted like any other query.
"""

import weakref

from django.db import connection


class Statement:
    """SQL with %s placeholders; a named prepared statement on PostgreSQL when `types`
    (one PostgreSQL type per placeholder) are given. `prefix` is SQL without placeholders
    sent before it in the same round trip (on PostgreSQL)."""

    _prepared: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # raw connection → names

    def __init__(self, name: str, sql: str, types: list[str] | None = None, *, prefix: str = ""):
        self.name = name
        self.sql = sql
        self.types = types
        self.prefix = prefix
        parts = sql.split("%s")
        # On SQLite, named parameters: Django turns `%s` into `?` with a regular expression
        # over the whole statement on every execution, and `%(name)s` with one `%`.
        self.named_sql = parts[0] + "".join(f"%(p{i})s{part}" for i, part in enumerate(parts[1:]))
        if types is not None:
            assert len(parts) - 1 == len(types), name
            numbered = parts[0] + "".join(f"${i}{part}" for i, part in enumerate(parts[1:], start=1))
            self.prepare_sql = f"PREPARE {name} ({', '.join(types)}) AS {numbered}"
            self.execute_sql = f"EXECUTE {name}({', '.join(['%s'] * len(types))})"

    def run(self, cursor, params) -> None:
        """Execute with `params`; the cursor is left on the statement's own result."""
        if connection.vendor != "postgresql":
            cursor.execute(self.named_sql, {f"p{i}": value for i, value in enumerate(params)})
            return
        if self.types is None:
            cursor.execute(self.prefix + self.sql, params)
        else:
            done = self._prepared.setdefault(connection.connection, set())
            if self.name not in done:
                # Once per connection, on its own: PREPARE outlives a rolled-back transaction,
                # so it is recorded only once it has certainly happened.
                cursor.execute(self.prepare_sql)
                done.add(self.name)
            cursor.execute(self.prefix + self.execute_sql, params)
        if self.prefix:
            while cursor.nextset():
                pass  # past the prefix's results, to the statement's
