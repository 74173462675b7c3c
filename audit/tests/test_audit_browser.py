"""The compliance journey in a real browser: an auditor filters to "Alice's agents, last 7
days", pages through the result, exports the same set, and sees the chain verify."""

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.test import Client
from playwright.sync_api import Page, expect

from audit import events
from audit.models import AuditEvent
from audit.selectors import PAGE_SIZE
from audit.tests.test_audit_ui_support import record_at

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def story(make):
    acme = make.org("acme", "Acme")
    auditor = make.human(acme, "Ada Auditor", role="auditor")
    alice = make.human(acme, "Alice Adams")
    bob = make.human(acme, "Bob Brown")
    scribe, _ = make.agent(alice, "Scribe", scope="read,comment,write")
    triage, _ = make.agent(alice, "Triage", scope="read,comment,write")
    ledger, _ = make.agent(bob, "Ledger", scope="read,comment,write")
    research = make.workspace(acme, "research", name="Research")
    for human in (alice, bob):
        make.member(research, human, "editor")
    now = datetime.now(UTC)
    for n in range(PAGE_SIZE + 14):  # more than one page of what we are after
        agent = scribe if n % 3 else triage
        record_at(now - timedelta(hours=2 * n + 1), events.DOCUMENT_UPDATED, actor=agent, workspace=research,
                  details={"fields": ["body"], "n": n})
    for n in range(6):  # Alice's agents, but too long ago
        record_at(now - timedelta(days=9 + n), events.COMMENT_CREATED, actor=scribe, workspace=research)
    for n in range(8):  # Bob's agent, this week
        record_at(now - timedelta(hours=5 * n + 3), events.DOCUMENT_UPDATED, actor=ledger, workspace=research)
    record_at(now - timedelta(hours=1), events.HUMAN_LOGGED_IN, actor=alice)  # Alice herself
    return {"auditor": auditor, "alice": alice}


def log_in_as(page: Page, live_server, principal) -> None:
    """The session of a logged-in user, handed to the browser (no log-in form needed)."""
    client = Client()
    client.force_login(principal.user)
    page.context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}])


def listed(page: Page) -> list[int]:
    return [int(i.removeprefix("event-")) for i in page.locator("tbody.audit-event").evaluate_all("els => els.map(e => e.id)")]


def settled(page: Page) -> None:
    """Wait for htmx to settle the last swap: it binds the new content's links and buttons
    then (after 20 ms), and a key pressed on one before that is the browser's own, a
    full page load instead of a swap."""
    expect(page.locator(".htmx-added, .htmx-settling")).to_have_count(0)


