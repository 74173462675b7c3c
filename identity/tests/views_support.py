"""Shared set-up for the dashboard view tests (identity/tests/test_views_*.py)."""

import io

from django.test import Client
from PIL import Image

HTMX = {"HX-Request": "true"}
PASSWORD = "correct horse battery"


def logged_in(principal) -> Client:
    client = Client()
    client.force_login(principal.user)
    return client


def png_bytes(size=(64, 48), color=(40, 120, 200)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


class Team:
    """An org with an admin, two members, a workspace they share and a stranger org."""

    def __init__(self, make):
        self.org = make.org(slug="acme", name="Acme")
        self.admin = make.human(self.org, "Ada Admin", role="admin", email="ada@acme.test", password=PASSWORD)
        self.alice = make.human(self.org, "Alice Adams", email="alice@acme.test", password=PASSWORD)
        self.bob = make.human(self.org, "Bob Brown", email="bob@acme.test", password=PASSWORD)
        self.ws = make.workspace(self.org, "roadmap", name="Roadmap")
        make.member(self.ws, self.alice, "editor")
        make.member(self.ws, self.bob, "viewer")
        self.other_org = make.org(slug="globex", name="Globex")
        self.stranger = make.human(self.other_org, "Sam Stranger", email="sam@globex.test", password=PASSWORD)
