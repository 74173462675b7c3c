"""Data migrations: what they read, and what they write."""

import importlib

from django.apps import apps

from audit.refs import SYSTEM
from conftest import refresh
from identity.models import Principal, Status
from identity.services import agents, users


def test_agents_suspended_before_0002_learn_from_the_log_what_they_were_suspended_from(make):
    """The column is new; the suspension's audit event has always said what it found."""
    from_the_log = importlib.import_module("identity.migrations.0002_agent_suspended_from").from_the_log
    alice = make.human(make.org("acme"), "Alice Adams")
    paused, _ = make.agent(alice, "Paused bot")
    running, _ = make.agent(alice, "Running bot")
    agents.agent_pause(actor=alice, agent=paused)
    users.user_deactivate(actor=SYSTEM, user=alice.user)
    Principal.objects.filter(pk__in=[paused.pk, running.pk]).update(suspended_from="")  # as before the column
    from_the_log(apps, None)
    assert [(refresh(a).status, refresh(a).suspended_from) for a in (paused, running)] == [
        (Status.SUSPENDED, "paused"),
        (Status.SUSPENDED, ""),
    ]
