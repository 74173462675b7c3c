"""Helpers for the dashboard's browser journeys (identity/tests/test_browser_*.py)."""

import json
import urllib.error
import urllib.request

from playwright.sync_api import Page, expect

PASSWORD = "correct horse battery"


def log_in(page: Page, live_server, email: str, password: str = PASSWORD) -> None:
    """Through the real log-in page, as a person would."""
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{live_server.url}/")


def api(live_server, key: str, path: str = "/api/v1/me") -> tuple[int, dict]:
    """Call the agent API with a key, as the agent would, over HTTP."""
    request = urllib.request.Request(f"{live_server.url}{path}", headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def mark_page(page: Page) -> None:
    """Tag the current document: if it is still tagged later, nothing reloaded it (an
    htmx swap, not a navigation)."""
    page.evaluate("window.__dockMark = 'still-here'")


def assert_not_reloaded(page: Page) -> None:
    assert page.evaluate("window.__dockMark") == "still-here", "the page was reloaded instead of swapped"
