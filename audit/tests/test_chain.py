import json
import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, close_old_connections, connection, transaction
from hypothesis import given
from hypothesis import strategies as st

from audit import chain, events, triggers
from audit.models import AuditEvent
from audit.refs import SYSTEM, TargetRef
from audit.selectors import chain_head, verify_chain
from audit.services import AuditError, _sqlite_time, batch, record


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


# The canonical form is defined by the json module; orjson writes it when it can do so
# byte for byte (chain.orjson_exact). Hostile text, and the numbers the two write differently.
_text = st.text(st.one_of(st.sampled_from(list('"\\/\n\r\t\b\f\x00\x01\x1f\x7f\u2028é€😀')),
                          st.characters(exclude_categories=("Cs",))), max_size=10)
_json = st.recursive(
    st.one_of(st.none(), st.booleans(), _text, st.integers(), st.integers(-(2**70), 2**70),
              st.sampled_from([1e-05, 1e16, 0.1, -0.0, 2**63, 2**64, -(2**63) - 1]), st.floats(allow_nan=False)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_text, inner, max_size=3)),
    max_leaves=8,
)
_times = st.datetimes(min_value=datetime(1, 1, 2), timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5))]))


def reference_canonical(row: dict) -> bytes:
    payload = {name: row[name] for name in chain.HASHED}
    payload["occurred_at"] = payload["occurred_at"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@given(text=_text, details=st.dictionaries(_text, _json, max_size=4), at=_times)
def test_canonical_form_is_the_json_modules_bytes(text, details, at):
    row = {name: text for name in chain.HASHED} | {"details": details, "occurred_at": at, "prev_hash": "9f" * 32}
    assert chain.canonical(row) == reference_canonical(row)
    before, after = chain.canonical_around_prev(row)
    assert (before + row["prev_hash"] + after).encode() == reference_canonical(row)


@pytest.mark.parametrize("at", [datetime(2026, 11, 29, 1, 2, 3, tzinfo=UTC), datetime(2026, 11, 29, 1, 2, 3, 4, tzinfo=UTC),
                                datetime(999, 1, 2, tzinfo=UTC), datetime(2026, 1, 1, 23, 59, tzinfo=timezone(timedelta(hours=-5)))])
def test_sqlite_times_are_stored_as_django_stores_them(at):
    if connection.vendor != "sqlite":
        pytest.skip("the SQLite spelling of a time")
    assert _sqlite_time(at) == connection.ops.adapt_datetimefield_value(at)


def test_an_event_appended_while_the_chain_is_read_is_not_a_break(db, monkeypatch):
    """Verification reads the head, then the events: one committed in between (the log
    keeps growing while it is checked) is past the head it checks, not a broken chain."""
    from audit import selectors

    write(3)
    read_head = selectors.chain_head

    def head_then_a_writer_commits():
        head = read_head()
        write(1)
        return head

    monkeypatch.setattr(selectors, "chain_head", head_then_a_writer_commits)
    result = selectors.verify_chain()
    assert result.ok, result.reason
    assert result.count == 3 and result.head == AuditEvent.objects.order_by("id")[2].hash
