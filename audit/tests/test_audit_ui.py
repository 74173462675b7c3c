"""The audit log page: who may read it, what each filter returns, paging, HTMX, errors."""

import base64
import json
import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qs, quote, urlencode, urlparse

import pytest
from django.urls import reverse

from audit import events, integrity
from audit.models import AuditEvent
from audit.selectors import PAGE_SIZE, EventFilter, activity_for_owner, daily_counts, encode_cursor, events_page
from audit.tests import test_audit_ui_support as support
from audit.tests.test_audit_ui_support import NOW, activity, client_for, record_at, scoped
from dock.workspaces.models import Workspace

pytestmark = pytest.mark.django_db
world = support.world
fresh_cache = support.fresh_cache

URL = "/audit/"
FUTURE = (datetime.now(UTC) + timedelta(days=2)).date()


def listed_ids(response) -> list[int]:
    return [int(i) for i in re.findall(r'<tbody class="audit-event" id="event-(\d+)"', response.content.decode())]


def expected(w, predicate, org="acme") -> list[int]:
    return [e.id for e in scoped(org) if predicate(e)]


def get(client, **params):
    return client.get(URL, params)


# Who may read ---------------------------------------------------------------------------

def test_auditors_admins_and_owners_read_their_orgs_log(world, make):
    owner = make.human(world.acme, "Olga Owner", role="owner")
    for principal in (world.auditor, world.admin, owner):
        response = client_for(principal).get(URL)
        assert response.status_code == 200
        assert b"Audit log" in response.content


def test_members_get_not_found_everywhere(world):
    client = client_for(world.member)
    for url in (URL, "/audit/export.csv", "/audit/export.jsonl", "/audit/integrity/"):
        assert client.get(url).status_code == 404


def test_anonymous_readers_are_sent_to_log_in(client):
    response = client.get(URL + "?kind=agent")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


