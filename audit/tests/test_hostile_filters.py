"""Hostile audit-log filters: injection-like and overlong values, inverted and extreme
time ranges, unknown parameters, another org's ids, forged page cursors. Each answers a
form error (the page, 200; the export, 400) or a correct, org-scoped result — never a
server error, never a broader set, never another org's event. Reading writes nothing."""

import base64
import csv
import io
import json
import re
from datetime import UTC, datetime

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from audit.selectors import verify_chain
from identity.tests.hostile_support import build_world, logged_in, private_cache  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_cache")]

URL = "/audit/"


@pytest.fixture
def world(make):
    return build_world(make)


def listed(response) -> list[int]:
    return [int(i) for i in re.findall(r'id="event-(\d+)"', response.content.decode())]


def exported(client, params, fmt="csv"):
    response = client.get(reverse("audit-export", args=[fmt]), params)
    if response.status_code != 200:
        return response.status_code, None
    text = b"".join(response.streaming_content).decode()
    if fmt == "csv":
        return 200, list(csv.DictReader(io.StringIO(text)))
    return 200, [json.loads(line) for line in text.splitlines()]


def acme_scope_ids() -> set[int]:
    return {e.id for e in AuditEvent.objects.all() if e.org == "acme" or e.actor_org == "acme"}


def acme_scope_hashes() -> set[str]:
    return {e.hash for e in AuditEvent.objects.all() if e.org == "acme" or e.actor_org == "acme"}


@pytest.fixture
def auditor(world):
    return logged_in(world.audrey)


