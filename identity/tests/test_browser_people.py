"""The people directory (/people/): humans, agents and service accounts side by side."""

import pytest
from playwright.sync_api import Page, expect

from .browser_support import PASSWORD, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_choosing_a_kind_with_the_keyboard_keeps_focus_on_the_tab(page: Page, live_server, make):
    """The tabs are swapped with the list they narrow: the focus went with the old markup,
    to the page's body, and the next Tab started again at the top of the page."""
    org = make.org(slug="acme", name="Acme")
    alice = make.human(org, "Alice Adams", email="alice@acme.test", password=PASSWORD)
    make.agent(alice, "Scout")

    log_in(page, live_server, "alice@acme.test")
    page.goto(f"{live_server.url}/people/")
    tabs = page.get_by_role("navigation", name="Kind")
    tabs.get_by_role("link", name="Agents").focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live_server.url}/people/?kind=agent")
    expect(tabs.get_by_role("link", name="Agents")).to_have_attribute("aria-current", "page")
    expect(tabs.get_by_role("link", name="Agents")).to_be_focused()
    expect(page.locator("ul.people > li")).to_have_count(1)


def test_paging_the_directory_with_the_keyboard_lands_at_its_top(page: Page, live_server, make):
    """Next and Previous swap the list they sit in: focus fell to the page's body, and the
    next Tab started again at the top of the page. It goes to the page's heading."""
    org = make.org(slug="acme", name="Acme")
    make.human(org, "Alice Adams", email="alice@acme.test", password=PASSWORD)
    for n in range(25):
        make.human(org, f"Person {n:02}")

    log_in(page, live_server, "alice@acme.test")
    page.goto(f"{live_server.url}/people/?view=chart")
    page.get_by_role("link", name="Next →").focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live_server.url}/people/?view=chart&page=2")
    expect(page.get_by_role("heading", name="People", level=1)).to_be_focused()
    page.get_by_role("link", name="← Previous").focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live_server.url}/people/?view=chart&page=1")
    expect(page.get_by_role("heading", name="People", level=1)).to_be_focused()