def test_auditor_filters_pages_exports_and_verifies(live_server, page: Page, story, tmp_path):
    alice = story["alice"]
    log_in_as(page, live_server, story["auditor"])
    page.goto(f"{live_server.url}/audit/")
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    page.evaluate("window.__auditMark = 'same-document'")

    page.get_by_label("Owner", exact=True).select_option(label="Alice Adams")
    expect(page).to_have_url(re.compile(rf"owner={alice.public_id}"))
    page.get_by_label("Actor kind", exact=True).select_option("agent")
    expect(page).to_have_url(re.compile(r"kind=agent"))
    page.get_by_label("Time", exact=True).select_option("7d")
    expect(page).to_have_url(re.compile(r"range=7d"))
    # The URL names the filter and nothing else: bookmarkable, shareable.
    assert sorted(parse_qsl(urlsplit(page.url).query, keep_blank_values=True)) == [
        ("kind", "agent"), ("owner", alice.public_id), ("range", "7d")], page.url
    expect(page.get_by_label("Time", exact=True)).to_have_value("7d")

    since = datetime.now(UTC) - timedelta(days=7)
    want = [e.id for e in sorted(
        (e for e in AuditEvent.objects.all()
         if e.owner_id == alice.public_id and e.actor_kind == "agent" and e.occurred_at >= since and e.org == "acme"),
        key=lambda e: (e.occurred_at, e.id), reverse=True)]
    assert len(want) == PAGE_SIZE + 14

    seen = listed(page)
    assert seen == want[:PAGE_SIZE]
    pages = 1
    settled(page)
    while page.get_by_role("link", name="Older →").count():
        first_before = seen[-1]
        page.get_by_role("link", name="Older →").focus()
        page.keyboard.press("Enter")
        expect(page).to_have_url(re.compile(r"after="))
        # The link is gone with the page it was on: the keyboard goes to the new page's
        # heading, which is scrolled into view (the view stayed at the bottom before).
        expect(page.locator("#events-heading")).to_be_focused()
        expect(page.locator("#events-heading")).to_be_in_viewport()
        expect(page.locator("tbody.audit-event").first).not_to_have_id(f"event-{want[0]}")
        got = listed(page)
        assert got and got[0] != first_before
        seen += got
        pages += 1
        settled(page)
    assert seen == want and pages == 2
    assert page.evaluate("window.__auditMark") == "same-document"  # htmx swaps, no reloads
    expect(page.get_by_text("No older events")).to_be_visible()

    # And back up: the newer page is the first page again.
    page.get_by_role("link", name="← Newer").click()
    expect(page).to_have_url(re.compile(r"before="))
    expect(page.locator("tbody.audit-event").first).to_have_id(f"event-{want[0]}")
    assert listed(page) == want[:PAGE_SIZE]
    expect(page.get_by_role("link", name="← Newer")).to_have_count(0)
    expect(page.locator("#events-heading")).to_be_focused()
    page.go_back()  # htmx asks for the whole page again, and gets it
    expect(page.get_by_text("No older events")).to_be_visible()
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()

    # A row opens to its details, hashes ready to copy.
    event = AuditEvent.objects.get(id=seen[-1])
    row = page.locator(f"#event-{event.id}")
    row.locator("summary").click()
    expect(row.locator(f'[data-copy="{event.hash}"]')).to_be_visible()

    # The export carries the same filter: exactly these events, oldest first.
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    assert download.value.suggested_filename.startswith("audit-acme-")
    path = tmp_path / "export.csv"
    download.value.save_as(path)
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    by_hash = {e.hash: e.id for e in AuditEvent.objects.filter(id__in=want)}
    assert [by_hash.get(r["hash"]) for r in rows] == sorted(want)

    # The integrity panel verifies the whole chain.
    expect(page.locator('[data-integrity="ok"]')).to_be_visible()
    expect(page.locator("#integrity")).to_contain_text("Chain intact")
    expect(page.locator("#integrity .audit-integrity-main")).not_to_have_class(re.compile("is-new"))
    page.get_by_role("button", name="Verify again").click()
    expect(page.locator('[data-integrity="ok"]')).to_be_visible()
    # The result is marked as new: within the same second it reads as it did.
    expect(page.locator("#integrity .audit-integrity-main")).to_have_class(re.compile("is-new"))
    settled(page)
    # From the keyboard, focus stays on the button across the panel's swap.
    page.get_by_role("button", name="Verify again").focus()
    with page.expect_response(re.compile(r"/audit/integrity/")):
        page.keyboard.press("Space")  # a button: Space presses it (as a link, it scrolled the page)
    expect(page.locator('[data-integrity="ok"]')).to_be_visible()
    expect(page.get_by_role("button", name="Verify again")).to_be_focused()
    assert page.evaluate("window.__auditMark") == "same-document"  # swapped in place, not submitted
    settled(page)

    # Apply is in the answer too, by its id: the keyboard stays on it.
    page.get_by_role("button", name="Apply").focus()
    with page.expect_response(re.compile(r"/audit/\?")):
        page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Apply")).to_be_focused()


