"""Data migrations, run as migrations: from the schema before them, on its own models."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("identity", "0001_initial")]
AFTER = [("identity", "0002_agent_suspended_from")]


@pytest.fixture
def before_0002(transactional_db):
    """The historical models of the schema before 0002; every migration is applied again after."""
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    try:
        yield MigrationExecutor(connection).loader.project_state([*BEFORE, ("audit", "0005_lean_append")]).apps
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())


def test_agents_suspended_before_0002_learn_from_the_log_what_they_were_suspended_from(before_0002):
    """The column is new; the suspension's audit event has always said what it found."""
    apps = before_0002
    Org, Principal, AuditEvent = (apps.get_model(*name) for name in (
        ("identity", "Org"), ("identity", "Principal"), ("audit", "AuditEvent")))
    org = Org.objects.create(slug="acme", name="Acme")
    alice = Principal.objects.create(public_id="usr_A", handle="alice", display_name="Alice", kind="human", org=org,
                                     status="deactivated")

    def agent(n: str, status: str):
        return Principal.objects.create(public_id=f"agt_{n}", handle=n, display_name=n, kind="agent", org=org, owner=alice,
                                        status=status, scope=1)

    paused, running, paused_then_running, active = (
        agent("paused", "suspended"), agent("running", "suspended"), agent("twice", "suspended"), agent("active", "paused"))

    def suspended(target, found):
        AuditEvent.objects.create(occurred_at="2026-11-01T00:00:00Z", action="agent.suspended", actor_id="system",
                                  actor_kind="system", actor_name="system", target_kind="agent", target_id=target.public_id,
                                  details={"from": found, "reason": "owner deactivated"}, prev_hash="0" * 64, hash="1" * 64)

    suspended(paused, "paused")
    suspended(running, "active")
    suspended(paused_then_running, "paused")  # restored (to active, before 0002), then suspended again
    suspended(paused_then_running, "active")
    suspended(active, "paused")  # not suspended now: nothing to learn

    MigrationExecutor(connection).migrate(AFTER)
    from identity.models import Principal as Now

    got = dict(Now.objects.filter(kind="agent").values_list("handle", "suspended_from"))
    assert got == {"paused": "paused", "running": "", "twice": "", "active": ""}
