"""Journeys 3 and 4: create an agent (key shown once), then pause, resume, rotate and
revoke it — each an htmx swap of the agent card — with the API answering accordingly."""

import io
import re

import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from conftest import refresh
from identity.models import ApiKey, Principal

from .browser_support import api, assert_not_reloaded, log_in, mark_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

KEY = re.compile(r"^dock_[0-9A-Za-z]{8}_[0-9A-Za-z]{38,}$")


@pytest.fixture
def alice(make):
    org = make.org(slug="acme", name="Acme")
    alice = make.human(org, "Alice Adams", email="alice@acme.test", password="correct horse battery")
    make.member(make.workspace(org, "roadmap", name="Roadmap"), alice, "editor")
    return alice


def card_shape(html: str) -> str:
    """A card's markup without its words, picture and kind label."""
    html = re.sub(r'\s*<span class="kind">.*?</span>', "", html)
    return re.sub(r'src="[^"]*"|>[^<]*<', "><", html)


def avatar_file(tmp_path):
    path = tmp_path / "scribe.png"
    buffer = io.BytesIO()
    Image.new("RGB", (300, 200), (200, 90, 40)).save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue())
    return path


def test_create_an_agent_and_see_its_key_once(page: Page, live_server, alice, tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    log_in(page, live_server, "alice@acme.test")
    page.goto(f"{live_server.url}/agents/new/")
    scope = {name: page.get_by_label(label, exact=True) for name, label in
             [("read", "Read"), ("comment", "Comment"), ("write", "Write"), ("delete", "Delete (asks for approval)")]}
    expect(scope["read"]).to_be_checked()
    for name in ("comment", "write", "delete"):
        expect(scope[name]).not_to_be_checked()

    page.get_by_label("Name").fill("Scribe")
    page.get_by_label("Avatar").set_input_files(str(avatar_file(tmp_path)))
    scope["write"].check()
    page.get_by_role("button", name="Create agent").click()

    expect(page).to_have_url(f"{live_server.url}/p/scribe/")
    secret = page.locator("#new-key")
    expect(secret).to_be_visible()
    key = secret.inner_text().strip()
    assert KEY.match(key)
    copy = page.get_by_role("button", name="Copy", exact=True)
    copy.click()
    expect(page.locator("[data-copy-target='#new-key']")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == key

    status, me = api(live_server, key)
    agent = Principal.objects.get(handle="scribe")
    assert status == 200 and me["id"] == agent.public_id and me["scope"] == ["read", "write"]
    assert me["owner"]["handle"] == alice.handle

    # Never again: not on reload, not anywhere on the page.
    page.reload()
    expect(page.locator("#new-key")).to_have_count(0)
    assert key not in page.content()
    assert key[:14] in page.content()  # the prefix stays, for recognising the key

    # The agent's face is a human's: the same card, the kind a small label, the owner shown.
    head = page.locator(".profile-head .principal-128")
    expect(head.locator(".principal-name")).to_have_text("Scribe")
    expect(head.locator(".kind")).to_have_text("agent · owned by Alice Adams")
    expect(head.locator("img.avatar-128")).to_have_attribute("src", re.compile(r"^/a/agt_\w+\.png\?v="))
    expect(page.locator("#facts")).to_contain_text("Alice Adams")
    agent_card_html = head.evaluate("el => el.outerHTML")

    page.goto(f"{live_server.url}/p/{alice.handle}/")
    human_head = page.locator(".profile-head .principal-128")
    expect(human_head.locator(".principal-name")).to_have_text("Alice Adams")
    expect(human_head.locator(".kind")).to_have_count(0)
    human_card_html = human_head.evaluate("el => el.outerHTML")
    assert card_shape(agent_card_html) == card_shape(human_card_html)
    expect(page.locator("#main").get_by_role("link", name="Scribe")).to_be_visible()
    # The activity chart uses the card's width: the rule that drops a <figure>'s default
    # side margins lived in the audit log's stylesheet, which profiles do not load.
    chart = page.locator("figure.audit-chart")
    expect(chart).to_be_visible()
    assert chart.evaluate("el => [getComputedStyle(el).marginLeft, getComputedStyle(el).marginRight]") == ["0px", "0px"]
    expect(chart.locator(".chart-scroll-hint")).to_be_hidden()  # it fits: nothing scrolls

    # On a phone the chart scrolls sideways and opens at its newest end: the scale is
    # drawn on that side too (it was only on the left, out of sight), and a line says so.
    page.set_viewport_size({"width": 375, "height": 800})
    expect(chart.locator(".chart-scroll-hint")).to_be_visible()
    frame = chart.locator(".chart").bounding_box()
    scale = [box for box in (label.bounding_box() for label in chart.locator("svg text[x='922']").all()) if box]
    assert len(scale) == 5
    assert all(frame["x"] <= box["x"] and box["x"] + box["width"] <= frame["x"] + frame["width"] for box in scale)


def test_owner_pauses_resumes_rotates_and_revokes_with_the_api_following(page: Page, live_server, alice, make):
    agent, old_key = make.agent(alice, "Courier", scope="read,write")
    assert api(live_server, old_key)[0] == 200  # the old key now has a last-used time
    log_in(page, live_server, "alice@acme.test")
    page.goto(f"{live_server.url}/p/{agent.handle}/")
    card = page.locator("#agent-card")
    status = card.locator("[data-status]")
    expect(status).to_have_text("Active")
    mark_page(page)

    card.get_by_role("button", name="Pause").focus()
    page.keyboard.press("Enter")
    expect(status).to_have_text("Paused")
    expect(card.get_by_role("button", name="Resume")).to_be_focused()  # the keyboard stays on the control
    code, body = api(live_server, old_key)
    assert (code, body["error"]) == (403, "agent_inactive")
    expect(page.locator(".profile-head .chip-paused")).to_have_text("Paused")  # the header follows (out of band)

    card.get_by_role("button", name="Resume").click()
    expect(status).to_have_text("Active")
    assert api(live_server, old_key)[0] == 200

    card.get_by_role("button", name="Rotate key").click()
    new_key = card.locator("#new-key").inner_text().strip()
    expect(card.get_by_role("button", name="Copy")).to_be_focused()
    assert KEY.match(new_key) and new_key != old_key
    old_prefix = ApiKey.objects.get(replaced_by__isnull=False, principal=agent).prefix
    old_row = card.locator(f"li[data-key='{old_prefix}']")
    expect(old_row).to_have_attribute("data-state", "grace")
    expect(old_row.locator("[data-countdown]")).to_have_text(re.compile(r"^1[45] min \d\d s$"))
    expect(old_row.locator(".last-used")).to_contain_text("last used")
    expect(card.locator("li[data-state='current'] .last-used")).to_have_text("never used")
    assert api(live_server, new_key)[0] == 200
    assert api(live_server, old_key)[0] == 200  # still inside its grace window

    # Revoke… asks inside the card (no script dialog), with the keyboard on the question.
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    card.get_by_role("link", name="Revoke…").click()
    question = card.get_by_role("region", name="Revoking Courier")
    expect(question.get_by_text("Revoke Courier for good?")).to_be_focused()
    expect(question).to_contain_text("Its keys are destroyed at once")
    expect(question).to_contain_text("cannot be undone")
    question.get_by_role("link", name="Cancel").click()
    expect(question).to_have_count(0)
    expect(card.get_by_role("link", name="Revoke…")).to_be_focused()  # back where the keyboard was
    expect(status).to_have_text("Active")
    assert api(live_server, new_key)[0] == 200

    card.get_by_role("link", name="Revoke…").click()
    question.get_by_role("button", name="Revoke Courier").click()
    expect(status).to_have_text("Revoked")
    expect(card.locator(".flash-success")).to_be_focused()  # the control is gone: focus on what was done
    assert dialogs == []
    for key in (new_key, old_key):
        code, body = api(live_server, key)
        assert (code, body["error"]) == (401, "invalid_key")
    expect(card.get_by_role("button", name="Pause")).to_have_count(0)
    assert_not_reloaded(page)


def test_back_after_pausing_shows_the_agent_paused_not_the_page_as_first_loaded(page: Page, live_server, alice, make):
    """The pause swaps the card in place; a later Back must not bring back the copy of the
    page the browser kept from before (Active, with a Pause button that now fails)."""
    agent, _ = make.agent(alice, "Courier")
    log_in(page, live_server, "alice@acme.test")
    page.goto(f"{live_server.url}/p/{agent.handle}/")
    status = page.locator("#agent-card [data-status]")
    expect(status).to_have_text("Active")
    page.locator("#agent-card").get_by_role("button", name="Pause").click()
    expect(status).to_have_text("Paused")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Home").click()
    expect(page).to_have_url(f"{live_server.url}/")
    page.go_back()
    expect(page).to_have_url(f"{live_server.url}/p/{agent.handle}/")
    expect(status).to_have_text("Paused")
    expect(page.locator("#agent-card").get_by_role("button", name="Resume")).to_be_visible()


def test_owner_widens_the_scope_in_place_and_the_api_follows(page: Page, live_server, alice, make):
    agent, key = make.agent(alice, "Courier")
    log_in(page, live_server, "alice@acme.test")
    page.goto(f"{live_server.url}/p/{agent.handle}/")
    mark_page(page)
    card = page.locator("#agent-card")
    card.get_by_label("Comment", exact=True).check()
    card.get_by_role("button", name="Change scope").click()
    expect(card.locator(".flash-success")).to_have_text("Courier's scope is now read, comment.")
    expect(page.locator("#facts")).to_contain_text("comment")  # the facts follow (out of band)
    expect(card.get_by_role("button", name="Change scope")).to_be_focused()
    assert_not_reloaded(page)
    status, me = api(live_server, key)
    assert status == 200 and me["scope"] == ["read", "comment"]


def test_a_control_that_fails_says_so_instead_of_doing_nothing(page: Page, live_server, alice, make):
    """htmx swaps only successful answers. Logged in again in another tab (which renews the
    CSRF token), Pause was refused with a 403 and the button simply did nothing."""
    agent, _ = make.agent(alice, "Courier")
    log_in(page, live_server, "alice@acme.test")
    page.goto(f"{live_server.url}/p/{agent.handle}/")
    other_tab = page.context.new_page()
    other_tab.goto(f"{live_server.url}/")
    other_tab.locator("details.menu summary").click()
    other_tab.get_by_role("button", name="Log out").click()
    expect(other_tab).to_have_url(re.compile(r"/login/"))
    log_in(other_tab, live_server, "alice@acme.test")

    page.locator("#agent-card").get_by_role("button", name="Pause").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("That was refused. The page may be out of date: reload it and try again.")
    expect(alert).to_be_focused()
    assert refresh(agent).status == "active"
