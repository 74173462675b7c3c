import json
import threading

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, close_old_connections, connection, transaction

from audit import chain, events, triggers
from audit.models import AuditEvent
from audit.refs import SYSTEM, TargetRef
from audit.selectors import chain_head, verify_chain
from audit.services import AuditError, batch, record


def write(n=1, action=events.ORG_CREATED):
    with transaction.atomic():
        for i in range(n):
            record(action, actor=SYSTEM, target=TargetRef("org", f"o{i}", f"Org {i}"), details={"i": i})


def test_record_refuses_outside_a_transaction(transactional_db):
    with pytest.raises(AuditError):
        record(events.ORG_CREATED, actor=SYSTEM)


def test_record_refuses_unregistered_names(db):
    with pytest.raises(AuditError), transaction.atomic():
        record("made.up", actor=SYSTEM)


def test_chain_links_every_event_and_verifies(db):
    write(5)
    rows = list(AuditEvent.objects.order_by("id").values())
    assert rows[0]["prev_hash"] == chain.GENESIS
    for before, after in zip(rows, rows[1:], strict=False):
        assert after["prev_hash"] == before["hash"]
    result = verify_chain()
    assert result.ok and result.count == 5
    assert chain_head() == {"hash": rows[-1]["hash"], "count": 5, "last_event_id": rows[-1]["id"]}


def test_batch_appends_in_order_with_one_chain(db):
    with transaction.atomic(), batch():
        for i in range(3):
            record(events.ORG_CREATED, actor=SYSTEM, details={"i": i})
        assert AuditEvent.objects.count() == 0  # appended at the end of the batch
    assert [e["i"] for e in AuditEvent.objects.order_by("id").values_list("details", flat=True)] == [0, 1, 2]
    assert verify_chain().ok


def test_hash_covers_every_exported_column(db):
    write(1)
    row = AuditEvent.objects.values(*chain.HASHED, "hash").get()
    for column in chain.HASHED:
        changed = dict(row)
        changed[column] = {"x": 1} if column == "details" else "tampered"
        assert chain.compute_hash(changed) != row["hash"], column


def test_export_columns_are_specs_in_order():
    assert chain.COLUMNS == (
        "occurred_at", "action", "actor_id", "actor_kind", "actor_name", "owner_id", "owner_name", "org",
        "workspace", "target_kind", "target_id", "target_name", "details", "request_id", "ip", "prev_hash", "hash",
    )


def test_triggers_exist_after_all_migrations(db):
    assert triggers.EXPECTED[connection.vendor] <= triggers.installed(connection)


@pytest.mark.parametrize("sql", ["UPDATE audit_auditevent SET actor_name = 'Mallory'", "DELETE FROM audit_auditevent"])
def test_database_rejects_update_and_delete(db, sql):
    write(2)
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)
    assert AuditEvent.objects.count() == 2
    assert set(AuditEvent.objects.values_list("actor_name", flat=True)) == {"Dock"}


def test_orm_update_and_delete_are_rejected_too(db):
    write(1)
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.update(action="org.deleted")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.filter(action=events.ORG_CREATED).count() == 1


@pytest.mark.postgres
def test_postgres_rejects_truncate(db):
    write(1)
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("TRUNCATE audit_auditevent")


def test_audit_verify_names_the_first_edited_event(db, capsys):
    write(4)
    call_command("audit_verify")
    assert json.loads(capsys.readouterr().out)["ok"] is True
    third = AuditEvent.objects.order_by("id")[2]
    triggers.uninstall(connection)  # what an attacker with DDL rights would do
    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET actor_name = 'Someone else' WHERE id = %s", [third.id])
    with pytest.raises(CommandError, match=f"event {third.id}"):
        call_command("audit_verify")


def test_audit_verify_notices_a_removed_tail(db):
    write(3)
    last = AuditEvent.objects.order_by("-id").first()
    triggers.uninstall(connection)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [last.id])
    result = verify_chain()
    assert not result.ok and "chain head" in result.reason


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_chain_stays_correct_under_concurrent_writers():
    errors = []

    def writer(n):
        try:
            for _ in range(n):
                write(1, action=events.ORG_CREATED)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=writer, args=(25,)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    result = verify_chain()
    assert result.ok and result.count == 200
