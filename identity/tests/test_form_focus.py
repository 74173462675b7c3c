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


def test_editing_a_document_focuses_the_field_to_mend(team, make):
    """Its errors were tied to the field, but focus was left on the page's body."""
    document = make.document(team.ws, team.alice, title="Plan")
    response = logged_in(team.alice).post(f"/w/{team.ws.slug}/d/{document.public_id}/edit/", {"title": "", "body": "x"})
    assert response.status_code == 400
    assert autofocused(response.content.decode()) == ["title"]
