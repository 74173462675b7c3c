"""Suite-wide test set-up."""

import pytest
from django.db import connections
from django.test import TransactionTestCase

from audit import triggers

# Transactional tests (live server, concurrency) end with a flush of every table. The
# audit table refuses DELETE and TRUNCATE by design, so the flush lifts the triggers for
# its own duration only and puts them back at once.
_original_teardown = TransactionTestCase._fixture_teardown


def _fixture_teardown(self):
    databases = self._databases_names(include_mirrors=False)
    for alias in databases:
        triggers.uninstall(connections[alias])
    try:
        _original_teardown(self)
    finally:
        for alias in databases:
            triggers.install(connections[alias])


TransactionTestCase._fixture_teardown = _fixture_teardown


def pytest_collection_modifyitems(config, items):
    from django.conf import settings

    on_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    skip = pytest.mark.skip(reason="runs on PostgreSQL only (DATABASE_URL=postgres://…)")
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(skip)


class Maker:
    """Builds test data through the real services (so every row has its audit events)."""

    def __init__(self):
        self.n = 0

    def _next(self) -> int:
        self.n += 1
        return self.n

    def org(self, slug: str | None = None, name: str | None = None):
        from audit.refs import SYSTEM
        from identity.services.users import org_create

        n = self._next()
        return org_create(actor=SYSTEM, slug=slug or f"org-{n}", name=name or f"Org {n}")

    def human(self, org=None, name: str | None = None, *, role: str = "member", password: str | None = None, email=None):
        from audit.refs import SYSTEM
        from identity.services.users import user_create

        n = self._next()
        org = org or self.org()
        user = user_create(
            actor=SYSTEM, email=email or f"user{n}@{org.slug}.test", org=org, display_name=name or f"Human {n}",
            role=role, password=password,
        )
        return user.principal

    def workspace(self, org, slug: str | None = None, *, visibility="members", restricted=False, name=None):
        from audit.refs import SYSTEM
        from dock.workspaces.services import workspace_create

        n = self._next()
        return workspace_create(
            actor=SYSTEM, org=org, slug=slug or f"ws-{n}", name=name or f"Workspace {n}",
            visibility=visibility, restricted=restricted,
        )

    def member(self, workspace, principal, role="editor"):
        from audit.refs import SYSTEM
        from dock.workspaces.services import membership_add

        return membership_add(actor=SYSTEM, workspace=workspace, principal=principal, role=role)

    def agent(self, owner, name: str | None = None, scope: str = "read"):
        """An agent and its key (plaintext)."""
        from identity import capabilities
        from identity.services.agents import agent_create

        n = self._next()
        return agent_create(actor=owner, owner=owner, name=name or f"Agent {n}", scope=capabilities.parse(scope))

    def service(self, org, name: str | None = None):
        from audit.refs import SYSTEM
        from identity.services.service_accounts import service_create

        n = self._next()
        return service_create(actor=SYSTEM, org=org, name=name or f"Service {n}")

    def document(self, workspace, author, title="A document", body="Text"):
        from dock.workspaces.services import document_create

        return document_create(actor=author, workspace=workspace, title=title, body=body)


@pytest.fixture
def make(db):
    return Maker()


def refresh(principal):
    """The principal as the database has it now."""
    from identity.models import Principal

    return Principal.objects.select_related("org", "owner").get(pk=principal.pk)


def actions_since(mark: int) -> list[str]:
    """Audit actions written after event id `mark`, in order."""
    from audit.models import AuditEvent

    return list(AuditEvent.objects.filter(id__gt=mark).order_by("id").values_list("action", flat=True))


def audit_mark() -> int:
    from audit.models import AuditEvent

    return AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


# Browser tests -------------------------------------------------------------------------
# pytest-playwright drives the distribution's chromium (never a downloaded build).
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_FLAGS, "headless": True}


def pytest_configure(config):
    import os

    # Playwright's sync API runs an event loop; Django's ORM is called from the test
    # thread around it.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


# Caches ----------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _throttles_of_this_test(monkeypatch):
    """Throttle counts live in the cache, which the tests of a run share (and on Redis,
    the runs of an hour): each test counts in buckets of its own, so that the sixth test
    to invite one address is not refused for the five before it."""
    import uuid

    from identity import throttle

    salt = uuid.uuid4().hex
    key = throttle.Bucket.key
    monkeypatch.setattr(throttle.Bucket, "key", lambda self, ident: key(self, f"{salt}:{ident}"))


@pytest.fixture(autouse=True)
def _integrity_checks_of_this_test(monkeypatch):
    """The integrity panel's last check lives in the cache too: each test's is its own,
    or one test's chain would be shown as another's."""
    import uuid

    from audit import integrity

    monkeypatch.setattr(integrity, "PREFIX", f"{integrity.PREFIX}:{uuid.uuid4().hex}")


@pytest.fixture
def private_cache(settings):
    """A local-memory cache of this test's own: throttle and rate-limit counts neither leak
    in from other tests nor touch a Redis shared with them (tests that mean Redis say so)."""
    import uuid

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": uuid.uuid4().hex}}


@pytest.fixture
def pinned_rate_window(monkeypatch):
    """The rate limiter's clock pinned mid-minute, so no test straddles a window boundary."""
    from identity.api import ratelimit

    monkeypatch.setattr(ratelimit, "clock", lambda: 1_800_000_030.0)


@pytest.fixture
def hermetic_api(private_cache, pinned_rate_window):
    """Both of the above: what every API test starts from."""
