"""`make run`'s demo data: seeded once into an empty database, and consistent with itself."""

import pytest
from django.core.management import call_command

from audit import events
from audit.models import AuditEvent
from audit.selectors import verify_chain
from identity.models import ApiKey, Kind, Principal
from identity.services.keys import LAST_USED_EVERY

pytestmark = pytest.mark.django_db


def test_demo_seed_fills_an_empty_database_once():
    call_command("seed_demo", "--if-empty")
    assert Principal.objects.filter(kind=Kind.AGENT).count() >= 5
    result = verify_chain()
    assert result.ok, result.reason

    # An agent that wrote, commented or asked to delete did so through the API: its key
    # says when (a proposal an hour old stood beside "last used 9 h ago").
    work = (events.DOCUMENT_CREATED, events.DOCUMENT_UPDATED, events.COMMENT_CREATED, events.PROPOSAL_CREATED)
    acted = set(AuditEvent.objects.filter(actor_kind="agent", action__in=work).values_list("actor_id", flat=True))
    assert acted
    for agent in Principal.objects.filter(public_id__in=acted):
        last_act = AuditEvent.objects.filter(actor_id=agent.public_id, action__in=work).latest("occurred_at").occurred_at
        used = max((k.last_used_at for k in ApiKey.objects.filter(principal=agent) if k.last_used_at), default=None)
        assert used is not None, agent.display_name
        assert last_act - LAST_USED_EVERY <= used <= last_act, agent.display_name  # touched once a minute at most

    count = AuditEvent.objects.count()
    call_command("seed_demo", "--if-empty")
    assert AuditEvent.objects.count() == count
