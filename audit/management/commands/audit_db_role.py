"""The PostgreSQL role the application runs as: it reads and writes every table, but may
only SELECT and INSERT audit events. UPDATE, DELETE and TRUNCATE on the audit table are
not granted, so even with the append-only triggers gone the database refuses them.

    manage.py audit_db_role [--role NAME]            print the SQL
    manage.py audit_db_role [--role NAME] --apply    run it here (as the tables' owner)
    manage.py audit_db_role [--role NAME] --check    only check the role; exit 1 if it could rewrite audit events

The SQL is safe to run again; run it after every `migrate` so new tables are granted.
Migrations run as the owner of the tables, never as this role.
"""

import re

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connection, transaction

from audit.models import AuditEvent, ChainHead
from dock.commands import ErrorsInOneLine

AUDIT_TABLE = AuditEvent._meta.db_table
HEAD_TABLE = ChainHead._meta.db_table
# Read only: lets the application (and `migrate --check`) see which migrations ran.
MIGRATIONS_TABLE = "django_migrations"
ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
FORBIDDEN = ("UPDATE", "DELETE", "TRUNCATE")


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def application_tables() -> list[str]:
    """Every table of an installed model (many-to-many tables included), but the audit log's."""
    tables = {
        model._meta.db_table
        for model in apps.get_models(include_auto_created=True)
        if model._meta.managed and not model._meta.proxy
    }
    return sorted(tables - {AUDIT_TABLE, HEAD_TABLE})


def role_sql(role: str) -> list[str]:
    """The statements, in order; each is complete on its own."""
    r, name = _q(role), _lit(role)
    all_tables = [*application_tables(), HEAD_TABLE, AUDIT_TABLE, MIGRATIONS_TABLE]
    table_list = "\n    " + ",\n    ".join(_q(t) for t in application_tables()) + "\n"
    array = "ARRAY[" + ", ".join(_lit(t) for t in all_tables) + "]"
    return [
        f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {name}) THEN CREATE ROLE {r} LOGIN; END IF; END $$",
        # Whatever the role was before: no way around privileges, no way to make roles.
        f"ALTER ROLE {r} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS",
        f"DO $$ BEGIN\n  EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), {name});\n"
        f"  EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', current_schema(), {name});\n"
        f"  EXECUTE format('REVOKE CREATE ON SCHEMA %I FROM %I', current_schema(), {name});\nEND $$",
        # The application's own tables: read and write.
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE{table_list}TO {r}",
        f"REVOKE TRUNCATE, REFERENCES, TRIGGER ON TABLE{table_list}FROM {r}",
        f"REVOKE ALL ON TABLE {_q(MIGRATIONS_TABLE)} FROM {r}",
        f"GRANT SELECT ON TABLE {_q(MIGRATIONS_TABLE)} TO {r}",
        # The chain head: one row, locked and moved forward by every append, never removed.
        f"REVOKE ALL ON TABLE {_q(HEAD_TABLE)} FROM {r}",
        f"GRANT SELECT, INSERT, UPDATE ON TABLE {_q(HEAD_TABLE)} TO {r}",
        # The audit log: append and read. No UPDATE (which SELECT … FOR UPDATE needs too),
        # no DELETE, no TRUNCATE.
        f"REVOKE ALL ON TABLE {_q(AUDIT_TABLE)} FROM {r}",
        f"GRANT SELECT, INSERT ON TABLE {_q(AUDIT_TABLE)} TO {r}",
        # The sequences behind id columns (the audit table's included): next values only.
        "DO $$ DECLARE seq text; BEGIN FOR seq IN\n"
        "  SELECT pg_get_serial_sequence(format('%I.%I', c.table_schema, c.table_name), c.column_name)\n"
        "  FROM information_schema.columns c WHERE c.table_schema = current_schema()\n"
        f"  AND c.table_name = ANY ({array})\n"
        "  AND (c.is_identity = 'YES' OR c.column_default LIKE 'nextval(%')\n"
        f"LOOP IF seq IS NOT NULL THEN\n  EXECUTE format('REVOKE ALL ON SEQUENCE %s FROM %I', seq, {name});\n"
        f"  EXECUTE format('GRANT USAGE, SELECT ON SEQUENCE %s TO %I', seq, {name});\nEND IF; END LOOP; END $$",
    ]


def problems(role: str) -> list[str]:
    """What would let `role` rewrite audit events (or keep the app from appending them)."""
    found = []
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = %s", [role])
        row = cursor.fetchone()
        if row is None:
            return [f"there is no role {role!r}"]
        if row[0]:
            found.append(f"{role} is a superuser")
        cursor.execute(
            "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = to_regclass(%s)", [AUDIT_TABLE]
        )
        owner = cursor.fetchone()
        if owner is None:
            return [*found, f"there is no table {AUDIT_TABLE} here: run migrate first"]
        cursor.execute("SELECT pg_has_role(%s, %s, 'USAGE')", [role, owner[0]])
        if cursor.fetchone()[0]:
            found.append(f"{role} owns {AUDIT_TABLE} (or acts as its owner {owner[0]}): run migrations as another role")
        for privilege in FORBIDDEN:
            cursor.execute("SELECT has_table_privilege(%s, %s, %s)", [role, AUDIT_TABLE, privilege])
            if cursor.fetchone()[0]:
                found.append(f"{role} can {privilege} {AUDIT_TABLE}")
        for privilege in ("SELECT", "INSERT"):
            cursor.execute("SELECT has_table_privilege(%s, %s, %s)", [role, AUDIT_TABLE, privilege])
            if not cursor.fetchone()[0]:
                found.append(f"{role} cannot {privilege} {AUDIT_TABLE}")
    return found


class Command(ErrorsInOneLine, BaseCommand):
    help = "Print (or --apply) the SQL for an application role that cannot UPDATE, DELETE or TRUNCATE audit events."

    def add_arguments(self, parser):
        parser.add_argument("--role", default="dock_app", help="role name (default: dock_app)")
        action = parser.add_mutually_exclusive_group()
        action.add_argument("--apply", action="store_true", help="run the SQL on the configured database, then check")
        action.add_argument("--check", action="store_true", help="only check the role on the configured database")

    def handle(self, *args, role, apply, check, **options):
        if not ROLE_NAME.match(role):
            raise CommandError(f"{role!r} is not a plain role name (lowercase letters, digits, underscores).")
        statements = role_sql(role)
        if not (apply or check):
            self.stdout.write(f"-- Dock application role {role}: reads and writes every table; audit events: SELECT and INSERT only.")
            self.stdout.write("-- Run as the owner of the tables (the role that runs migrations), again after every migrate.")
            self.stdout.write("BEGIN;")
            for sql in statements:
                self.stdout.write(sql + ";")
            self.stdout.write("COMMIT;")
            return
        if connection.vendor != "postgresql":
            raise CommandError("Database roles and privileges are a PostgreSQL feature; this database is " + connection.vendor + ".")
        try:
            with transaction.atomic():
                if apply:
                    with connection.cursor() as cursor:
                        for sql in statements:
                            cursor.execute(sql)
                found = problems(role)
                if found:
                    raise CommandError("; ".join(found))
        except DatabaseError as exc:
            raise CommandError(f"could not set up {role}: {str(exc).strip()}") from None
        self.stdout.write(
            f"{role}: may SELECT and INSERT {AUDIT_TABLE}; UPDATE, DELETE and TRUNCATE are not granted."
            + (" (applied)" if apply else "")
        )
