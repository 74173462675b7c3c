"""Export: exactly the filtered set, in chain order, streamed, safe to open in a spreadsheet."""

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from django.http import StreamingHttpResponse
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from audit import chain, events
from audit.export import FORMATS, stream
from audit.models import AuditEvent
from audit.selectors import CHAIN_FIELDS, EventFilter, filtered_events, visible_events
from audit.tests import test_audit_ui_support as support
from audit.tests.test_audit_ui_support import NOW, activity, client_for, record_at

pytestmark = pytest.mark.django_db
world = support.world
fresh_cache = support.fresh_cache

HEADER = ("occurred_at,action,actor_id,actor_kind,actor_name,owner_id,owner_name,org,workspace,target_kind,target_id,"
          "target_name,details,request_id,ip,prev_hash,hash")


def export_rows(qs):
    """The reference's input: events as dicts of their columns, in chain order."""
    return qs.order_by("id").values(*CHAIN_FIELDS)


def body(response) -> str:
    assert isinstance(response, StreamingHttpResponse)
    return b"".join(response.streaming_content).decode()


def in_chain_order(predicate, org="acme") -> list[AuditEvent]:
    return [e for e in AuditEvent.objects.order_by("id") if (e.org == org or e.actor_org == org) and predicate(e)]


def test_csv_is_exactly_the_filtered_set_in_chain_order_with_the_spec_header(world):
    activity(world)
    response = client_for(world.auditor).get("/audit/export.csv", {"owner": world.alice.public_id, "kind": "agent"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="audit-acme-')
    assert response["Content-Disposition"].endswith('.csv"')
    text = body(response)
    assert text.splitlines()[0] == HEADER
    rows = list(csv.DictReader(io.StringIO(text)))
    want = in_chain_order(lambda e: e.owner_id == world.alice.public_id and e.actor_kind == "agent")
    assert [r["hash"] for r in rows] == [e.hash for e in want]
    assert len(want) >= 3
    first = rows[0]
    assert first["occurred_at"] == chain.format_time(want[0].occurred_at)
    assert first["actor_id"] == want[0].actor_id and first["owner_name"] == "Alice Adams"


def test_jsonl_has_the_spec_keys_in_order_and_recomputes_to_the_same_hashes(world):
    activity(world)
    text = body(client_for(world.auditor).get("/audit/export.jsonl", {"workspace": "research"}))
    lines = [json.loads(line) for line in text.splitlines()]
    want = in_chain_order(lambda e: e.workspace == "research")
    assert [row["hash"] for row in lines] == [e.hash for e in want]
    for row in lines:
        assert tuple(row) == chain.COLUMNS
        assert chain.compute_hash(row) == row["hash"]  # anyone can check an export offline
    assert isinstance(lines[0]["details"], dict)


def test_export_and_page_list_the_same_set(world):
    made = activity(world)
    params = {"range": "30d", "kind": "agent"}
    client = client_for(world.auditor)
    text = body(client.get("/audit/export.jsonl", params))
    exported = {json.loads(line)["hash"] for line in text.splitlines()}
    listed = client.get("/audit/", params).content.decode()
    for event in AuditEvent.objects.filter(hash__in=exported):
        assert f'id="event-{event.id}"' in listed
    since = datetime.now(UTC) - timedelta(days=30)
    assert exported == {e.hash for e in in_chain_order(lambda e: e.actor_kind == "agent" and e.occurred_at >= since)}
    assert made["courier_in_acme_1d"].hash in exported and made["courier_in_globex_1d"].hash not in exported


def test_export_is_scoped_to_the_readers_org(world):
    made = activity(world)
    acme = {json.loads(line)["hash"] for line in body(client_for(world.auditor).get("/audit/export.jsonl")).splitlines()}
    globex = {json.loads(line)["hash"] for line in body(client_for(world.auditor_b).get("/audit/export.jsonl")).splitlines()}
    assert made["carol_globex_20d"].hash in globex and made["carol_globex_20d"].hash not in acme
    assert made["scribe_today"].hash in acme and made["scribe_today"].hash not in globex
    assert made["courier_in_acme_1d"].hash in acme & globex
    assert acme == {e.hash for e in in_chain_order(lambda e: True)}


def test_csv_neutralises_formulas_wherever_people_can_type(world, make):
    sneaky, _ = make.agent(world.alice, "=HYPERLINK(\"http://x\",\"y\")")
    from audit.refs import TargetRef

    record_at(NOW, events.DOCUMENT_UPDATED, actor=sneaky, workspace=world.research,
              target=TargetRef("document", "doc_1", "+cmd|' /C calc'!A0"), details={"note": "=1+1"})
    record_at(NOW, events.COMMENT_CREATED, actor=sneaky, workspace=world.research,
              target=TargetRef("comment", "cmt_1", "@SUM(1,2)"))
    record_at(NOW, events.COMMENT_CREATED, actor=sneaky, workspace=world.research,
              target=TargetRef("comment", "cmt_2", "-2+3"))
    text = body(client_for(world.auditor).get("/audit/export.csv", {"actor": sneaky.public_id}))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 3
    for row in rows:
        for name, value in row.items():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), (name, value)
    assert rows[0]["actor_name"] == "'=HYPERLINK(\"http://x\",\"y\")"
    assert rows[0]["target_name"] == "'+cmd|' /C calc'!A0"
    assert {r["target_name"] for r in rows[1:]} == {"'@SUM(1,2)", "'-2+3"}
    assert json.loads(rows[0]["details"]) == {"note": "=1+1"}  # inside JSON, not at the cell's start


def test_fast_path_writes_what_the_cli_writes(world):
    """What the web export and `dock audit export` stream is what FORMATS defines, byte for byte."""
    made = activity(world)
    # Odd content: unicode, quotes, commas, newlines, a zero-microsecond instant.
    record_at(NOW.replace(microsecond=0), events.DOCUMENT_UPDATED, actor=world.scribe, workspace=world.ops,
              details={"title": "Café, \"quoted\"\nline", "n": [1, -2], "z": None})
    assert made
    for qs in (filtered_events(), filtered_events(org="acme"), filtered_events(actor_kind="agent", org="globex")):
        for fmt in ("csv", "jsonl"):
            slow = "".join(FORMATS[fmt](export_rows(qs)))
            fast = "".join(stream(qs, fmt, chunk_size=7))
            assert fast == slow


def test_rows_with_text_to_quote_or_escape_among_plain_ones_keep_their_place(world, monkeypatch):
    """On SQLite the database writes plain CSV lines and Python writes the rest again by
    the definition (several statements per chunk here): each line stays in chain order,
    in both formats."""
    from audit import export
    from audit.refs import TargetRef

    monkeypatch.setattr(export, "_READ_AGAIN", 2)
    names = ["plain", "Doe, Jane", 'say "hi"', "two\nlines", "=SUM(A1)", "also plain", "back\\slash", "tab\there",
             "bell\x07", "a,b", "Café ☕", 'e"f']
    for n, name in enumerate(names):
        record_at(NOW + timedelta(seconds=n), events.DOCUMENT_UPDATED, actor=world.scribe, workspace=world.ops,
                  target=TargetRef("document", f"doc_{n}", name))
    qs = filtered_events(workspace="ops")
    for fmt in ("csv", "jsonl"):
        for chunk_size in (1, 4, 2000):
            assert "".join(stream(qs, fmt, chunk_size=chunk_size)) == "".join(FORMATS[fmt](export_rows(qs)))


# Text as people type it: any character a database keeps (not NUL; no lone surrogates,
# which no request can carry), weighted towards the ones CSV and JSON treat specially.
_typed = st.text(st.one_of(st.sampled_from(list('=+-@%\t\r\n,"\'\\ ;é€😀\x01\x1f\x7f\u2028')),
                           st.characters(exclude_categories=("Cs",), exclude_characters="\x00")), max_size=12)


def _alone(text: str) -> dict:
    """An event whose only special character is in its target's name (the fast paths test
    a whole row at once: each character must send the row down the careful path alone)."""
    return {"name": text, "target_id": "doc_1", "request_id": "", "value": "v", "key": "k", "number": 1}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@example(**_alone("\x01"))
@example(**_alone("\x1f"))
@example(**_alone('say "hi"'))
@example(**_alone("back\\slash"))
@example(**_alone("two\nlines"))
@example(**_alone("a, b"))
@example(**_alone("=1+1"))
@given(name=_typed, target_id=_typed, request_id=_typed, value=_typed, key=_typed,
       number=st.one_of(st.sampled_from([1e-05, 1e-07, 1e16, 0.1, 2**63, 2**64, -(2**63) - 1]),  # formatted differently by
                        st.integers(-(2**53), 2**53),                                    # orjson, or beyond it
                        st.floats(allow_nan=False, allow_infinity=False), st.booleans(), st.none()))
def test_the_database_writes_the_lines_the_definition_writes(world, name, target_id, request_id, value, key, number):
    """Whatever text reaches an event, the lines the database writes (stream) are the
    lines FORMATS defines, byte for byte, in both formats."""
    from audit import context
    from audit.refs import TargetRef

    with transaction.atomic():
        with context.bound(request_id=request_id, ip="10.0.0.1"):
            record_at(NOW, events.DOCUMENT_UPDATED, actor=world.scribe, workspace=world.ops,
                      target=TargetRef("document", target_id, name), details={key: value, "n": number, "z": [value]})
        qs = filtered_events(workspace="ops")
        for fmt in ("csv", "jsonl"):
            assert "".join(stream(qs, fmt, chunk_size=3)) == "".join(FORMATS[fmt](export_rows(qs)))
        transaction.set_rollback(True)


def test_empty_export_is_just_the_header(world):
    text = body(client_for(world.auditor).get("/audit/export.csv", {"actor": "agt_nobody1234"}))
    assert text == HEADER + "\n"
    assert body(client_for(world.auditor).get("/audit/export.jsonl", {"actor": "agt_nobody1234"})) == ""


def test_export_streams_in_blocks_not_one_string(world):
    activity(world)
    qs = visible_events(EventFilter(), org="acme")
    blocks = list(stream(qs, "jsonl", chunk_size=5))
    assert len(blocks) == -(-qs.count() // 5) and all(block.count("\n") <= 5 for block in blocks)
    response = client_for(world.auditor).get("/audit/export.jsonl")
    assert response.streaming and not hasattr(response, "content")
    assert response["Cache-Control"] == "no-store"


def test_export_is_not_itself_audited(world):
    activity(world)
    before = AuditEvent.objects.count()
    body(client_for(world.auditor).get("/audit/export.csv"))
    assert AuditEvent.objects.count() == before
