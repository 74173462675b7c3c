"""Shared set-up for the service-account tests (identity/tests/test_service_accounts*.py)."""

import re

import pytest
from django.urls import reverse

from identity import keys
from identity.models import ApiKey

KEY_RE = re.compile(r"dock_[0-9A-Za-z]{8}_[0-9A-Za-z]{38,}")


@pytest.fixture(autouse=True)
def fresh_cache(hermetic_api):
    """A private cache and a pinned rate-limit window (see the root conftest)."""


class Org:
    """Acme: an owner, an admin, two members and an auditor; workspaces the admin
    administers (roadmap, ops, handbook) and one they are not in (vault); a service
    account granted editor in roadmap. Globex next door has its own admin."""

    def __init__(self, make):
        self.org = make.org(slug="acme", name="Acme")
        self.owner = make.human(self.org, "Olga Owner", role="owner", email="olga@acme.test")
        self.admin = make.human(self.org, "Ada Admin", role="admin", email="ada@acme.test")
        self.alice = make.human(self.org, "Alice Adams", email="alice@acme.test")
        self.bob = make.human(self.org, "Bob Brown", email="bob@acme.test")
        self.auditor = make.human(self.org, "Audrey Auditor", role="auditor", email="audrey@acme.test")
        self.roadmap = make.workspace(self.org, "roadmap", name="Roadmap")
        self.ops = make.workspace(self.org, "ops", name="Ops")
        self.handbook = make.workspace(self.org, "handbook", name="Handbook", visibility="org")
        self.vault = make.workspace(self.org, "vault", name="Vault")
        for w in (self.roadmap, self.ops, self.handbook):
            make.member(w, self.admin, "admin")
        make.member(self.roadmap, self.alice, "editor")
        make.member(self.roadmap, self.bob, "viewer")
        make.member(self.vault, self.alice, "admin")
        self.doc = make.document(self.roadmap, self.alice, title="Plan")
        self.service, self.key = make.service(self.org, "Nightly Digest")
        make.member(self.roadmap, self.service, "editor")
        self.other = make.org(slug="globex", name="Globex")
        self.other_admin = make.human(self.other, "Gus Globex", role="admin", email="gus@globex.test")


@pytest.fixture
def acme(make):
    return Org(make)


def usable(plaintext: str) -> bool:
    row = ApiKey.objects.filter(prefix=keys.parse(plaintext)).first()
    return bool(row and row.is_usable() and keys.matches(plaintext, row.digest))


def url(name, service=None, *args):
    return reverse(name, args=[service.public_id, *args] if service is not None else args)
