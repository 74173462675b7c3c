"""The application's PostgreSQL role cannot rewrite the audit log.

Two independent walls: the append-only triggers (audit.triggers) and the privileges of
the role the application runs as (`manage.py audit_db_role`). The test below takes the
first wall down, as a superuser could, and shows the second one holding on its own.
"""

import io
import re
import secrets

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from audit import events, triggers
from audit.management.commands.audit_db_role import AUDIT_TABLE, HEAD_TABLE, application_tables
from audit.models import AuditEvent
from audit.refs import SYSTEM, TargetRef
from audit.selectors import verify_chain
from audit.services import record
from conftest import Maker


def printed(**options) -> str:
    out = io.StringIO()
    call_command("audit_db_role", stdout=out, **options)
    return out.getvalue()


def grants_on(sql: str, table: str) -> set[str]:
    """Privileges the printed SQL grants on `table` (GRANT statements naming it)."""
    found = set()
    for statement in sql.split(";"):
        match = re.match(r"\s*GRANT (.+?) ON TABLE(.+?)TO ", statement, re.S)
        if match and f'"{table}"' in match.group(2):
            found |= {p.strip() for p in match.group(1).split(",")}
    return found


def test_printed_sql_grants_append_and_read_only_on_the_audit_table():
    sql = printed(role="dock_app")
    assert sql.count("BEGIN;") == 1 and sql.rstrip().endswith("COMMIT;")
    assert grants_on(sql, AUDIT_TABLE) == {"SELECT", "INSERT"}
    assert f'REVOKE ALL ON TABLE "{AUDIT_TABLE}" FROM "dock_app"' in sql
    assert grants_on(sql, HEAD_TABLE) == {"SELECT", "INSERT", "UPDATE"}
    for table in application_tables():
        assert grants_on(sql, table) == {"SELECT", "INSERT", "UPDATE", "DELETE"}, table
    assert "GRANT USAGE, SELECT ON SEQUENCE" in sql and "UPDATE ON SEQUENCE" not in sql
    assert "NOSUPERUSER" in sql and "NOBYPASSRLS" in sql


def test_every_model_table_but_the_audit_log_is_an_application_table():
    tables = application_tables()
    assert "identity_principal" in tables and "workspaces_document" in tables and "django_session" in tables
    assert AUDIT_TABLE not in tables and HEAD_TABLE not in tables


@pytest.mark.parametrize("role", ["Robert'); DROP TABLE x; --", "dock app", "", "x" * 64])
def test_role_names_are_plain_identifiers(role):
    with pytest.raises(CommandError, match="plain role name"):
        printed(role=role)


def test_apply_needs_postgresql(db):
    if connection.vendor == "postgresql":
        pytest.skip("the refusal is for other databases")
    with pytest.raises(CommandError, match="PostgreSQL"):
        printed(apply=True)


# On PostgreSQL: a real role ---------------------------------------------------------------------


def _sqlstate(exc: BaseException) -> str | None:
    cause = exc.__cause__ or exc
    return getattr(cause, "sqlstate", None)


def as_role(role: str, sql: str, params=None):
    """Run `sql` as `role` in its own transaction; return the cursor's rowcount."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f'SET LOCAL ROLE "{role}"')
        cursor.execute(sql, params)
        return cursor.rowcount


def refused(role: str, sql: str) -> DatabaseError:
    with pytest.raises(DatabaseError) as caught:
        as_role(role, sql)
    return caught.value


@pytest.fixture
def app_role(transactional_db):
    """A uniquely named role made by the command's SQL, dropped (with its grants) at the end."""
    if connection.vendor != "postgresql":
        pytest.skip("roles and privileges are PostgreSQL's")
    role = f"dock_test_{secrets.token_hex(4)}"
    try:
        yield role
    finally:
        triggers.install(connection)
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
            if cursor.fetchone():
                cursor.execute(f'DROP OWNED BY "{role}"')
                cursor.execute(f'DROP ROLE "{role}"')
            cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
            assert cursor.fetchone() is None


def append(n: int) -> None:
    with transaction.atomic():
        for i in range(n):
            record(events.ORG_CREATED, actor=SYSTEM, target=TargetRef("org", f"o{i}", f"Org {i}"))