def refused(auditor, params, field):
    """The page shows the form error and no events; the export is a 400; nothing is
    written; the log still verifies."""
    count = AuditEvent.objects.count()
    page = auditor.get(URL, params)
    assert page.status_code == 200
    form = page.context["form"]
    assert form.errors.get(field), form.errors
    assert listed(page) == []
    fragment = auditor.get(URL, params, headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and listed(fragment) == []
    assert exported(auditor, params)[0] == 400
    assert exported(auditor, params, "jsonl")[0] == 400
    assert AuditEvent.objects.count() == count
    assert verify_chain().ok


INJECTION_LIKE = [
    "' OR 1=1 --",
    '" OR ""="',
    "1; DROP TABLE audit_auditevent; --",
    "%",
    "_",
    "%%",
    "%a%",
    "\\",
    "*",
    ".*",
    "') UNION SELECT id FROM identity_user --",
    "Ålice 🙂",
    "\u202eevil",
    "<script>alert(1)</script>",
    "${7*7}{{7*7}}",
    "usr_' OR '1'='1",
    "Nul\x00byte",
    "a" * 120,
]


@pytest.mark.parametrize("value", INJECTION_LIKE, ids=[f"actor-{i}" for i in range(len(INJECTION_LIKE))])
def test_injection_like_actor_is_a_form_error_and_matches_nobody(world, auditor, value):
    # "%" or "_" matching everyone would list every event: they match no name here.
    refused(auditor, {"actor": value}, "actor")


@pytest.mark.parametrize("field, value", [
    ("actor", "x" * 121),
    ("actor", "x" * 10_000),
    ("owner", "usr_" + "x" * 10_000),
    ("workspace", "w" * 10_000),
    ("action", "document." + "x" * 10_000),
    ("kind", "k" * 10_000),
    ("range", "r" * 10_000),
    ("since", "2026-01-01" + "9" * 10_000),
], ids=["actor-121", "actor-10k", "owner-10k", "workspace-10k", "action-10k", "kind-10k", "range-10k", "since-10k"])
def test_overlong_values_are_form_errors(world, auditor, field, value):
    params = {field: value}
    if field == "since":
        params["range"] = "custom"
    refused(auditor, params, field)


@pytest.mark.parametrize("field, value", [
    ("kind", "' OR 1=1 --"),
    ("workspace", "roadmap' OR '1'='1"),
    ("owner", "' OR 1=1 --"),
    ("action", "%"),
    ("action", "*"),
    ("action", "document.%"),
    ("range", "7d' --"),
])
def test_injection_like_choices_are_form_errors(world, auditor, field, value):
    refused(auditor, {field: value}, field)


def test_inverted_time_range_is_a_form_error(world, auditor):
    refused(auditor, {"range": "custom", "since": "2026-03-10", "until": "2026-03-01"}, "until")


@pytest.mark.parametrize("params", [
    {"since": "0001-01-01"},
    {"until": "9999-12-31"},
    {"since": "0001-01-01", "until": "9999-12-31"},
    {"since": "9999-12-31", "until": "9999-12-31"},
    {"since": "0001-01-01", "until": "0001-01-01"},
    {"until": "0001-01-01"},
], ids=["since-year-1", "until-year-9999", "whole-calendar", "last-day", "first-day", "until-year-1"])
def test_extreme_dates_answer_without_a_server_error(world, auditor, params):
    params = {"range": "custom", **params}
    page = auditor.get(URL, params)
    assert page.status_code == 200
    form = page.context["form"]
    if form.is_valid():
        whole = params.get("since", "0001-01-01") == "0001-01-01" and params.get("until", "9999-12-31") == "9999-12-31"
        shown = set(listed(page))
        assert shown <= acme_scope_ids()
        if whole:
            assert shown  # everything ever recorded is inside the calendar
        status, rows = exported(auditor, params)
        assert status == 200 and {r["hash"] for r in rows} <= acme_scope_hashes()
        assert len(rows) >= len(shown)
    else:
        assert listed(page) == [] and exported(auditor, params)[0] == 400


@pytest.mark.parametrize("extra", [
    {"foo": "bar"},
    {"org": "globex"},
    {"scope_org": "globex"},
    {"actor_org": "globex"},
    {"org__slug": "globex", "actor_id__in": "x"},
    {"page": "2", "offset": "100", "limit": "100000"},
    {"format": "json", "__proto__": "x", "constructor": "y"},
    {"kind[]": "agent", "actor[$ne]": "x"},
], ids=["foo", "org", "scope_org", "actor_org", "lookups", "paging", "proto", "brackets"])
def test_unknown_parameters_are_ignored(world, auditor, extra):
    plain = auditor.get(URL)
    with_extra = auditor.get(URL, extra)
    assert with_extra.status_code == 200
    assert listed(with_extra) == listed(plain) and listed(plain)
    assert set(listed(with_extra)) <= acme_scope_ids()
    status, rows = exported(auditor, extra)
    assert status == 200
    assert [r["hash"] for r in rows] == [r["hash"] for r in exported(auditor, {})[1]]


def foreign(world):
    return {
        "sam-id": {"actor": world.sam.public_id},
        "sam-handle": {"actor": f"@{world.sam.handle}"},
        "spy-id": {"actor": world.spy.public_id},
        "spy-handle": {"actor": world.spy.handle},
        "globex-service-id": {"actor": world.gx_service.public_id},
        "spy-as-agent": {"actor": world.spy.public_id, "kind": "agent"},
    }


@pytest.mark.parametrize("case", ["sam-id", "spy-id", "globex-service-id", "spy-as-agent"])
def test_another_orgs_principal_as_actor_finds_nothing(world, auditor, case):
    """A valid filter that names someone who never acted in Acme: zero events, everywhere."""
    params = foreign(world)[case]
    page = auditor.get(URL, params)
    assert page.status_code == 200 and page.context["form"].is_valid()
    assert listed(page) == []
    for fmt in ("csv", "jsonl"):
        status, rows = exported(auditor, params, fmt)
        assert status == 200 and rows == []
    assert b"Globex" not in page.content and b"globex" not in page.content


@pytest.mark.parametrize("case", ["sam-handle", "spy-handle"])
def test_another_orgs_handle_is_answered_as_one_that_does_not_exist(world, auditor, case):
    """A handle is public-looking but says who has an account: another org's, of someone
    who never acted in Acme's log, gets the very answer a made-up handle gets."""
    refused(auditor, foreign(world)[case], "actor")
    made_up = auditor.get(URL, {"actor": "no-such-handle-anywhere"}).context["form"].errors["actor"][0]
    got = auditor.get(URL, foreign(world)[case]).context["form"].errors["actor"][0]
    assert got.replace(foreign(world)[case]["actor"], "X") == made_up.replace("no-such-handle-anywhere", "X")


def test_a_guest_and_their_agent_are_found_by_name_and_handle(world, auditor, make):
    """Another org's human who is a member of an Acme workspace, and their agent, act in
    Acme's log: the auditor finds them by part of the name as by handle."""
    guest = make.human(world.globex, "Gwen Guestly")
    make.member(world.roadmap, guest)
    helper, _ = make.agent(guest, "Guestly Helper")
    page = auditor.get(URL, {"actor": "guestly"})
    assert page.context["form"].is_valid(), page.context["form"].errors
    assert set(page.context["form"].cleaned_data["actor"]) == {guest.public_id, helper.public_id}
    assert auditor.get(URL, {"actor": guest.handle}).context["form"].cleaned_data["actor"] == (guest.public_id,)


@pytest.mark.parametrize("params, field", [
    (lambda w: {"actor": "Sam Stranger"}, "actor"),  # names are looked up in the reader's org only
    (lambda w: {"actor": "Stranger"}, "actor"),
    (lambda w: {"actor": "Globex Sync"}, "actor"),
    (lambda w: {"owner": w.sam.public_id}, "owner"),
    (lambda w: {"workspace": w.hq.slug}, "workspace"),
], ids=["sam-by-name", "sam-by-part-of-name", "globex-service-by-name", "sam-as-owner", "globex-workspace"])
def test_another_orgs_names_owners_and_workspaces_are_not_choices(world, auditor, params, field):
    refused(auditor, params(world), field)


def test_globex_reads_nothing_of_acme_whatever_it_names(world):
    sam = logged_in(world.sam)
    for params in ({"actor": world.alice.public_id}, {"actor": world.service.public_id}):
        page = sam.get(URL, params)
        assert page.status_code == 200 and listed(page) == []
        status, rows = exported(sam, params)
        assert status == 200 and rows == []
    for params, field in (({"owner": world.alice.public_id}, "owner"), ({"workspace": "roadmap"}, "workspace"),
                          ({"actor": f"@{world.scout.handle}"}, "actor")):
        page = sam.get(URL, params)
        assert page.context["form"].errors.get(field) and listed(page) == []
    everything = sam.get(URL)
    assert set(listed(everything)).isdisjoint(acme_scope_ids() - {e.id for e in AuditEvent.objects.filter(org="globex")})
    assert b"Roadmap" not in everything.content and b"Alice Adams" not in everything.content


def cursor(value) -> str:
    return cursor_text(json.dumps(value))


def cursor_text(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


NOW = datetime.now(UTC).isoformat()
BAD_CURSORS = {
    "garbage": "garbage",
    "not-base64": "!!!***",
    "nul": "abc\x00def",
    "huge": "A" * 100_000,
    # Base64 of 1,200 "[": the json module recurses once a level and ran out of stack (a 500).
    "nested-deep": cursor_text("[" * 1200),
    "empty-list": cursor([]),
    "object": cursor({"at": NOW, "id": 1}),
    "null": cursor(None),
    "id-zero": cursor([NOW, 0]),
    "id-negative": cursor([NOW, -1]),
    "id-over-64-bits": cursor([NOW, 2**64]),
    "id-float": cursor([NOW, 1.5]),
    "id-text": cursor([NOW, "1"]),
    "id-bool": cursor([NOW, True]),
    "naive-time": cursor(["2026-01-01T00:00:00", 5]),
    "time-garbage": cursor(["yesterday", 5]),
    "time-year-1-ahead-of-utc": cursor(["0001-01-01T00:00:00+23:59", 5]),
    "time-year-9999-behind-utc": cursor(["9999-12-31T23:59:59.999999-23:59", 5]),
    "sql-ish": cursor(["2026-01-01T00:00:00+00:00' OR 1=1 --", 5]),
}


@pytest.mark.parametrize("name", list(BAD_CURSORS))
def test_forged_cursor_is_a_message_not_a_server_error(world, auditor, name):
    value = BAD_CURSORS[name]
    count = AuditEvent.objects.count()
    for headers in ({}, {"HX-Request": "true"}):
        response = auditor.get(URL, {"after": value}, headers=headers)
        assert response.status_code == 200
        shown = listed(response)
        if response.context["cursor_error"]:
            assert "not valid any more" in response.content.decode() and shown == []
        else:
            # A cursor the page accepts is only a position: still Acme's events, in order.
            assert set(shown) <= acme_scope_ids()
    assert AuditEvent.objects.count() == count


def test_a_real_cursor_of_one_filter_cannot_widen_another(world, auditor, make):
    """Cursors carry a position, never a filter or an org: one taken from a wide listing
    and replayed on a narrow one keeps the narrow filter."""
    for n in range(60):
        make.document(world.roadmap, world.alice, title=f"Doc {n}")
    wide = auditor.get(URL)
    after = re.search(r'after=([A-Za-z0-9_-]+)', wide.content.decode()).group(1)
    narrow = auditor.get(URL, {"actor": world.spy.public_id, "after": after})
    assert narrow.status_code == 200 and listed(narrow) == []


@pytest.mark.parametrize("args", [
    ["--since", "0001-01-01T00:00:00+23:59"],
    ["--until", "9999-12-31T23:59:59-23:59"],
    ["--since", "yesterday"],
    ["--since", "2026-03-10", "--until", "2026-03-01"],
    ["--actor", "' OR 1=1 --"],
    ["--workspace", "%"],
], ids=["since-before-year-1", "until-after-9999", "since-garbage", "inverted", "actor-sql-ish", "workspace-percent"])
def test_cli_export_with_hostile_filters_is_a_one_line_error_or_nothing(world, capsys, args):
    """The operator CLI: a clear one-line error and a non-zero exit, or an empty export."""
    from django.core.management import call_command
    from django.core.management.base import CommandError

    capsys.readouterr()
    try:
        call_command("dock", "audit", "export", "--format", "jsonl", *args)
    except (CommandError, SystemExit) as exc:
        assert "Traceback" not in str(exc)
        return
    out = capsys.readouterr().out
    assert out.strip() == ""


def test_another_orgs_workspace_where_the_orgs_people_work_is_a_choice(world, auditor, make):
    """Acme's people's doings in a Globex workspace are in Acme's log, so that workspace
    can be picked, labelled with its org; picking it lists only those doings."""
    make.member(world.hq, world.bob)
    mine = make.document(world.hq, world.bob, title="Bob's note in HQ")
    make.document(world.hq, world.sam, title="Sam's own note")
    page = auditor.get(URL, {"workspace": world.hq.slug})
    assert page.context["form"].is_valid(), page.context["form"].errors
    assert '<option value="globex-hq" selected>Globex HQ (Globex)</option>' in page.content.decode()
    events = AuditEvent.objects.filter(id__in=listed(page))
    assert {(e.action, e.actor_id) for e in events} >= {("document.created", world.bob.public_id)}
    assert all(e.actor_org == "acme" for e in events) and mine.title in {e.target_name for e in events}


def test_a_workspace_the_orgs_people_have_left_can_still_be_filtered_to(world, auditor, make):
    """Bob worked in Globex HQ and left: his doings there stay in Acme's log, and so the
    workspace stays a filter for them; Globex's own events there stay out of it."""
    from dock.workspaces.models import Membership

    make.member(world.hq, world.bob)
    make.document(world.hq, world.bob, title="Bob's note in HQ")
    Membership.objects.filter(workspace=world.hq, principal=world.bob).delete()
    page = auditor.get(URL, {"workspace": world.hq.slug})
    assert page.context["form"].is_valid(), page.context["form"].errors
    assert '<option value="globex-hq" selected>Globex HQ (Globex)</option>' in page.content.decode()
    events = AuditEvent.objects.filter(id__in=listed(page))
    assert events and all(e.actor_org == "acme" for e in events)
