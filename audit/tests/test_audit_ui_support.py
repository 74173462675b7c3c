"""Shared set-up for the audit log's tests (no tests here).

`world` builds two orgs through the real services, so every event is a real, chained
audit event; `record_at` appends one more at a chosen instant. Expected results are
computed here in plain Python from every event, independently of the selectors' SQL.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.db import transaction
from django.test import Client

from audit import events
from audit.models import AuditEvent
from audit.refs import SYSTEM
from audit.services import record

# The views read the real clock (presets are relative to it), so the story is told
# relative to the real clock too; expectations compute their bounds the same way.
NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)


def record_at(when: datetime, action: str, *, actor, workspace=None, target=None, details=None, org=None) -> AuditEvent:
    """Append one event to the real chain, stamped `when`."""
    with mock.patch("audit.services.timezone.now", return_value=when), transaction.atomic():
        record(action, actor=actor, workspace=workspace, target=target, details=details, org=org)
    return AuditEvent.objects.order_by("-id").first()


def scoped(org: str, rows=None) -> list[AuditEvent]:
    """Every event an auditor of `org` may read, newest first (plain Python)."""
    rows = list(AuditEvent.objects.all()) if rows is None else rows
    return sorted([e for e in rows if e.org == org or e.actor_org == org], key=lambda e: (e.occurred_at, e.id), reverse=True)


def client_for(principal) -> Client:
    client = Client()
    client.force_login(principal.user)
    return client


@dataclass
class World:
    acme: object
    globex: object
    auditor: object  # acme, org role auditor
    admin: object  # acme, org admin
    member: object  # acme, plain member
    alice: object  # acme, owns scribe and triage
    bob: object  # acme, owns ledger
    scribe: object
    triage: object
    ledger: object
    importer: object  # acme service account
    research: object  # acme workspace
    ops: object  # acme workspace
    auditor_b: object  # globex auditor
    carol: object  # globex, member of acme's research workspace
    courier: object  # carol's agent: acts in acme's workspace
    sales: object  # globex workspace


@pytest.fixture(autouse=True)
def fresh_cache():
    """Chart counts of settled days are cached; every test starts without them."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def world(make) -> World:
    acme = make.org("acme", "Acme")
    globex = make.org("globex", "Globex")
    auditor = make.human(acme, "Ada Auditor", role="auditor")
    admin = make.human(acme, "Arun Admin", role="admin")
    member = make.human(acme, "Mo Member")
    alice = make.human(acme, "Alice Adams")
    bob = make.human(acme, "Bob Brown")
    scribe, _ = make.agent(alice, "Scribe", scope="read,comment,write")
    triage, _ = make.agent(alice, "Triage", scope="read,comment,write")
    ledger, _ = make.agent(bob, "Ledger", scope="read,comment,write")
    importer, _ = make.service(acme, "Importer")
    research = make.workspace(acme, "research", name="Research")
    ops = make.workspace(acme, "ops", name="Operations")
    for ws in (research, ops):
        make.member(ws, alice, "editor")
        make.member(ws, bob, "editor")
    auditor_b = make.human(globex, "Gus Auditor", role="auditor")
    carol = make.human(globex, "Carol Chen")
    courier, _ = make.agent(carol, "Courier", scope="read,comment,write")
    sales = make.workspace(globex, "sales", name="Sales")
    make.member(sales, carol, "editor")
    make.member(research, carol, "editor")  # invited across orgs: her agent follows her
    return World(acme, globex, auditor, admin, member, alice, bob, scribe, triage, ledger, importer, research, ops,
                 auditor_b, carol, courier, sales)


def activity(w: World, now: datetime = NOW) -> dict:
    """A spread of events over the last five weeks, on top of the set-up events."""
    made = {}
    day = timedelta(days=1)
    made["scribe_today"] = record_at(now - timedelta(hours=2), events.DOCUMENT_UPDATED, actor=w.scribe,
                                     workspace=w.research, details={"fields": ["body"]})
    made["triage_3d"] = record_at(now - 3 * day, events.COMMENT_CREATED, actor=w.triage, workspace=w.ops)
    made["scribe_10d"] = record_at(now - 10 * day, events.DOCUMENT_CREATED, actor=w.scribe, workspace=w.ops)
    made["ledger_2d"] = record_at(now - 2 * day, events.DOCUMENT_UPDATED, actor=w.ledger, workspace=w.research)
    made["alice_1d"] = record_at(now - 1 * day, events.HUMAN_LOGGED_IN, actor=w.alice)
    made["importer_5d"] = record_at(now - 5 * day, events.DOCUMENT_CREATED, actor=w.importer, workspace=w.ops)
    made["system_4d"] = record_at(now - 4 * day, events.PROPOSAL_EXPIRED, actor=SYSTEM, workspace=w.research)
    made["courier_in_acme_1d"] = record_at(now - 1 * day, events.DOCUMENT_UPDATED, actor=w.courier, workspace=w.research)
    made["courier_in_globex_1d"] = record_at(now - 1 * day, events.DOCUMENT_UPDATED, actor=w.courier, workspace=w.sales)
    made["carol_globex_20d"] = record_at(now - 20 * day, events.DOCUMENT_CREATED, actor=w.carol, workspace=w.sales)
    made["alice_key_32d"] = record_at(now - 32 * day, events.KEY_ROTATED, actor=w.alice, target=w.scribe)
    return made
