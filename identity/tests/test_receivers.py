"""Cascades run inside the sender's transaction: a failing receiver undoes everything."""

import pytest

from audit.models import AuditEvent
from audit.refs import SYSTEM
from conftest import refresh
from dock.workspaces import services as ws
from dock.workspaces.models import Elevation, Invitation, Membership
from dock.workspaces.signals import membership_removed
from identity import receivers
from identity.models import ApiKey, Status
from identity.services import users
from identity.signals import principal_deactivated


class Boom(RuntimeError):
    pass


@pytest.fixture
def failing(monkeypatch):
    """Make a receiver raise after it has done part of its work."""

    def install(signal, real, uid):
        def half_then_fail(sender, **kwargs):
            real(sender, **kwargs)
            raise Boom("receiver failed")

        signal.disconnect(dispatch_uid=uid)
        signal.connect(half_then_fail, dispatch_uid=uid, weak=False)
        return half_then_fail

    installed = []

    def _fail(signal, real, uid):
        installed.append((signal, real, uid))
        install(signal, real, uid)

    yield _fail
    for signal, real, uid in installed:
        signal.disconnect(dispatch_uid=uid)
        signal.connect(real, dispatch_uid=uid)


def test_failing_receiver_rolls_back_member_removal_and_its_audit(make, failing):
    org = make.org()
    alice = make.human(org)
    space = make.workspace(org, restricted=True)
    make.member(space, alice, "admin")
    bot, _ = make.agent(alice)
    ws.elevation_grant(actor=SYSTEM, workspace=space, agent=bot)
    invitation, _ = ws.invitation_create(actor=alice, workspace=space, email="dee@elsewhere.test")
    failing(membership_removed, receivers.owner_left_workspace, "identity.owner_left_workspace")
    events_before = AuditEvent.objects.count()

    with pytest.raises(Boom):
        ws.membership_remove(actor=SYSTEM, membership=Membership.objects.get(principal=alice), allow_last_admin=True)

    assert Membership.objects.filter(principal=alice, workspace=space).exists()
    assert Elevation.objects.filter(agent=bot, workspace=space).exists()
    assert Invitation.objects.get(pk=invitation.pk).revoked_at is None
    assert AuditEvent.objects.count() == events_before


def test_failing_receiver_rolls_back_deactivation_and_its_audit(make, failing):
    org = make.org()
    alice = make.human(org)
    bot, _ = make.agent(alice)
    space = make.workspace(org)
    make.member(space, alice, "admin")
    invitation, _ = ws.invitation_create(actor=alice, workspace=space, email="dee@elsewhere.test")
    failing(principal_deactivated, receivers.owner_deactivated, "identity.owner_deactivated")
    events_before = AuditEvent.objects.count()

    with pytest.raises(Boom):
        users.user_deactivate(actor=SYSTEM, user=alice.user)

    assert refresh(alice).status == Status.ACTIVE
    assert refresh(bot).status == Status.ACTIVE
    assert ApiKey.objects.filter(principal=bot, revoked_at__isnull=True).count() == 1
    assert Invitation.objects.get(pk=invitation.pk).revoked_at is None
    assert AuditEvent.objects.count() == events_before


def test_failing_audit_insert_rolls_back_the_change(make, monkeypatch):
    from audit import services as audit_services
    from identity.services import agents

    org = make.org()
    alice = make.human(org)
    bot, _ = make.agent(alice)

    def broken(rows):
        raise Boom("audit table unavailable")

    monkeypatch.setattr(audit_services, "_append", broken)
    with pytest.raises(Boom):
        agents.agent_pause(actor=alice, agent=bot)
    assert refresh(bot).status == Status.ACTIVE
