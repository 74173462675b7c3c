"""Faults in the middle of a change leave nothing half-done: state and audit both unchanged.

A receiver that fails part-way through a cascade, an audit insert that fails (in Python
or refused by the database), and a database connection that drops between a request's
first write and its commit. Each test takes a snapshot of every table a change could
touch, and compares it afterwards; the audit chain must still verify.
"""

import json
import uuid

import pytest
from django.db import DatabaseError, DataError, IntegrityError, connection, transaction
from django.test import Client
from django.urls import reverse

from audit import services as audit_services
from audit.models import AuditEvent, ChainHead
from audit.refs import SYSTEM
from audit.selectors import verify_chain
from conftest import Maker
from dock.workspaces import services as ws
from dock.workspaces.models import Comment, Document, Elevation, Membership, Proposal, Revision
from dock.workspaces.signals import membership_role_changed
from identity import consent, receivers
from identity.api.testing import HOST, ApiClient
from identity.models import ApiKey, Principal, User
from identity.services import agents as agent_services
from identity.services import keys as key_services
from identity.services import service_accounts, users
from identity.signals import agent_revoked, agent_transferred, principal_deleting, service_adopted


class Boom(RuntimeError):
    pass


@pytest.fixture(autouse=True)
def private_cache(settings):
    # Rate-limit counts neither leak in from other tests nor touch a Redis shared with them.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": uuid.uuid4().hex}}


def snapshot() -> dict:
    """Every row a change in these tests could touch, and the whole audit chain."""
    return {
        "principals": list(Principal.objects.order_by("pk").values_list("pk", "kind", "status", "owner_id", "scope", "display_name")),
        "users": list(User.objects.order_by("pk").values_list("pk", "email", "org_role", "password")),
        "keys": list(ApiKey.objects.order_by("pk").values_list("pk", "digest", "revoked_at", "expires_at", "replaced_by_id")),
        "memberships": list(Membership.objects.order_by("pk").values_list("pk", "workspace_id", "principal_id", "role")),
        "elevations": list(Elevation.objects.order_by("pk").values_list("pk", "workspace_id", "agent_id")),
        "proposals": list(Proposal.objects.order_by("pk").values_list("pk", "status", "decided_at")),
        "documents": list(Document.objects.order_by("pk").values_list("pk", "title", "body", "updated_at")),
        "revisions": list(Revision.objects.order_by("pk").values_list("pk", "document_id", "number")),
        "comments": list(Comment.objects.order_by("pk").values_list("pk", "document_id", "body")),
        "audit": list(AuditEvent.objects.order_by("id").values_list("id", "action", "hash")),
        "head": list(ChainHead.objects.values_list("pk", "hash", "count", "last_event_id")),
    }


def assert_unchanged(before: dict) -> None:
    after = snapshot()
    for table in before:
        assert after[table] == before[table], f"{table} changed"
    assert verify_chain().ok


class World:
    """Alice (editor of an open and a restricted workspace) owns Scout, which holds
    elevations and pending delete proposals; Bob could take Scout over; a service
    account holds grants in both workspaces."""

    def __init__(self):
        make = Maker()
        self.org = make.org(slug="acme")
        self.admin = make.human(self.org, "Ada Admin", role="admin")
        self.alice = make.human(self.org, "Alice Owner")
        self.bob = make.human(self.org, "Bob Heir")
        self.open = make.workspace(self.org, "open")
        self.locked = make.workspace(self.org, "locked", restricted=True)
        self.locked2 = make.workspace(self.org, "locked-2", restricted=True)
        for space in (self.open, self.locked, self.locked2):
            make.member(space, self.admin, "admin")
            make.member(space, self.alice, "editor")
        self.scout, self.scout_key = make.agent(self.alice, "Scout", scope="read,comment,write,delete")
        self.spare, _ = make.agent(self.alice, "Spare", scope="read")
        for space in (self.locked, self.locked2):
            ws.elevation_grant(actor=self.admin, workspace=space, agent=self.scout)
        self.documents = [make.document(space, self.admin, title=f"Doc in {space.slug}") for space in (self.open, self.locked)]
        self.proposals = [consent.document_delete_request(actor=self.scout, document=d) for d in self.documents]
        self.service, self.service_key = make.service(self.org, "Nightly import")
        for space in (self.open, self.locked):
            make.member(space, self.service, "editor")
        assert Proposal.objects.filter(status="pending").count() == 2

    def membership(self, principal, space):
        return Membership.objects.get(principal=principal, workspace=space)