def test_custom_dates_can_be_typed_and_apply_when_asked(live_server, page: Page, story):
    """A date typed digit by digit is valid long before it is finished (year 2, 20,
    202…): the page must not apply it, and re-render the form under the typist's
    fingers, until they press Enter or Apply."""
    log_in_as(page, live_server, story["auditor"])
    page.goto(f"{live_server.url}/audit/")
    page.get_by_label("Time", exact=True).select_option("custom")
    expect(page).to_have_url(re.compile(r"range=custom"))
    since = page.get_by_label("From", exact=True)
    expect(since).to_be_enabled()
    day = datetime.now(UTC).date() - timedelta(days=3)
    since.focus()  # the first segment (a click lands on whichever segment is under it)
    page.keyboard.type(day.strftime("%m%d%Y"), delay=60)  # the browser's en-US order
    expect(since).to_have_value(day.isoformat())
    expect(page).not_to_have_url(re.compile(r"since="))  # typed, not yet applied
    # Meanwhile the page says so, and the export (of the filter still applied) waits.
    expect(page.get_by_text("Not applied yet: press Enter or Apply.")).to_be_visible()
    export = page.get_by_role("link", name="Export CSV")
    expect(export).to_have_attribute("aria-disabled", "true")
    downloads = []
    page.on("download", lambda download: downloads.append(download))
    export.focus()
    page.keyboard.press("Enter")  # the user follows it all the same
    page.wait_for_timeout(1000)
    assert downloads == []
    since.press("Enter")
    expect(page).to_have_url(re.compile(rf"since={day.isoformat()}"))
    expect(page.get_by_label("From", exact=True)).to_have_value(day.isoformat())
    expect(page.get_by_text("Not applied yet: press Enter or Apply.")).to_be_hidden()
    expect(page.get_by_role("link", name="Export CSV")).not_to_have_attribute("aria-disabled", "true")
    expect(page.get_by_role("link", name="Export CSV")).to_have_attribute("href", re.compile(rf"since={day.isoformat()}"))
    want = AuditEvent.objects.filter(occurred_at__gte=datetime.combine(day, datetime.min.time(), tzinfo=UTC), org="acme")
    expect(page.locator("tbody.audit-event")).to_have_count(min(want.count(), PAGE_SIZE))


def test_dates_are_closed_under_a_preset_and_not_sent_with_one(live_server, page: Page, story):
    log_in_as(page, live_server, story["auditor"])
    page.goto(f"{live_server.url}/audit/")
    since, until = page.get_by_label("From", exact=True), page.get_by_label("To", exact=True)
    expect(since).to_be_disabled()
    expect(until).to_be_disabled()
    day = (datetime.now(UTC).date() - timedelta(days=3)).isoformat()
    page.goto(f"{live_server.url}/audit/?range=custom&since={day}")
    expect(since).to_be_enabled()
    page.get_by_label("Time", exact=True).select_option("7d")  # sent at once, by htmx
    expect(page).to_have_url(re.compile(r"range=7d"))
    settled(page)
    assert "since=" not in page.url
    expect(since).to_be_disabled()
    expect(since).to_have_value("")


def test_without_javascript_custom_dates_take_one_apply(live_server, browser, story):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        log_in_as(page, live_server, story["auditor"])
        page.goto(f"{live_server.url}/audit/")
        # (In <noscript>, which Playwright's text search passes over.)
        expect(page.locator("p.audit-hint")).to_have_text("From and To count unless Time is Today or Last 7 or 30 days, which replace them.")
        expect(page.locator("p.audit-hint")).to_be_visible()
        page.get_by_label("Time", exact=True).select_option("custom")
        day = (datetime.now(UTC).date() - timedelta(days=3)).isoformat()
        page.get_by_label("From", exact=True).fill(day)
        page.get_by_role("button", name="Apply").click()
        expect(page).to_have_url(re.compile(rf"range=custom.*since={day}"))
        expect(page.get_by_label("From", exact=True)).to_have_value(day)
        want = AuditEvent.objects.filter(occurred_at__gte=datetime.combine(date.fromisoformat(day), datetime.min.time(), tzinfo=UTC),
                                         org="acme")
        expect(page.locator("tbody.audit-event")).to_have_count(min(want.count(), PAGE_SIZE))
    finally:
        context.close()


