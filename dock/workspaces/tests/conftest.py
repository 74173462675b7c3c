"""Fixtures for the workspace pages: logged-in clients and browser contexts."""

import pytest
from django.test import Client


@pytest.fixture
def login():
    """login(principal) → a test Client with that human's session."""

    def make_client(principal, **defaults) -> Client:
        client = Client(**defaults)
        client.force_login(principal.user)
        return client

    return make_client


@pytest.fixture
def htmx():
    """Headers that make a test request look like htmx's."""
    return {"HTTP_HX_REQUEST": "true"}


def session_cookie_for(principal, base_url: str) -> dict:
    """A session for `principal`, as a Playwright cookie: journeys start logged in without
    depending on the log-in page (which its own tests drive)."""
    client = Client()
    client.force_login(principal.user)
    return {"name": "sessionid", "value": client.cookies["sessionid"].value, "url": base_url}


@pytest.fixture
def logged_in_page(browser, live_server):
    """logged_in_page(principal) → a Playwright page in a fresh context with that session."""
    contexts = []

    def open_page(principal=None, **context_args):
        context = browser.new_context(base_url=live_server.url, **context_args)
        contexts.append(context)
        if principal is not None:
            context.add_cookies([session_cookie_for(principal, live_server.url)])
        page = context.new_page()
        page.set_default_timeout(10_000)
        return page

    yield open_page
    for context in contexts:
        context.close()
