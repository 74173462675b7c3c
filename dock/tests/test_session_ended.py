"""An in-place update asked for after the session ended sends the browser to log in.

htmx follows a redirect itself and swaps what it gets: the login page, header and all,
drawn inside the page still showing, with nothing said about why."""

from urllib.parse import quote

import pytest
from django.urls import reverse

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def world(make):
    org = make.org()
    alice = make.human(org, name="Alice")
    workspace = make.workspace(org, slug="roadmap")
    make.member(workspace, alice, role="admin")
    agent, _key = make.agent(alice, name="Scribe")
    return {"workspace": workspace, "agent": agent}


def _login_for(path: str) -> str:
    return reverse("login") + "?next=" + quote(path, safe="/")


def test_swaps_after_the_session_ended_go_to_the_login_page(client, world):
    members = reverse("workspace-members", args=[world["workspace"].slug])
    pause = reverse("agent-pause", args=[world["agent"].handle])
    for method, path, back in (("get", reverse("people") + "?q=ali", None), ("get", members, None), ("post", pause, "/"),
                               ("get", "/audit/?kind=agent", None)):
        response = getattr(client, method)(path, **HX)
        assert response.status_code == 200, (path, response.status_code)
        assert response["HX-Redirect"] == _login_for(back or path), path
        assert not response.content and "HX-Request" in response["Vary"]


def test_the_login_returns_to_the_page_on_screen_not_to_the_control(client, world):
    """A pause button's address answers POST only: after logging in, the browser goes back
    to the page the person was on. Another site's address is not taken as one."""
    page = reverse("profile", args=[world["agent"].handle])
    pause = reverse("agent-pause", args=[world["agent"].handle])
    response = client.post(pause, headers={"HX-Request": "true", "HX-Current-URL": f"http://testserver{page}?tab=keys"})
    assert response["HX-Redirect"] == _login_for(page + "?tab=keys")
    response = client.post(pause, headers={"HX-Request": "true", "HX-Current-URL": "https://elsewhere.example/x"})
    assert response["HX-Redirect"] == _login_for("/")


def test_whole_pages_keep_the_plain_redirect(client, world):
    """A page opened or reloaded, and the back button's own htmx request for a whole page."""
    members = reverse("workspace-members", args=[world["workspace"].slug])
    for headers in ({}, {**HX, "HTTP_HX_HISTORY_RESTORE_REQUEST": "true"}):
        response = client.get(members, **headers)
        assert response.status_code == 302 and response["Location"] == _login_for(members)
        assert "HX-Redirect" not in response