def test_a_keyboard_reaches_the_pages_past_the_rows_in_one_step(live_server, page: Page, story):
    """Each row holds a few links (actor, owner, workspace, details): a page of them is a
    long way to Tab to Older. The first stop of the events skips there."""
    log_in_as(page, live_server, story["auditor"])
    page.goto(f"{live_server.url}/audit/")
    skip = page.get_by_role("link", name="Skip to the pages")
    page.get_by_role("link", name="Export CSV").focus()
    page.keyboard.press("Shift+Tab")
    expect(skip).to_be_focused()
    expect(skip).to_be_visible()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Older →")).to_be_focused()


def test_the_log_fits_the_window_at_every_width(live_server, page: Page, story):
    """The table's seven columns need about 1,000 pixels: narrower (a tablet), each event
    is a block, as on a phone. Between 721 and 1,000 pixels the table scrolled sideways,
    and at 1,280 the longest action codes pushed it past the page."""
    log_in_as(page, live_server, story["auditor"])
    for width in (375, 800, 1024, 1280):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{live_server.url}/audit/")
        wrap = page.locator(".table-wrap").first
        assert wrap.evaluate("el => el.scrollWidth <= el.clientWidth"), width
        assert page.evaluate("document.documentElement.scrollWidth") == width


def test_a_profiles_activity_fits_its_column_at_every_width(live_server, page: Page, story):
    """On a profile the activity sits in a column beside the profile card: at 1,024
    pixels that column was narrower than the table's least width and it scrolled sideways."""
    log_in_as(page, live_server, story["auditor"])
    for width in (375, 800, 1024, 1280):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{live_server.url}/p/{story['alice'].handle}/")
        wrap = page.locator(".table-wrap:has(.audit-activity)")
        assert wrap.evaluate("el => el.scrollWidth <= el.clientWidth"), width
        assert page.evaluate("document.documentElement.scrollWidth") == width


def test_the_charts_scale_and_day_labels_stay_readable_at_every_width(live_server, page: Page, story):
    """The chart's SVG scales to its box, and its text with it: on a profile (half the
    page wide) its 11-pixel labels were drawn at about 7 pixels. Wherever it is drawn,
    they come out at 9.5 pixels or more."""
    log_in_as(page, live_server, story["auditor"])
    drawn = """() => Array.from(document.querySelectorAll('.audit-chart .chart > svg')).map(svg =>
        parseFloat(getComputedStyle(svg.querySelector('text')).fontSize) * svg.getBoundingClientRect().width / 960)"""
    for width in (375, 800, 1024, 1280):
        page.set_viewport_size({"width": width, "height": 900})
        for url in ("/audit/", f"/p/{story['alice'].handle}/"):
            page.goto(f"{live_server.url}{url}")
            sizes = page.evaluate(drawn)
            assert sizes and min(sizes) >= 9.5, (width, url, sizes)


def test_times_say_utc_where_the_column_head_is_not_shown(live_server, page: Page, story):
    """Below about 1,000 pixels each event is a block and the table's head, "When (UTC)",
    is out of sight: each time says UTC itself there, so that it is not read as local time.
    Out of sight only: the head was display: none, and a screen reader's table mode lost
    every column's name with it (on a profile's activity too)."""
    log_in_as(page, live_server, story["auditor"])
    after = "el => getComputedStyle(el, '::after').content"
    for width, head_shown in ((375, False), (800, False), (1280, True)):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{live_server.url}/audit/")
        when = page.locator(".audit-when time").first
        assert (page.locator(".audit-table thead").bounding_box()["height"] > 1) == head_shown, width
        assert when.evaluate(after) == ("none" if head_shown else '" UTC"'), width
        for name in ("When (UTC)", "Action", "Actor", "Accountable owner", "Workspace", "Target"):
            expect(page.get_by_role("columnheader", name=name)).to_have_count(1)
        page.goto(f"{live_server.url}/p/{story['alice'].handle}/")
        for name in ("When (UTC)", "Who and what", "Where"):
            expect(page.get_by_role("columnheader", name=name)).to_have_count(1)