@pytest.mark.postgres
def test_app_role_appends_but_cannot_rewrite_audit_events_even_without_the_triggers(app_role):
    assert "applied" in printed(role=app_role, apply=True)
    append(3)

    # The application works as this role: a whole story through the real services.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f'SET LOCAL ROLE "{app_role}"')
        cursor.execute("SELECT current_user")
        assert cursor.fetchone()[0] == app_role
        make = Maker()
        org = make.org(slug="walled")
        alice = make.human(org, "Alice")
        space = make.workspace(org, "plans")
        member = make.member(space, alice, "editor")
        bot, _ = make.agent(alice, "Scout", scope="read,write")
        document = make.document(space, bot, title="Plan")
        from dock.workspaces import services as ws

        ws.document_update(actor=bot, document=document, body="revised")
        ws.membership_remove(actor=SYSTEM, membership=member, allow_last_admin=True)
    appended = AuditEvent.objects.count()
    assert appended > 3
    assert as_role(app_role, f"SELECT count(*) FROM {AUDIT_TABLE}") == 1

    # It cannot take the first wall down: the triggers are the owner's.
    error = refused(app_role, f"ALTER TABLE {AUDIT_TABLE} DISABLE TRIGGER USER")
    assert _sqlstate(error) == "42501" and "must be owner" in str(error)
    error = refused(app_role, f"DROP TRIGGER audit_event_no_update ON {AUDIT_TABLE}")
    assert _sqlstate(error) == "42501" and "must be owner" in str(error)

    # A superuser takes the triggers away; as superuser, rewriting now works (rolled back) ...
    triggers.uninstall(connection)
    assert not (triggers.EXPECTED["postgresql"] & triggers.installed(connection))
    with pytest.raises(RuntimeError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"UPDATE {AUDIT_TABLE} SET actor_name = 'Mallory'")
        assert cursor.rowcount == appended
        raise RuntimeError("roll the superuser's edit back")

    # ... but the application's role is still refused, by its privileges alone.
    for sql in (
        f"UPDATE {AUDIT_TABLE} SET actor_name = 'Mallory'",
        f"UPDATE {AUDIT_TABLE} SET actor_name = 'Mallory' WHERE id = (SELECT max(id) FROM {AUDIT_TABLE})",
        f"DELETE FROM {AUDIT_TABLE}",
        f"DELETE FROM {AUDIT_TABLE} WHERE id = (SELECT max(id) FROM {AUDIT_TABLE})",
        f"TRUNCATE {AUDIT_TABLE}",
        f"SELECT id FROM {AUDIT_TABLE} FOR UPDATE",
    ):
        error = refused(app_role, sql)
        assert _sqlstate(error) == "42501", (sql, error)
        assert f"permission denied for table {AUDIT_TABLE}" in str(error), (sql, error)

    # Appending still works without the triggers, and nothing was rewritten.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f'SET LOCAL ROLE "{app_role}"')
        record(events.ORG_CREATED, actor=SYSTEM, target=TargetRef("org", "late", "Late"))
    assert AuditEvent.objects.count() == appended + 1
    assert not AuditEvent.objects.filter(actor_name="Mallory").exists()
    assert verify_chain().ok


@pytest.mark.postgres
def test_check_refuses_a_role_that_could_rewrite_audit_events(app_role):
    printed(role=app_role, apply=True)
    assert "may SELECT and INSERT" in printed(role=app_role, check=True)
    with connection.cursor() as cursor:
        cursor.execute(f'GRANT UPDATE, TRUNCATE ON {AUDIT_TABLE} TO "{app_role}"')
    with pytest.raises(CommandError, match=f"{app_role} can UPDATE {AUDIT_TABLE}; {app_role} can TRUNCATE"):
        printed(role=app_role, check=True)
    printed(role=app_role, apply=True)  # running it again takes the stray grant back
    assert "may SELECT and INSERT" in printed(role=app_role, check=True)


@pytest.mark.postgres
def test_check_refuses_the_owner_of_the_tables(transactional_db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        me = cursor.fetchone()[0]
    with pytest.raises(CommandError, match="superuser|owns"):
        printed(role=me, check=True)