@pytest.fixture
def world(db):
    return World()


# A receiver fails in the middle of a cascade -------------------------------------------------------
# (Member removal and owner deactivation are in test_receivers.py.)


@pytest.fixture
def failing(monkeypatch):
    """failing(signal, receiver, uid): the receiver does all its work, then raises. Returns
    the snapshot taken at that moment, to show the work was really done."""
    installed = []

    def install(signal, real, uid):
        def work_then_fail(sender, **kwargs):
            real(sender, **kwargs)
            during.update(snapshot())
            raise Boom("receiver failed")

        signal.disconnect(dispatch_uid=uid)
        signal.connect(work_then_fail, dispatch_uid=uid, weak=False)
        installed.append((signal, real, uid))
        during: dict = {}
        return during

    yield install
    for signal, real, uid in installed:
        signal.disconnect(dispatch_uid=uid)
        signal.connect(real, dispatch_uid=uid)


def test_transfer_rolls_back_when_its_receiver_fails(world, failing):
    during = failing(agent_transferred, receivers.agent_changed_owner, "identity.agent_changed_owner")
    before = snapshot()
    with pytest.raises(Boom):
        agent_services.agent_transfer(actor=world.admin, agent=world.scout, new_owner=world.bob)
    assert_unchanged(before)
    assert during["principals"] != before["principals"]
    assert during["elevations"] != before["elevations"]
    assert during["proposals"] != before["proposals"]
    assert Principal.objects.get(pk=world.scout.pk).owner_id == world.alice.pk


def test_transfer_rolls_back_when_the_cascade_fails_half_way(world, monkeypatch):
    """The receiver removes Scout's first elevation, then the second removal fails."""
    real = ws.elevations_remove
    calls = []

    def second_fails(**kwargs):
        calls.append(kwargs["workspace"].slug)
        if len(calls) == 2:
            raise DatabaseError("lost the database half-way")
        return real(**kwargs)

    monkeypatch.setattr(ws, "elevations_remove", second_fails)
    before = snapshot()
    with pytest.raises(DatabaseError):
        agent_services.agent_transfer(actor=world.admin, agent=world.scout, new_owner=world.bob)
    assert len(calls) == 2
    assert_unchanged(before)


def test_revoke_rolls_back_when_its_receiver_fails(world, failing):
    """Keys are destroyed before the receiver runs: they come back with everything else."""
    during = failing(agent_revoked, receivers.agent_gone, "identity.agent_gone")
    before = snapshot()
    with pytest.raises(Boom):
        agent_services.agent_revoke(actor=world.alice, agent=world.scout)
    assert_unchanged(before)
    assert during["principals"] != before["principals"]
    assert during["keys"] != before["keys"]
    assert during["proposals"] != before["proposals"]
    assert ApiClient(world.scout_key).get("/api/v1/me").status_code == 200


def test_service_adoption_rolls_back_when_its_receiver_fails(world, failing):
    during = failing(service_adopted, receivers.service_became_agent, "identity.service_became_agent")
    before = snapshot()
    with pytest.raises(Boom):
        service_accounts.service_adopt(actor=world.admin, service=world.service, owner=world.alice)
    assert_unchanged(before)
    assert during["memberships"] != before["memberships"]
    assert Principal.objects.get(pk=world.service.pk).kind == "service"


def test_service_adoption_rolls_back_when_the_new_key_fails(world, monkeypatch):
    """Everything of the adoption has happened (grants dropped, keys revoked, kind
    changed) when issuing the new key fails."""
    from identity.services import service_accounts as module

    def no_key(**kwargs):
        raise DatabaseError("key table unavailable")

    monkeypatch.setattr(module, "_new_key", no_key)
    before = snapshot()
    with pytest.raises(DatabaseError):
        service_accounts.service_adopt(actor=world.admin, service=world.service, owner=world.alice)
    assert_unchanged(before)


def test_role_lowering_rolls_back_when_its_receiver_fails(world, failing):
    """Lowering Alice to viewer cancels Scout's delete proposals there; then it fails."""
    during = failing(membership_role_changed, receivers.owner_role_changed, "identity.owner_role_changed")
    before = snapshot()
    with pytest.raises(Boom):
        ws.membership_set_role(actor=world.admin, membership=world.membership(world.alice, world.open), role="viewer")
    assert_unchanged(before)
    assert during["memberships"] != before["memberships"]
    assert during["proposals"] != before["proposals"]


