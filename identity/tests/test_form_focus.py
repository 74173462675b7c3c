"""A form drawn again with errors as a whole page puts keyboard focus on the first field to
mend, not at the top of the page (nor on the field a fresh form starts on)."""

import re

import pytest
from django.test import Client

from .views_support import Team, logged_in


@pytest.fixture
def team(make):
    return Team(make)


def autofocused(html: str) -> list[str]:
    return re.findall(r'<(?:input|textarea|select)[^>]*\bautofocus\b[^>]*\bname="([^"]+)"', html) + re.findall(
        r'<(?:input|textarea|select)[^>]*\bname="([^"]+)"[^>]*\bautofocus\b', html
    )


@pytest.mark.parametrize(
    "who, path, data, first",
    [
        (None, "/signup/", {"org_name": "Acme Two", "name": "", "email": "not-an-email", "password": "x"}, "name"),
        ("alice", "/w/new/", {"name": "", "slug": ""}, "name"),
        ("alice", "/w/roadmap/", {"title": "", "body": "Notes"}, "title"),
        ("alice", "/agents/new/", {"name": "", "scope": ["read"]}, "name"),
        ("admin", "/services/new/", {"name": "Nightly digest", "handle": "Not a handle!"}, "handle"),
    ],
)
def test_the_first_field_with_an_error_has_the_focus(team, who, path, data, first):
    client = logged_in(getattr(team, who)) if who else Client()
    response = client.post(path, data)
    assert response.status_code == 400
    assert autofocused(response.content.decode()) == [first]
