"""The peers benchmark's own machinery: interleaving, ratios, the audit switch, the
database guard of `--both`. (The peers themselves are installed for benchmarks only.)"""

from contextlib import contextmanager

import pytest
from django.db import transaction

from audit import events
from audit.refs import SYSTEM
from bench import both
from bench.cases_peers import audit_recording_off, interleaved, ratio_row
from conftest import actions_since, audit_mark


class Report:
    def __init__(self):
        self.rows = []

    def row(self, case, value, target="", note=""):
        self.rows.append((case, value, target, note))


def test_interleaved_rotates_the_order_each_round_and_enters_contexts_around_each_round():
    calls, entered = [], []

    @contextmanager
    def ctx():
        entered.append("b")
        yield

    result = interleaved({"a": lambda: calls.append("a"), "b": (lambda: calls.append("b"), ctx)},
                         rounds=4, number=2, warmup=1)
    timed = calls[2:]  # after one warm-up call each
    assert timed == ["a", "a", "b", "b", "b", "b", "a", "a", "a", "a", "b", "b", "b", "b", "a", "a"]
    assert entered == ["b"] * 5  # warm-up, then once per round
    assert set(result) == {"a", "b"}
    for stats in result.values():
        assert len(stats["samples"]) == 4
        assert stats["min"] <= stats["median"] <= stats["max"]


def test_ratio_row_reports_dock_over_peer_with_per_round_spread():
    report = Report()
    dock = {"median": 1.0, "samples": [1.0, 1.0, 2.0]}
    peer = {"median": 4.0, "samples": [2.0, 4.0, 4.0]}
    assert ratio_row(report, "x", dock, peer) == 0.25
    case, value, target, note = report.rows[0]
    assert (value, target) == ("0.25×", "< 1.0×")
    assert note.startswith("Dock ahead; per-round 0.25–0.50")

    assert ratio_row(report, "y", peer, dock) == 4.0
    assert report.rows[1][3].startswith("PEER AHEAD")


def test_ratio_row_survives_a_non_positive_round_and_marks_informational_ratios():
    report = Report()
    ratio_row(report, "cost", {"median": 1.0, "samples": [1.0, 1.0]}, {"median": 2.0, "samples": [2.0, -0.1]})
    assert "n/a" in report.rows[0][3]
    ratio_row(report, "floor", {"median": 3.0, "samples": [3.0]}, {"median": 1.0, "samples": [1.0]}, versus=False)
    assert report.rows[1][2] == "" and report.rows[1][3].startswith("informational")


@pytest.mark.django_db(transaction=True)
def test_audit_recording_off_writes_no_event_and_restores_recording(make):
    from audit.services import record

    org = make.org()
    mark = audit_mark()
    with audit_recording_off(), transaction.atomic():
        record(events.ORG_CREATED, actor=SYSTEM, target=org)
    assert actions_since(mark) == []
    with transaction.atomic():
        record(events.ORG_CREATED, actor=SYSTEM, target=org)
    assert actions_since(mark) == [events.ORG_CREATED]


@pytest.mark.parametrize("name", ["test", "test_dock", ""])
def test_both_refuses_the_test_suites_databases(name):
    with pytest.raises(SystemExit, match="refusing"):
        both._ensure_database(f"postgres://postgres@127.0.0.1:5432/{name}")