def test_owner_deletion_rolls_back_when_its_receiver_fails(world, failing):
    failing(principal_deleting, receivers.owner_deleting, "identity.owner_deleting")
    before = snapshot()
    with pytest.raises(Boom):
        users.user_delete(actor=world.admin, user=world.alice.user)
    assert_unchanged(before)


# The audit insert fails -------------------------------------------------------------------------


def test_batched_audit_insert_failing_rolls_back_member_removal(world, monkeypatch):
    """Removing Alice writes a batch (elevations, proposals, the removal): its one insert fails."""

    def broken(cursor, rows, count):
        assert len(rows) > 1
        raise DatabaseError("audit insert failed")

    monkeypatch.setattr(audit_services, "_write", broken)
    before = snapshot()
    with pytest.raises(DatabaseError):
        ws.membership_remove(actor=world.admin, membership=world.membership(world.alice, world.locked))
    assert_unchanged(before)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda w: ws.membership_remove(actor=w.admin, membership=w.membership(w.alice, w.locked)), id="member-removal"),
        pytest.param(lambda w: agent_services.agent_revoke(actor=w.alice, agent=w.scout), id="agent-revoke"),
        pytest.param(lambda w: key_services.org_keys_rotate(actor=w.admin, org=w.org), id="org-key-rotation"),
        pytest.param(lambda w: users.user_deactivate(actor=w.admin, user=w.alice.user), id="owner-deactivation"),
    ],
)
def test_audit_batch_failing_after_half_its_rows_rolls_back_everything(world, monkeypatch, change):
    real = audit_services._write
    written = []

    def half_then_fail(cursor, rows, count):
        half = len(rows) // 2
        real(cursor, rows[:half], count - len(rows) + half)
        written.append(half)
        raise DatabaseError("connection lost during the audit insert")

    monkeypatch.setattr(audit_services, "_write", half_then_fail)
    before = snapshot()
    with pytest.raises(DatabaseError):
        change(world)
    assert written and written[0] >= 1  # some rows really were inserted before the failure
    assert_unchanged(before)


def test_single_audit_insert_failing_rolls_back_the_change(world, monkeypatch):
    def broken(cursor, row):
        assert row["action"]  # one event, on the single-event path
        raise DatabaseError("audit insert failed")

    monkeypatch.setattr(audit_services, "_write_linked", broken)
    before = snapshot()
    with pytest.raises(DatabaseError):
        key_services.key_rotate(actor=world.alice, key=ApiKey.objects.get(principal=world.spare))
    with pytest.raises(DatabaseError):
        ws.document_update(actor=world.alice, document=world.documents[0], body="changed")
    assert_unchanged(before)


@pytest.mark.parametrize("batched", [False, True], ids=["single", "batch"])
def test_audit_insert_refused_by_the_database_rolls_back_the_change(world, monkeypatch, batched):
    """A real refusal by the database, not a Python error: details that are not JSON
    (SQLite's CHECK constraint on the column, PostgreSQL's jsonb type)."""
    real = audit_services._params

    def not_json(rows, names=audit_services._FIELDS):
        params = real(rows, names)
        at = names.index("details")
        for row in params:
            row[at] = "{not json"
        return params

    monkeypatch.setattr(audit_services, "_params", not_json)
    before = snapshot()
    with pytest.raises((IntegrityError, DataError)):
        if batched:
            ws.membership_remove(actor=world.admin, membership=world.membership(world.alice, world.locked))
        else:
            agent_services.agent_pause(actor=world.alice, agent=world.scout)
    monkeypatch.undo()
    assert_unchanged(before)


def test_api_write_whose_audit_insert_fails_answers_500_and_changes_nothing(world, monkeypatch):
    api = ApiClient(world.scout_key)
    assert api.get("/api/v1/me").status_code == 200  # the key's last use is recorded now, not during the test

    def broken(cursor, row):
        assert row["action"]  # one event, on the single-event path
        raise DatabaseError("audit insert failed")

    monkeypatch.setattr(audit_services, "_write_linked", broken)
    before = snapshot()
    response = Client(HTTP_HOST=HOST).post(
        f"/api/v1/workspaces/{world.open.slug}/documents", json.dumps({"title": "Never", "body": ""}),
        content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {world.scout_key}",
    )
    assert response.status_code == 500
    body = json.loads(response.content)
    assert body["error"] == "server_error" and "Traceback" not in body["detail"]
    assert_unchanged(before)