def test_a_swap_after_the_session_ended_sends_the_browser_to_log_in(client):
    """A filter change or the panel's own load, once the session has ended: htmx would
    follow a plain redirect and draw the whole login page inside the audit log. It is
    told to go to the login page instead, and come back to the filter asked for."""
    for url, params in ((URL, {"kind": "agent"}), ("/audit/integrity/", {})):
        response = client.get(url, params, HTTP_HX_REQUEST="true")
        assert response.status_code == 200 and b"<form" not in response.content
        assert response["HX-Redirect"] == "/login/?next=" + quote(url + ("?kind=agent" if params else ""), safe="/")
    # The back button's own htmx request (a whole page) is a plain redirect, as before.
    restore = client.get(URL, {"kind": "agent"}, HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true")
    assert restore.status_code == 302


# Scope ------------------------------------------------------------------------------------

def test_auditor_of_one_org_never_sees_another_orgs_events(world):
    made = activity(world)
    ids = listed_ids(get(client_for(world.auditor_b)))
    assert made["scribe_today"].id not in ids
    assert made["carol_globex_20d"].id in ids
    assert set(ids) == set(expected(world, lambda e: True, org="globex")[:PAGE_SIZE])
    acme_ids = listed_ids(get(client_for(world.auditor)))
    assert made["carol_globex_20d"].id not in acme_ids


def test_agent_acting_in_another_orgs_workspace_shows_in_both_logs(world):
    made = activity(world)
    cross = made["courier_in_acme_1d"]
    assert (cross.org, cross.actor_org) == ("acme", "globex")
    assert cross.id in listed_ids(get(client_for(world.auditor), actor="courier"))
    assert cross.id in listed_ids(get(client_for(world.auditor_b), actor="courier"))
    # Acme's auditors see what Courier did in Acme, not what it did at home.
    assert made["courier_in_globex_1d"].id not in listed_ids(get(client_for(world.auditor), actor="courier"))
    assert made["courier_in_globex_1d"].id in listed_ids(get(client_for(world.auditor_b), actor="courier"))


def test_what_acmes_people_do_elsewhere_is_in_acmes_log(world, make):
    globex_ws = make.workspace(world.globex, "partners")
    make.member(globex_ws, world.alice, "editor")
    away = record_at(NOW, events.COMMENT_CREATED, actor=world.scribe, workspace=globex_ws)
    assert (away.org, away.actor_org) == ("globex", "acme")
    assert away.id in listed_ids(get(client_for(world.auditor)))
    assert away.id in listed_ids(get(client_for(world.auditor_b)))


# Filters, one at a time and together --------------------------------------------------------

def test_actor_filter_by_handle_name_and_id(world):
    activity(world)
    want = expected(world, lambda e: e.actor_id == world.scribe.public_id)
    client = client_for(world.auditor)
    assert listed_ids(get(client, actor=world.scribe.handle)) == want
    assert listed_ids(get(client, actor="@" + world.scribe.handle)) == want
    assert listed_ids(get(client, actor=world.scribe.public_id)) == want
    assert listed_ids(get(client, actor="scrib")) == want  # part of the name
    assert want


def test_actor_name_matching_several_principals_lists_them_all(world):
    activity(world)
    from identity.models import Principal

    named = {p.public_id for p in Principal.objects.filter(org=world.acme) if "ada" in p.display_name.lower()}
    assert {world.alice.public_id, world.auditor.public_id} <= named  # Alice ADAms, ADA Auditor
    response = get(client_for(world.auditor), actor="ada")
    assert listed_ids(response) == expected(world, lambda e: e.actor_id in named)


def test_actor_system_and_gone_principals_by_id(world):
    made = activity(world)
    client = client_for(world.auditor)
    assert listed_ids(get(client, actor="system")) == expected(world, lambda e: e.actor_id == "system")
    assert made["system_4d"].id in listed_ids(get(client, actor="system"))


@pytest.mark.parametrize("kind", ["human", "agent", "service", "system"])
def test_kind_filter(world, kind):
    activity(world)
    assert listed_ids(get(client_for(world.auditor), kind=kind)) == expected(world, lambda e: e.actor_kind == kind)[:PAGE_SIZE]


def test_no_accountable_human_filter(world):
    made = activity(world)
    ids = listed_ids(get(client_for(world.auditor), kind="unowned"))
    assert ids == expected(world, lambda e: e.owner_id == "")
    assert made["importer_5d"].id in ids and made["system_4d"].id in ids
    assert made["scribe_today"].id not in ids


def test_owner_filter_is_their_own_and_their_agents_events(world):
    made = activity(world)
    ids = listed_ids(get(client_for(world.auditor), owner=world.alice.public_id))
    assert ids == expected(world, lambda e: e.owner_id == world.alice.public_id)
    assert {made["scribe_today"].id, made["triage_3d"].id, made["alice_1d"].id} <= set(ids)
    assert made["ledger_2d"].id not in ids


def test_owner_filter_offers_members_from_other_orgs_whose_agents_work_here(world):
    """Carol (Globex) is a member of Acme's research workspace: her agent's events there
    are in Acme's log, and Acme's auditors can pick her as the accountable owner."""
    made = activity(world)
    response = get(client_for(world.auditor), owner=world.carol.public_id)
    html = response.content.decode()
    assert f'<option value="{world.carol.public_id}" selected>Carol Chen (Globex)</option>' in html
    ids = listed_ids(response)
    assert made["courier_in_acme_1d"].id in ids and made["courier_in_globex_1d"].id not in ids
    assert ids == expected(world, lambda e: e.owner_id == world.carol.public_id)


def test_workspace_filter(world):
    made = activity(world)
    ids = listed_ids(get(client_for(world.auditor), workspace="research"))
    assert ids == expected(world, lambda e: e.workspace == "research")
    assert made["courier_in_acme_1d"].id in ids and made["triage_3d"].id not in ids


def test_action_filter_exact_and_whole_group(world):
    activity(world)
    client = client_for(world.auditor)
    assert listed_ids(get(client, action="document.updated")) == expected(world, lambda e: e.action == "document.updated")
    group = listed_ids(get(client, action="agent.*"))
    assert group == expected(world, lambda e: e.action.startswith("agent."))
    assert {AuditEvent.objects.get(id=i).action for i in group} >= {"agent.created", "agent.key.rotated"}


def test_time_presets(world):
    activity(world)
    client = client_for(world.auditor)
    now = datetime.now(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    assert listed_ids(get(client, range="today", kind="agent")) == expected(
        world, lambda e: e.occurred_at >= midnight and e.actor_kind == "agent")
    for preset, days in (("7d", 7), ("30d", 30)):
        ids = listed_ids(get(client, range=preset, kind="agent"))
        since = datetime.now(UTC) - timedelta(days=days)
        assert ids == expected(world, lambda e, since=since: e.occurred_at >= since and e.actor_kind == "agent")


def test_custom_dates_are_whole_days_and_until_is_inclusive(world):
    made = activity(world)
    day = (NOW - timedelta(days=10)).date()
    ids = listed_ids(get(client_for(world.auditor), range="custom", since=day.isoformat(), until=day.isoformat()))
    assert ids == expected(world, lambda e: e.occurred_at.date() == day)
    assert made["scribe_10d"].id in ids
    # Dates alone mean a custom range.
    assert listed_ids(get(client_for(world.auditor), since=day.isoformat(), until=day.isoformat())) == ids


def test_a_preset_picked_after_custom_dates_replaces_them(world):
    """Picking "Last 7 days" while custom dates are filled in sends both: the preset wins,
    and the dates are dropped from the form, not reported as a conflict."""
    activity(world)
    client = client_for(world.auditor)
    day = (NOW - timedelta(days=10)).date().isoformat()
    response = get(client, range="7d", since=day, until=day, kind="agent")
    form = response.context["form"]
    assert form.is_valid(), form.errors
    assert not form.cleaned_data["since"] and not form.cleaned_data["until"]
    assert listed_ids(response) == listed_ids(get(client, range="7d", kind="agent"))
    assert f'value="{day}"' not in response.content.decode()


def test_combined_owner_kind_and_week_is_alices_agents_this_week(world):
    made = activity(world)
    ids = listed_ids(get(client_for(world.auditor), owner=world.alice.public_id, kind="agent", range="7d"))
    since = datetime.now(UTC) - timedelta(days=7)
    assert ids == expected(world, lambda e: e.owner_id == world.alice.public_id and e.actor_kind == "agent"
                           and e.occurred_at >= since)
    assert made["scribe_today"].id in ids and made["triage_3d"].id in ids
    assert made["scribe_10d"].id not in ids  # too old
    assert made["alice_1d"].id not in ids  # alice herself, not an agent
    assert made["ledger_2d"].id not in ids  # bob's agent


def test_combined_filters_narrow_each_other(world):
    activity(world)
    ids = listed_ids(get(client_for(world.auditor), workspace="research", action="document.updated", kind="agent"))
    assert ids == expected(world, lambda e: e.workspace == "research" and e.action == "document.updated"
                           and e.actor_kind == "agent")
    assert len(ids) == 3  # scribe, ledger, courier


# Invalid input: a form error, never a 500 -------------------------------------------------------

@pytest.mark.parametrize("params, message", [
    ({"kind": "robot"}, "No such actor kind: choose one from the list."),
    ({"owner": "usr_doesnotexist"}, "No such owner in this log: choose one from the list."),
    ({"workspace": "nowhere"}, "No such workspace in this log: choose one from the list."),
    ({"action": "document.exploded"}, "No such action: choose one from the list."),
    ({"range": "forever"}, "No such time range: choose one from the list."),
    ({"range": "custom", "since": "2026-13-45"}, "“2026-13-45” is not a date: write it as YYYY-MM-DD."),
    ({"range": "custom", "until": "2026-02-31"}, "“2026-02-31” is not a date"),
    ({"range": "custom", "since": "2026-03-10", "until": "2026-03-01"}, "The end date is before the start date"),
    ({"range": "custom", "since": FUTURE.isoformat()}, "The start date is after today (UTC)"),
    ({"actor": "nobody-by-that-name"}, "No handle, id or name matches"),
    ({"actor": "x" * 121}, "at most 120 characters"),
])
def test_invalid_filters_are_form_errors(world, params, message):
    activity(world)
    response = get(client_for(world.auditor), **params)
    assert response.status_code == 200
    body = response.content.decode()
    assert message in body.replace("&#x27;", "'")
    assert "errorlist" in body or "form-errors" in body
    assert listed_ids(response) == []
    assert "Fix the filter above" in body


def test_too_many_name_matches_is_a_form_error(world, make):
    for n in range(13):
        make.agent(world.bob, f"Helper {n}")
    response = get(client_for(world.auditor), actor="helper")
    assert "matches more than 12 principals" in response.content.decode().replace("&#x27;", "'")


def test_tampered_cursor_is_an_error_message_not_a_500(world):
    activity(world)
    client = client_for(world.auditor)
    overflow = base64.urlsafe_b64encode(json.dumps([NOW.isoformat(), 10**30]).encode()).decode()
    for cursor in ("garbage", "eyJ4Ijoxfq", encode_cursor(NOW, 1)[:-3] + "!!!", "WyIyMDI2IiwgLTFd", overflow):
        response = get(client, after=cursor)
        assert response.status_code == 200
        assert "not valid any more" in response.content.decode()


def test_export_with_invalid_filters_is_a_400_page_with_the_form_error(world):
    response = client_for(world.auditor).get("/audit/export.csv", {"kind": "robot"})
    assert response.status_code == 400
    assert "No such actor kind" in response.content.decode()


# Keyset pagination -----------------------------------------------------------------------------

def link(response, rel: str) -> str | None:
    """The pager's link with `rel` ("next": older, "prev": newer), as a URL to get."""
    match = re.search(rf'<a href="([^"]+)"[^>]*rel="{rel}"', response.content.decode())
    return match.group(1).replace("&amp;", "&") if match else None


def walk(client, params) -> tuple[list[int], int]:
    url, seen, pages = URL + "?" + urlencode(params), [], 0
    while url:
        response = client.get(url)
        assert response.status_code == 200
        seen += listed_ids(response)
        pages += 1
        url = link(response, "next")
    return seen, pages


def test_pages_are_stable_and_complete_with_ties_on_the_instant(world):
    same_instant = NOW - timedelta(hours=5)
    for n in range(PAGE_SIZE + 7):  # more than a page, many sharing one instant
        record_at(same_instant if n % 3 else NOW - timedelta(minutes=n), events.DOCUMENT_UPDATED,
                  actor=world.scribe, workspace=world.research)
    client = client_for(world.auditor)
    want = expected(world, lambda e: e.actor_id == world.scribe.public_id)
    seen, pages = walk(client, {"actor": world.scribe.handle})
    assert seen == want and pages == 2
    assert len(set(seen)) == len(seen)


def test_new_events_do_not_shift_older_pages(world):
    for n in range(PAGE_SIZE + 10):
        record_at(NOW - timedelta(minutes=n), events.COMMENT_CREATED, actor=world.triage, workspace=world.ops)
    client = client_for(world.auditor)
    first = client.get(URL, {"actor": "triage"})
    older_url = link(first, "next")
    older_before = listed_ids(client.get(older_url))
    for _ in range(5):  # meanwhile, more happens
        record_at(NOW, events.COMMENT_CREATED, actor=world.triage, workspace=world.ops)
    assert listed_ids(client.get(older_url)) == older_before
    assert "after=" in older_url and "offset" not in older_url
    cursor = parse_qs(urlparse(older_url).query)["after"][0]
    assert str(listed_ids(first)[-1]) not in cursor  # opaque, not a plain id


def test_selector_pages_merge_branches_in_order(world):
    activity(world)
    for scope in ("acme", "globex", None):
        everything = [e.id for e in sorted(AuditEvent.objects.all() if scope is None else scoped(scope),
                                           key=lambda e: (e.occurred_at, e.id), reverse=True)]
        seen, cursor = [], None
        while True:
            page = events_page(EventFilter(), org=scope, cursor=cursor, limit=4)
            seen += [e.id for e in page.events]
            if not page.next_cursor:
                break
            cursor = page.next_cursor
        assert seen == everything


def test_newer_pages_walk_back_up_to_the_newest(world):
    """From the oldest page, `before` cursors lead back through the same pages, in the
    same order, to the newest, across branch merges and events sharing an instant."""
    activity(world)
    same_instant = NOW - timedelta(hours=3)
    for _ in range(9):
        record_at(same_instant, events.DOCUMENT_UPDATED, actor=world.scribe, workspace=world.research)
    for scope in ("acme", None):
        down, page = [], events_page(EventFilter(), org=scope, limit=4)
        assert page.prev_cursor is None
        while True:
            down.append([e.id for e in page.events])
            if not page.next_cursor:
                break
            page = events_page(EventFilter(), org=scope, cursor=page.next_cursor, limit=4)
            assert page.prev_cursor
        assert len(down) > 3
        up = [[e.id for e in page.events]]
        while page.prev_cursor:
            page = events_page(EventFilter(), org=scope, before=page.prev_cursor, limit=4)
            up.append([e.id for e in page.events])
        flat = [i for chunk in down for i in chunk]
        for chunk in up:  # each page is a run of the log, in its order
            start = flat.index(chunk[0])
            assert flat[start:start + len(chunk)] == chunk and len(chunk) == len(down[0]) or chunk == down[-1]
        for lower, upper in zip(up[:-2], up[1:-1], strict=True):  # each directly above the one before
            assert flat.index(upper[-1]) == flat.index(lower[0]) - 1
        assert up[-1] == down[0]  # and the last is the newest page


def test_the_pager_links_newer_and_older_pages_and_keeps_the_filter(world):
    for n in range(2 * PAGE_SIZE + 5):
        record_at(NOW - timedelta(minutes=n), events.COMMENT_CREATED, actor=world.triage, workspace=world.ops)
    client = client_for(world.auditor)
    want = expected(world, lambda e: e.actor_id == world.triage.public_id)

    first = get(client, actor="triage")
    assert link(first, "prev") is None and "Newest</a>" not in first.content.decode()
    second = client.get(link(first, "next"))
    third = client.get(link(second, "next"))
    assert listed_ids(third) == want[2 * PAGE_SIZE:] and link(third, "next") is None
    back = client.get(link(third, "prev"))
    assert "before=" in link(third, "prev") and "actor=triage" in link(third, "prev")
    assert listed_ids(back) == listed_ids(second) == want[PAGE_SIZE:2 * PAGE_SIZE]
    top = client.get(link(back, "prev"))
    assert listed_ids(top) == listed_ids(first) == want[:PAGE_SIZE]
    assert link(top, "prev") is None and link(top, "next") == link(first, "next")
    body = second.content.decode()
    assert f"Showing {PAGE_SIZE} events, <time" in body and "the newest" not in body
    assert f"Showing the newest {PAGE_SIZE} events, <time" in first.content.decode()


def test_tampered_or_doubled_newer_cursor_is_an_error_message(world):
    activity(world)
    client = client_for(world.auditor)
    for params in ({"before": "garbage"}, {"before": encode_cursor(NOW, 1)[:-3] + "!!!"},
                   {"before": encode_cursor(NOW, 1), "after": encode_cursor(NOW, 1)}):
        response = get(client, **params)
        assert response.status_code == 200
        assert "not valid any more" in response.content.decode()


# HTMX, query counts, rendering ------------------------------------------------------------------

def test_htmx_gets_the_fragment_and_full_loads_get_the_page(world):
    activity(world)
    client = client_for(world.auditor)
    full = client.get(URL, {"kind": "agent"})
    fragment = client.get(URL, {"kind": "agent"}, HTTP_HX_REQUEST="true")
    assert b"<html" in full.content and b"<html" not in fragment.content
    assert listed_ids(full) == listed_ids(fragment)
    for response in (full, fragment):
        assert "HX-Request" in response["Vary"] and "HX-History-Restore-Request" in response["Vary"]
    # The back button, with nothing cached, asks through htmx for the whole page again.
    restore = client.get(URL, {"kind": "agent"}, HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true")
    assert b"<html" in restore.content and b'id="integrity"' in restore.content
    assert listed_ids(restore) == listed_ids(full)
    assert 'hx-push-url="true"' in full.content.decode()
    assert 'hx-get="/audit/"' in full.content.decode() and 'action="/audit/"' in full.content.decode()


def test_query_count_is_pinned(world, make, django_assert_max_num_queries):
    activity(world)
    for n in range(60):  # a full page with many different faces
        agent, _ = make.agent(world.alice if n % 2 else world.bob, f"Worker {n}")
        record_at(NOW - timedelta(seconds=n), events.DOCUMENT_UPDATED, actor=agent, workspace=world.research)
    client = client_for(world.auditor)
    client.get(URL)  # warm the chart cache of settled days like a second visitor would
    with django_assert_max_num_queries(12):
        response = client.get(URL, {"owner": world.alice.public_id})
    assert response.status_code == 200 and listed_ids(response)
    with django_assert_max_num_queries(12):
        assert listed_ids(client.get(URL))


def test_rows_use_the_principal_card_and_snapshots_for_the_departed(world):
    from identity.services.users import user_delete

    made = activity(world)
    response = get(client_for(world.auditor), actor=world.ledger.public_id)
    body = response.content.decode()
    assert 'class="principal principal-24' in body and f'href="/p/{world.ledger.handle}/"' in body
    user_delete(actor=world.admin, user=world.bob.user)  # takes Ledger with him; audit stays
    response = get(client_for(world.auditor), actor=world.ledger.public_id)
    body = response.content.decode()
    assert made["ledger_2d"].id in listed_ids(response)
    assert "Ledger" in body and "no longer exists" in body
    assert reverse("audit-orb", args=[world.ledger.public_id]) in body
    assert f'href="/p/{world.ledger.handle}/"' not in body


def test_rows_link_only_the_profiles_the_reader_can_open(world, make):
    """Carol and her agent Courier (Globex) work in Acme's research workspace: their
    events are in Acme's log, but the auditor, who is not in research, would get "No such
    person here" from their profiles, so their cards are not links; Acme's own are. An
    admin who is in research can open theirs, and gets the links."""
    made = activity(world)
    auditor = client_for(world.auditor)
    assert auditor.get(f"/p/{world.courier.handle}/").status_code == 404
    assert auditor.get(f"/p/{world.carol.handle}/").status_code == 404
    body = get(auditor, actor="courier").content.decode()
    assert made["courier_in_acme_1d"].id in listed_ids(get(auditor, actor="courier"))
    assert "Courier" in body and "Carol Chen" in body
    assert f'href="/p/{world.courier.handle}/"' not in body and f'href="/p/{world.carol.handle}/"' not in body
    body = get(auditor, workspace="research").content.decode()
    assert f'href="/p/{world.scribe.handle}/"' in body and f'href="/p/{world.alice.handle}/"' in body
    assert f'href="/p/{world.courier.handle}/"' not in body

    make.member(world.research, world.admin, "viewer")
    admin = client_for(world.admin)
    assert admin.get(f"/p/{world.courier.handle}/").status_code == 200
    body = get(admin, actor="courier").content.decode()
    assert f'href="/p/{world.courier.handle}/"' in body and f'href="/p/{world.carol.handle}/"' in body


def test_each_row_opens_to_its_details(world):
    made = activity(world)
    body = get(client_for(world.auditor), actor="scribe").content.decode()
    event = made["scribe_today"]
    block = body[body.index(f'id="event-{event.id}"'):]
    block = block[: block.index("</tbody>")]
    assert "<details" in block and "<summary" in block
    assert event.hash in block and event.prev_hash in block  # copyable in full
    assert f'data-copy="{event.hash}"' in block
    assert "&quot;fields&quot;" in block and event.request_id in block


def test_chart_is_inline_svg_with_title_and_desc(world):
    activity(world)
    body = get(client_for(world.auditor), kind="agent", range="7d").content.decode()
    svg = body[body.index("<svg viewBox"):]
    svg = svg[: svg.index("</svg>")]
    assert 'role="img"' in svg and "<title" in svg and "<desc" in svg
    assert "<script" not in body[body.index("<main"):]


def test_daily_counts_by_kind(world):
    made = activity(world)
    daily = daily_counts(EventFilter(), org="acme")
    day = made["triage_3d"].occurred_at.date()
    want = {}
    for e in scoped("acme"):
        if e.occurred_at.date() == day:
            want[e.actor_kind] = want.get(e.actor_kind, 0) + 1
    assert daily.counts.get(day) == want
    assert len(daily.days) == 30 and daily.days[-1] == datetime.now(UTC).date()


def test_reading_the_log_writes_no_audit_event(world):
    activity(world)
    before = AuditEvent.objects.count()
    client = client_for(world.auditor)
    client.get(URL)
    client.get("/audit/export.csv")
    client.get("/audit/integrity/")
    assert AuditEvent.objects.count() == before



SAID = re.compile(r'<p id="audit-results-said"([^>]*)>(.*?)</p>', re.S)


def test_an_in_place_update_tells_screen_readers_what_it_found(world):
    """The filter keeps focus while the results change beside it: the page's status
    region (outside the swapped part) is told, in the fragment, what is now listed."""
    activity(world)
    client = client_for(world.auditor)
    full = client.get(URL).content.decode()
    assert SAID.findall(full) == [(' class="sr-only" role="status" aria-atomic="true"', "")]  # silent on load
    cases = [
        ({"kind": "agent"}, f"Showing the newest {len(expected(world, lambda e: e.actor_kind == 'agent'))} events."),
        ({"kind": "agent", "action": "org.created"}, "No events match."),
        ({"owner": "usr_doesnotexist"}, "Nothing is listed: a filter value is not valid."),
        ({"after": "garbage"}, "This page link is not valid any more; start again from the newest events."),
    ]
    for params, said in cases:
        fragment = client.get(URL, params, HTTP_HX_REQUEST="true").content.decode()
        assert SAID.findall(fragment) == [(' hx-swap-oob="innerHTML"', said)], params
    for _ in range(PAGE_SIZE):
        record_at(NOW, events.DOCUMENT_UPDATED, actor=world.scribe, workspace=world.research)
    first = client.get(URL, HTTP_HX_REQUEST="true").content.decode()
    assert SAID.findall(first)[0][1] == f"Showing the newest {PAGE_SIZE} events; Older lists more."

# Integrity --------------------------------------------------------------------------------------

def test_integrity_panel_passes_and_shows_the_head(world):
    from audit.selectors import chain_head

    activity(world)
    response = client_for(world.auditor).get("/audit/integrity/", HTTP_HX_REQUEST="true")
    body = response.content.decode()
    head = chain_head()
    assert 'data-integrity="ok"' in body
    assert head["hash"] in body and f'data-copy="{head["hash"]}"' in body
    assert f"{head['count']} events" in body


def test_verify_again_marks_its_result_as_new(world, monkeypatch):
    """Pressed twice in a second, the result would read exactly as before: the panel
    marks it (.is-new), and only when the button asked, not the panel's own load."""
    monkeypatch.setattr(integrity, "REST", 0)  # no pause between checks (see the test of pacing)
    activity(world)
    client = client_for(world.auditor)
    loaded = client.get("/audit/integrity/", HTTP_HX_REQUEST="true", HTTP_HX_TRIGGER="integrity").content.decode()
    again = client.get("/audit/integrity/", HTTP_HX_REQUEST="true", HTTP_HX_TRIGGER="verify-chain").content.decode()
    assert '<div class="audit-integrity-main">' in loaded
    assert '<div class="audit-integrity-main is-new">' in again and 'data-integrity="ok"' in again


def test_without_javascript_the_panel_asks_rather_than_waits(world):
    """The log's panel verifies itself over htmx on load; without JavaScript nothing
    would, so "Verifying…" is for scripts only and a prompt to press Verify shows instead
    (nojs.css, linked in <noscript>, hides .js-only and the Copy buttons)."""
    activity(world)
    body = get(client_for(world.auditor)).content.decode()
    assert '<span class="js-only">Verifying…</span><noscript>Press Verify chain' in body
    assert '<noscript><link rel="stylesheet" href="/static/css/nojs.css"></noscript>' in body


def test_integrity_panel_names_the_first_bad_event(world):
    from django.db import connection

    from audit import triggers

    made = activity(world)
    bad = made["triage_3d"]
    triggers.uninstall(connection)
    try:
        AuditEvent.objects.filter(id=bad.id).update(actor_name="Someone Else")
    finally:
        triggers.install(connection)
    body = client_for(world.auditor).get("/audit/integrity/").content.decode()
    assert 'data-integrity="broken"' in body
    assert f"#{bad.id}" in body



def test_integrity_panel_says_what_a_missing_tail_means(world):
    """Events removed from the end leave no bad event to name: every event left links
    up, and only the head disagrees. The panel says so, rather than counting events
    "before" an event it has not named."""
    from django.db import connection

    from audit import triggers

    activity(world)
    last = AuditEvent.objects.order_by("-id").first()
    triggers.uninstall(connection)
    try:
        AuditEvent.objects.filter(id=last.id).delete()
    finally:
        triggers.install(connection)
    body = client_for(world.auditor).get("/audit/integrity/").content.decode()
    assert 'data-integrity="broken"' in body
    assert "before it check out" not in body
    left = AuditEvent.objects.count()
    assert (f"The {left} events in the chain link up, but its head does not end with them: the newest events "
            "were removed, or the head was changed.") in body


def test_the_chain_rests_between_checks_and_says_so(world, monkeypatch):
    """Any org's owner or auditor could make the machine hash the whole installation's
    chain on every request. After a check of t seconds the next waits REST × t: in
    between, the last check is shown again, saying so, and nothing is recomputed."""
    from django.db import connection

    from audit import selectors, triggers

    made = activity(world)
    runs = []
    monkeypatch.setattr(integrity, "verify_chain", lambda head: runs.append(head) or selectors.verify_chain(head))
    monkeypatch.setattr(integrity, "REST", 10**6)  # a check of a millisecond rests for over a quarter of an hour
    client = client_for(world.auditor)
    first = client.get("/audit/integrity/").content.decode()
    assert 'data-integrity="ok"' in first and "data-integrity-paced" not in first and len(runs) == 1
    triggers.uninstall(connection)
    try:
        AuditEvent.objects.filter(id=made["triage_3d"].id).update(actor_name="Someone Else")
    finally:
        triggers.install(connection)
    pressed = client.get("/audit/integrity/", HTTP_HX_REQUEST="true", HTTP_HX_TRIGGER="verify-chain").content.decode()
    assert len(runs) == 1 and 'data-integrity="ok"' in pressed and "is-new" not in pressed
    shown = re.search(r"This is the check of (\d\d:\d\d:\d\d) UTC; the next can start at (\d\d:\d\d:\d\d) UTC", pressed)
    assert shown and shown.group(1) != shown.group(2)
    assert f"Not checked again yet: the next check can start at {shown.group(2)} UTC." in pressed
    # Rested (its rest ended when it did): the next request checks again, and finds what changed.
    cached = integrity._cached("last")
    monkeypatch.setattr(integrity, "_cached", lambda name: cached and replace(cached, next_at=cached.checked_at))
    after = client.get("/audit/integrity/").content.decode()
    assert len(runs) == 2 and 'data-integrity="broken"' in after and f"#{made['triage_3d'].id}" in after


def test_while_a_check_runs_elsewhere_another_waits_for_it(world, monkeypatch):
    """One check at a time: the second asker is told one is running, not given a second."""
    activity(world)
    monkeypatch.setattr(integrity, "verify_chain", lambda head: pytest.fail("a second check ran"))
    assert integrity._claim()  # another worker's check, under way
    body = client_for(world.auditor).get("/audit/integrity/", HTTP_HX_REQUEST="true", HTTP_HX_TRIGGER="verify-chain").content.decode()
    assert 'data-integrity="unchecked"' in body and "A check is running now: verify again in a moment" in body
    assert "Not verified yet: a check is running now." in body


def test_a_check_that_ends_just_before_the_claim_still_rests_the_chain(world, monkeypatch):
    """Read the last check (run out), another worker's check ends, then the claim
    succeeds: the chain was checked just now, and is not checked again at once."""
    activity(world)
    monkeypatch.setattr(integrity, "REST", 10**6)
    integrity.check()  # the other worker's check, stored as the last one
    just_ended = integrity._cached("last")
    out_of_date = replace(just_ended, next_at=just_ended.checked_at)
    reads = iter([out_of_date, just_ended])
    monkeypatch.setattr(integrity, "_cached", lambda name: next(reads))
    monkeypatch.setattr(integrity, "verify_chain", lambda head: pytest.fail("checked again at once"))
    shown = integrity.check()
    assert shown == replace(just_ended, fresh=False)
    assert integrity._claim()  # and the claim was given back


# Owners' view, partials -------------------------------------------------------------------------

def test_activity_for_owner_is_their_own_and_their_agents_newest_first(world):
    made = activity(world)
    got = activity_for_owner(world.alice.public_id, limit=50)
    want = sorted([e for e in AuditEvent.objects.all() if e.owner_id == world.alice.public_id],
                  key=lambda e: (e.occurred_at, e.id), reverse=True)
    assert [e.id for e in got] == [e.id for e in want]
    assert made["ledger_2d"].id not in {e.id for e in got}
    assert [e.id for e in activity_for_owner(world.alice.public_id, limit=2)] == [e.id for e in want[:2]]
    assert activity_for_owner("", limit=5) == []


def test_activity_and_chart_partials_render_for_profiles(world, django_assert_max_num_queries):
    from django.template.loader import render_to_string

    from audit.charts import principal_activity_chart

    activity(world)
    events_ = activity_for_owner(world.alice.public_id, limit=10)
    with django_assert_max_num_queries(1):
        html = render_to_string("audit/_activity.html", {"events": events_})
    assert "Scribe" in html and 'class="principal principal-24' in html
    assert "No activity yet" in render_to_string("audit/_activity.html", {"events": []})
    chart = render_to_string("audit/_chart.html", {"chart": principal_activity_chart(world.alice.public_id, kind="human")})
    assert "<svg" in chart and "<desc" in chart and "Agents" in chart


def test_action_codes_may_wrap_only_after_their_dots_and_underscores(world):
    """Kept on one line, the longest codes pushed the table past the page's width."""
    from audit.templatetags.audit_ui import breakable

    assert breakable("agent.elevation_removed") == "agent.<wbr>elevation_<wbr>removed"
    assert breakable("<b>.x") == "&lt;b&gt;.<wbr>x"
    activity(world)
    body = get(client_for(world.auditor)).content.decode()
    assert '<span class="action">document.<wbr>updated</span>' in body


def test_chart_counts_one_event_in_the_singular():
    from audit.charts import activity_svg
    from audit.selectors import DailyCounts

    day, other = date(2026, 11, 27), date(2026, 11, 28)
    start = datetime(2026, 11, 27, tzinfo=UTC)
    svg = activity_svg(DailyCounts([day, other], {day: {"agent": 1}, other: {"agent": 1, "human": 2}}, start, start + timedelta(days=2)))
    assert "<title>27 Nov: 1 event</title>" in svg and "<title>28 Nov: 3 events</title>" in svg
    # The scale on both sides: a phone opens the chart scrolled to its right-hand end.
    assert svg.count('<text x="38"') == 5 and svg.count('<text x="922"') == 5
    one = activity_svg(DailyCounts([day], {day: {"human": 1}}, start, start + timedelta(days=1)))
    assert ">1 event from 27 Nov 2026 to 27 Nov 2026: 1 by humans." in one


def test_a_charts_span_says_its_year_once_where_it_is_one():
    from audit.charts import span

    assert span([date(2026, 11, 1), date(2026, 11, 30)]) == "1 Nov to 30 Nov 2026"
    assert span([date(2025, 12, 20), date(2026, 1, 18)]) == "20 Dec 2025 to 18 Jan 2026"
    assert span([date(2026, 11, 30)]) == "30 Nov 2026"
    assert span([]) == ""


def test_chart_legend_names_only_the_kinds_it_draws(world):
    """An agent's profile has no humans in its chart, so its legend names none; a log
    filtered to nothing draws no bars and has no legend."""
    from django.template.loader import render_to_string

    from audit.charts import principal_activity_chart

    activity(world)
    scribe = render_to_string("audit/_chart.html", {"chart": principal_activity_chart(world.scribe.public_id, kind="agent")})
    legend = scribe[scribe.index('<div class="chart-legend">'):]
    assert "Agents" in legend and "Humans" not in legend and "System" not in legend
    everyone = get(client_for(world.auditor)).content.decode()
    legend = everyone[everyone.index('<div class="chart-legend">'):everyone.index("</figcaption>")]
    assert all(label in legend for label in ("Agents", "Humans", "Service accounts", "System"))
    nothing = get(client_for(world.auditor), action=events.AGENT_TRANSFERRED).content.decode()
    assert "<svg viewBox" in nothing and "chart-legend" not in nothing
    # The totals, in words under the bars (they were only in the SVG's description).
    assert re.search(r'<p class="chart-summary" aria-hidden="true">\d+ events from \d+ \w+ \d{4} to ', everyone)
    assert '<p class="chart-summary" aria-hidden="true">No events from ' in nothing


def test_workspace_cells_link_to_that_workspaces_events(world, make):
    """In the log, a workspace links to the log filtered to it (an auditor need not be
    able to open the workspace itself), by name; one deleted since still has its events
    in the log, so it can still be filtered to, by its slug."""
    activity(world)
    gone = make.workspace(world.acme, "gone-ws", name="Gone")
    record_at(NOW - timedelta(minutes=3), events.DOCUMENT_UPDATED, actor=world.alice, workspace=gone)
    Workspace.objects.filter(pk=gone.pk).delete()
    body = get(client_for(world.auditor)).content.decode()
    assert 'href="/audit/?workspace=research" hx-get="/audit/?workspace=research"' in body
    assert ">Research</a>" in body and 'href="/w/research/"' not in body
    assert 'href="/audit/?workspace=gone-ws"' in body and ">gone-ws</a>" in body
    page = get(client_for(world.auditor), workspace="research")
    assert listed_ids(page) == expected(world, lambda e: e.workspace == "research")
    deleted = get(client_for(world.auditor), workspace="gone-ws")
    assert deleted.context["form"].is_valid(), deleted.context["form"].errors
    assert listed_ids(deleted) == expected(world, lambda e: e.workspace == "gone-ws") and listed_ids(deleted)
    assert '<option value="gone-ws" selected>gone-ws (deleted)</option>' in deleted.content.decode()
    assert "No such workspace in this log" in get(client_for(world.auditor), workspace="never-was").content.decode()


def test_profile_activity_names_workspaces_and_links_only_those_the_reader_can_open(world, rf, make):
    """By name, linked where the reader can open it; a workspace deleted since by the
    slug its events kept. Actions read as words, sign-ins left to the audit log."""
    from django.template.loader import render_to_string

    from identity.selectors import profile_activity_page

    activity(world)
    record_at(NOW - timedelta(minutes=2), events.DOCUMENT_UPDATED, actor=world.scribe,
              workspace=Workspace.objects.get(slug="sales"))
    gone = make.workspace(world.acme, "gone-ws", name="Gone")
    record_at(NOW - timedelta(minutes=1), events.DOCUMENT_UPDATED, actor=world.scribe, workspace=gone)
    Workspace.objects.filter(pk=gone.pk).delete()
    record_at(NOW, events.HUMAN_LOGGED_IN, actor=world.alice)
    request = rf.get("/")
    request.user = world.alice.user
    html = render_to_string("audit/_activity.html", {"events": profile_activity_page(world.alice, limit=50).events}, request=request)
    assert '<a href="/w/research/">Research</a>' in html
    assert '<td class="nowrap">Sales</td>' in html and 'href="/w/sales/"' not in html
    assert '<td class="nowrap">gone-ws</td>' in html
    assert f'title="{events.DOCUMENT_UPDATED}">{events.REGISTRY[events.DOCUMENT_UPDATED].description}</span>' in html
    assert events.HUMAN_LOGGED_IN not in html
    # The chart above the list counts what it lists.
    from audit.charts import principal_activity_chart
    from identity.selectors import profile_activity_chart

    def total(chart) -> int:
        return int(re.search(r"<desc[^>]*>([\d,]+) events", chart.svg).group(1).replace(",", ""))

    from identity.selectors import QUIET_ACTIONS

    everything = principal_activity_chart(world.alice.public_id, kind="human")
    sign_ins = AuditEvent.objects.filter(owner_id=world.alice.public_id, action__in=QUIET_ACTIONS).count()
    assert sign_ins and total(profile_activity_chart(world.alice)) == total(everything) - sign_ins


def test_dashboard_feed_names_the_workspaces_and_links_those_the_reader_can_open(world, rf):
    from django.template.loader import render_to_string

    from identity.selectors import dashboard_activity

    activity(world)
    record_at(NOW - timedelta(minutes=2), events.DOCUMENT_UPDATED, actor=world.scribe,
              workspace=Workspace.objects.get(slug="sales"))
    request = rf.get("/")
    request.user = world.alice.user
    html = render_to_string("identity/_activity.html", {"events": dashboard_activity(world.alice, limit=50)}, request=request)
    assert 'in <a href="/w/research/">Research</a>' in html
    assert '<span class="quiet">in Sales</span>' in html and 'href="/w/sales/"' not in html


def test_orb_for_departed_principals_needs_a_login(world, client):
    assert client.get(reverse("audit-orb", args=["agt_gone1234"])).status_code == 404
    response = client_for(world.member).get(reverse("audit-orb", args=["agt_gone1234"]) + "?s=24")
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert response.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_htmx_is_told_the_url_of_the_filter_as_applied(world):
    """The URL htmx pushes is the canonical one: no empty fields, no dates a preset
    replaced, the page's position kept; a hostile position cannot break the header."""
    activity(world)
    client = client_for(world.auditor)
    day = (NOW - timedelta(days=3)).date().isoformat()
    response = client.get(URL, {"actor": "", "kind": "agent", "range": "7d", "since": day, "until": day},
                          HTTP_HX_REQUEST="true")
    assert response["HX-Push-Url"] == "/audit/?kind=agent&range=7d"
    assert "since" not in response.content.decode().split('href="/audit/export.csv')[1].split('"')[0]
    paged = client.get(URL, {"kind": "agent", "after": encode_cursor(NOW, 5)}, HTTP_HX_REQUEST="true")
    assert paged["HX-Push-Url"] == f"/audit/?kind=agent&after={encode_cursor(NOW, 5)}"
    hostile = client.get(URL, {"before": "x\r\nSet-Cookie: a=b"}, HTTP_HX_REQUEST="true")
    assert hostile.status_code == 200 and hostile["HX-Push-Url"] == "/audit/?before=x%0D%0ASet-Cookie%3A+a%3Db"
    assert "HX-Push-Url" not in client.get(URL, {"kind": "agent"})  # a full page needs no telling


def test_a_newer_link_near_the_top_keeps_the_time_range(world):
    """Fewer than a page newer than the cursor: the answer is the newest page of the
    same filter, time range included."""
    for n in range(5):  # the week: five events
        record_at(NOW - timedelta(days=1, minutes=n), events.COMMENT_CREATED, actor=world.triage, workspace=world.ops)
    for n in range(PAGE_SIZE):  # and many before it
        record_at(NOW - timedelta(days=20, minutes=n), events.COMMENT_CREATED, actor=world.triage, workspace=world.ops)
    week = EventFilter(actor_ids=(world.triage.public_id,), since=datetime.now(UTC) - timedelta(days=7))
    inside = events_page(week, org="acme").events
    assert len(inside) == 5
    page = events_page(week, org="acme", before=encode_cursor(inside[-1].occurred_at, inside[-1].id))
    assert [e.id for e in page.events] == [e.id for e in inside]


def test_the_request_id_is_the_servers_own(world, client):
    """A client's X-Request-ID is not what its events record: the server's own id is,
    and the answer carries it."""
    client.force_login(world.alice.user)
    response = client.post(f"/agents/{world.scribe.handle}/pause/", HTTP_X_REQUEST_ID="someone-elses-request-0001")
    assert response.status_code == 302
    paused = AuditEvent.objects.get(action="agent.paused")
    assert paused.request_id == response["X-Request-ID"] != "someone-elses-request-0001"


def test_an_owner_who_has_left_the_orgs_workspaces_can_still_be_filtered_to(world):
    """Carol (Globex) worked in Acme's research workspace through her agent, then was
    removed from it: those events stay in Acme's log, so a link filtered to her as owner
    keeps working (not "No such owner"), and lists them."""
    from dock.workspaces.models import Membership
    from dock.workspaces.services import membership_remove

    made = activity(world)
    membership_remove(actor=world.alice, membership=Membership.objects.get(workspace=world.research, principal=world.carol))
    response = get(client_for(world.auditor), owner=world.carol.public_id)
    assert response.context["form"].is_valid(), response.context["form"].errors
    assert f'<option value="{world.carol.public_id}" selected>Carol Chen (Globex)</option>' in response.content.decode()
    ids = listed_ids(response)
    assert made["courier_in_acme_1d"].id in ids and made["courier_in_globex_1d"].id not in ids
    assert ids == expected(world, lambda e: e.owner_id == world.carol.public_id)


def test_a_deleted_owner_can_still_be_filtered_to(world):
    """Bob was deleted, and with him his agent Ledger: their events stay, with Bob as
    their accountable owner, and the owner filter still finds them by his id."""
    from identity.services.users import user_delete

    made = activity(world)
    bob_id = world.bob.public_id
    user_delete(actor=world.admin, user=world.bob.user)
    response = get(client_for(world.auditor), owner=bob_id)
    assert response.context["form"].is_valid(), response.context["form"].errors
    assert f'<option value="{bob_id}" selected>Bob Brown (deleted)</option>' in response.content.decode()
    ids = listed_ids(response)
    assert made["ledger_2d"].id in ids
    assert ids == expected(world, lambda e: e.owner_id == bob_id)


def test_an_owner_never_in_the_orgs_log_stays_unknown(world):
    """Another org's human who never worked here is not made a choice by naming their id:
    the answer is the one an id nobody has gets."""
    activity(world)
    response = get(client_for(world.auditor), owner=world.auditor_b.public_id)
    assert response.context["form"].errors["owner"] == ["No such owner in this log: choose one from the list."]


def test_verify_pressed_tells_screen_readers_its_result(world, monkeypatch):
    """The panel is swapped in whole, and a live region swapped in whole is not read out:
    the result of pressing Verify goes to a status region beside it, which stays."""
    monkeypatch.setattr(integrity, "REST", 0)
    activity(world)
    client = client_for(world.auditor)
    said = re.compile(r'<p id="integrity-said"([^>]*)>(.*?)</p>', re.S)
    for page in (get(client), client.get("/audit/integrity/")):
        assert said.findall(page.content.decode()) == [(' class="sr-only" role="status" aria-atomic="true"', "")]
        assert 'id="integrity" aria-labelledby="integrity-heading" aria-live' not in page.content.decode()
    loaded = client.get("/audit/integrity/", HTTP_HX_REQUEST="true", HTTP_HX_TRIGGER="integrity").content.decode()
    assert said.findall(loaded) == []  # the panel's own load on opening the log says nothing
    pressed = client.get("/audit/integrity/", HTTP_HX_REQUEST="true", HTTP_HX_TRIGGER="verify-chain").content.decode()
    count = AuditEvent.objects.count()
    assert said.findall(pressed) == [(' hx-swap-oob="innerHTML"', f"Chain intact: all {count} events verified.")]


def test_a_transferred_agents_row_says_its_owner_now_beside_its_owner_then(world):
    """The row's Accountable owner is who answered for the agent then; the agent's card
    says who owns it today as 'now owned by', not as if it had always been theirs."""
    from identity.services.agents import agent_transfer

    made = record_at(NOW - timedelta(hours=1), events.DOCUMENT_UPDATED, actor=world.scribe, workspace=world.research)
    client = client_for(world.auditor)
    before = client.get(URL, {"actor": world.scribe.handle}).content.decode()
    assert "owned by <a" in before and "now owned by" not in before
    agent_transfer(actor=world.admin, agent=world.scribe, new_owner=world.bob)
    html = client.get(URL, {"actor": world.scribe.handle}).content.decode()
    row = html[html.index(f'id="event-{made.id}"'):]
    row = row[:row.index("</tbody>")]
    assert re.search(r"now owned by <a [^>]*>Bob Brown</a>", row)
    owner_cell = row[row.index("audit-owner"):]
    assert "Alice Adams" in owner_cell[:owner_cell.index("</td>")]
    mine = client_for(world.alice).get(world.alice.get_absolute_url()).content.decode()
    assert re.search(r"now owned by <a [^>]*>Bob Brown</a>", mine)


def test_dates_are_open_for_the_page_script_to_close(world):
    """Disabled fields are not sent: greyed out by the server, custom dates needed two
    Applies without JavaScript. The page's script closes them under a preset instead."""
    body = get(client_for(world.auditor)).content.decode()
    since = re.search(r'<input[^>]*name="since"[^>]*>', body).group(0)
    assert "disabled" not in since
    select = re.search(r'<select[^>]*name="range"[^>]*>', body).group(0)
    assert 'data-enables-when="custom"' in select and 'aria-controls="id_since id_until"' in select
    assert "<noscript><p class=\"audit-hint\">From and To count unless Time is Today or Last 7 or 30 days, which replace them.</p></noscript>" in body


def test_the_chart_says_which_days_it_shows(world):
    """Without a start date the list reaches back to the first event but the chart shows
    the last 30 days: its heading names them, for "Any time" as for Custom dates left empty."""
    activity(world)
    today = datetime.now(UTC).date()
    first = today - timedelta(days=29)
    expected_span = f"{first:%-d %b}{'' if first.year == today.year else f' {first:%Y}'} to {today:%-d %b %Y}"
    for params in ({}, {"range": "custom"}):
        body = get(client_for(world.auditor), **params).content.decode()
        assert f"Events per day by actor kind (UTC), {expected_span}</span>" in body, params
    since = today - timedelta(days=3)
    body = get(client_for(world.auditor), range="custom", since=since.isoformat()).content.decode()
    assert f"Events per day by actor kind (UTC), {since:%-d %b} to {today:%-d %b %Y}</span>" in body


def test_details_show_ids_and_hashes_whole(world):
    """Read and compared there: the whole value on the page, not only in a title or the
    copy button."""
    made = activity(world)
    event = made["scribe_today"]
    body = get(client_for(world.auditor), actor="scribe").content.decode()
    block = body[body.index(f'id="event-{event.id}"'):]
    block = block[block.index('<div class="audit-detail-body">'): block.index("</tbody>")]
    for value in (event.hash, event.prev_hash, event.actor_id, event.owner_id):
        assert f">{value}</code>" in block, value


def test_an_actor_from_another_org_says_so_in_its_row(world):
    made = activity(world)
    body = get(client_for(world.auditor), actor="courier").content.decode()
    cross = made["courier_in_acme_1d"]
    row = body[body.index(f'id="event-{cross.id}"'):]
    actor_cell = row[row.index('class="audit-who audit-actor"'):]
    actor_cell = actor_cell[: actor_cell.index("</td>")]
    assert ">from globex</span>" in actor_cell
    home = get(client_for(world.auditor), actor="scribe").content.decode()
    assert ">from acme</span>" not in home and ">from globex</span>" not in home


def test_integrity_without_javascript_keeps_the_way_back_to_the_filtered_log(world):
    activity(world)
    client = client_for(world.auditor)
    log = get(client, kind="agent", range="7d").content.decode()
    assert '<input type="hidden" name="back" value="kind=agent&amp;range=7d">' in log
    body = client.get("/audit/integrity/", {"back": "kind=agent&range=7d&evil=1&after=x"}).content.decode()
    assert '<li><a href="/audit/?kind=agent&amp;range=7d">Audit log</a></li>' in body
    assert '<input type="hidden" name="back" value="kind=agent&amp;range=7d">' in body
    flooded = client.get("/audit/integrity/", {"back": "&".join(["a"] * 1500)})
    assert flooded.status_code == 200 and '<li><a href="/audit/">Audit log</a></li>' in flooded.content.decode()
    plain = client.get("/audit/integrity/").content.decode()
    assert '<li><a href="/audit/">Audit log</a></li>' in plain and 'name="back"' not in plain


def test_a_profile_links_auditors_to_its_events_in_the_log(world):
    path = reverse("profile", args=[world.alice.handle])
    body = client_for(world.auditor).get(path).content.decode()
    assert f'<a href="/audit/?owner={world.alice.public_id}" aria-label="Alice Adams’s activity in the audit log">In the audit log</a>' in body
    agent = client_for(world.auditor).get(reverse("profile", args=[world.scribe.handle])).content.decode()
    assert f'<a href="/audit/?actor={world.scribe.public_id}" aria-label="Scribe’s activity in the audit log">In the audit log</a>' in agent
    assert "In the audit log" not in client_for(world.alice).get(path).content.decode()  # not an auditor


def test_the_events_begin_with_a_way_past_them_to_the_pages(world):
    activity(world)
    body = get(client_for(world.auditor)).content.decode()
    assert '<a class="audit-skip small" href="#audit-pager">Skip to the pages</a>' in body
    assert '<nav class="pager" id="audit-pager" tabindex="-1" aria-label="Pages">' in body
    empty = get(client_for(world.auditor), range="custom", since="2001-01-01", until="2001-01-02").content.decode()
    assert "Skip to the pages" not in empty  # no rows, nothing to skip