# The database connection drops mid-request (PostgreSQL) ------------------------------------------------


def terminate_own_backend() -> None:
    """Have a second connection kill this thread's backend, and wait until it is gone."""
    import psycopg

    pid = connection.connection.info.backend_pid
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(**params, autocommit=True) as killer:
        assert killer.execute("SELECT pg_terminate_backend(%s, 5000)", [pid]).fetchone()[0]


@pytest.fixture
def pg_world(transactional_db):
    # A real commit is what is being broken, so nothing may wrap the request in a transaction.
    if connection.vendor != "postgresql":
        pytest.skip("terminates a PostgreSQL backend")
    world = World()
    assert ApiClient(world.scout_key).get("/api/v1/me").status_code == 200
    return world


def after_first_write(monkeypatch, module, name):
    """Kill the connection just before module.name runs: the service has written its rows,
    not yet its audit event, nothing is committed."""
    real = getattr(module, name)
    fired = []

    def kill_then_call(*args, **kwargs):
        if not fired:
            fired.append(True)
            terminate_own_backend()
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, kill_then_call)
    return fired


def before_commit(monkeypatch, module, name):
    """Kill the connection just after module.name returns: rows and audit event written,
    the COMMIT not yet sent."""
    real = getattr(module, name)
    fired = []

    def call_then_kill(*args, **kwargs):
        result = real(*args, **kwargs)
        if not fired:
            fired.append(True)
            terminate_own_backend()
        return result

    monkeypatch.setattr(module, name, call_then_kill)
    return fired


@pytest.mark.postgres
@pytest.mark.parametrize("when", ["after_first_write", "before_commit"])
def test_api_request_whose_connection_drops_changes_nothing(pg_world, monkeypatch, when):
    world = pg_world
    if when == "after_first_write":
        fired = after_first_write(monkeypatch, ws, "record")  # document and revision inserted
    else:
        fired = before_commit(monkeypatch, ws, "document_create")
    before = snapshot()

    response = Client(HTTP_HOST=HOST).post(
        f"/api/v1/workspaces/{world.open.slug}/documents", json.dumps({"title": "Lost", "body": "in transit"}),
        content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {world.scout_key}",
    )

    assert fired
    assert response.status_code == 500
    assert json.loads(response.content)["error"] == "server_error"
    assert_unchanged(before)  # on a new connection
    monkeypatch.undo()
    again = ApiClient(world.scout_key).post(f"/api/v1/workspaces/{world.open.slug}/documents", {"title": "Found", "body": ""})
    assert again.status_code == 201
    assert verify_chain().ok


@pytest.mark.postgres
@pytest.mark.parametrize("when", ["after_first_write", "before_commit"])
def test_member_removal_page_whose_connection_drops_changes_nothing(pg_world, monkeypatch, when):
    """A cascade from a page: Ada removes Alice (Scout's elevation and proposal go too)."""
    world = pg_world
    if when == "after_first_write":
        # Inside membership_remove: the receivers have deleted the elevation and cancelled
        # the proposal; the batch's audit insert is next.
        fired = after_first_write(monkeypatch, audit_services, "_append")
    else:
        fired = before_commit(monkeypatch, ws, "membership_remove")
    client = Client(HTTP_HOST=HOST, raise_request_exception=False)
    client.force_login(world.admin.user)
    before = snapshot()

    response = client.post(reverse("workspace-member-remove", args=[world.locked.slug, world.alice.handle]))

    assert fired
    assert response.status_code == 500
    assert b"Traceback" not in response.content
    assert_unchanged(before)
    monkeypatch.undo()
    response = client.post(reverse("workspace-member-remove", args=[world.locked.slug, world.alice.handle]))
    assert response.status_code in (200, 302)
    assert not Membership.objects.filter(principal=world.alice, workspace=world.locked).exists()
    assert verify_chain().ok


@pytest.mark.postgres
def test_owner_deactivation_whose_connection_drops_at_commit_changes_nothing(pg_world):
    """The largest cascade (agents suspended, keys revoked, proposals cancelled, one audit
    batch), cut at COMMIT."""
    world = pg_world
    before = snapshot()
    with pytest.raises(DatabaseError), transaction.atomic():
        users.user_deactivate(actor=SYSTEM, user=world.alice.user)
        terminate_own_backend()
    assert_unchanged(before)
    assert Principal.objects.get(pk=world.scout.pk).status == "active"
