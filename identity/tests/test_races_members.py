"""Changes to a workspace's members, grants and elevations racing each other, and the
writes that rest on them, on PostgreSQL: each order is forced as in test_concurrency
(one side held inside its transaction, the other shown waiting on a lock)."""

import time

import pytest
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse

from audit import events
from audit.selectors import verify_chain
from conftest import Maker
from dock.workspaces import services as ws
from dock.workspaces.models import Elevation, Membership, Role
from identity import access, capabilities
from identity.api.testing import ApiClient
from identity.errors import InvalidTransition
from identity.models import Kind, Principal, Status
from identity.services import agents as agent_services
from identity.services import service_accounts as service_services
from identity.tests import test_concurrency
from identity.tests.test_concurrency import WAIT, Hold, Worker, events_of, held_transaction, wait_until_blocked

# Its fixtures: threads and hooks (hold), a private cache, and Olive, Scout and Ada (world).
hold, private_cache, world = test_concurrency.hold, test_concurrency.private_cache, test_concurrency.world

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def signed_in(principal) -> Client:
    client = Client()
    client.force_login(principal.user)
    return client


@pytest.fixture
def parked(monkeypatch):
    """parked(p1, p2, ...): each of these principals' locked access checks, once made,
    waits (still inside its transaction) until the test releases it."""
    gates: dict[int, Hold] = {}

    def install(*principals) -> dict[int, Hold]:
        real = access.require

        def require(principal, *args, **kwargs):
            decision = real(principal, *args, **kwargs)
            gate = gates.get(principal.pk)
            if kwargs.get("lock") and gate is not None and not gate.reached.is_set():
                gate.reached.set()
                if not gate.release.wait(WAIT):
                    raise RuntimeError("parked access check was never released")
            return decision

        gates.update({p.pk: Hold() for p in principals})
        monkeypatch.setattr(access, "require", require)
        return gates

    yield install
    for gate in gates.values():
        gate.release.set()


def reached_or_blocked(worker: Worker, gate: Hold) -> bool:
    """Wait until `worker` has made its parked check (True) or waits on a lock (False)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if gate.reached.is_set():
            return True
        with connection.cursor() as cursor:
            cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [worker.pid])
            row = cursor.fetchone()
        if row is not None and row[0] == "Lock":
            return False
        assert worker.is_alive(), f"{worker.name} finished early (error: {worker.error!r})"
        time.sleep(0.02)
    raise AssertionError(f"{worker.name} neither made its check nor waited on a lock")


# Two admins changing members at once ------------------------------------------------------------


@pytest.mark.parametrize("change", ["remove", "lower"])
def test_two_admins_changing_each_others_members_at_once_take_turns(world, parked, change):
    """Ada removes Bo while Bo, also an admin, removes or lowers Carl, each through the
    members page. The second waits for the first, then finds he may no longer manage."""
    bo = Maker().human(world.org, "Bo Admin", email="bo@acme.test")
    carl = Maker().human(world.org, "Carl Editor", email="carl@acme.test")
    ws.membership_add(actor=world.admin, workspace=world.space, principal=bo, role=Role.ADMIN)
    ws.membership_add(actor=world.admin, workspace=world.space, principal=carl, role=Role.EDITOR)
    gates = parked(world.admin, bo)
    ada_client, bo_client = signed_in(world.admin), signed_in(bo)
    slug = world.space.slug

    ada = Worker("ada removes bo", lambda: ada_client.post(reverse("workspace-member-remove", args=[slug, bo.handle]))).begin()
    gates[world.admin.pk].wait_reached()
    if change == "remove":
        bo_call = lambda: bo_client.post(reverse("workspace-member-remove", args=[slug, carl.handle]))  # noqa: E731
    else:
        bo_call = lambda: bo_client.post(reverse("workspace-member-role", args=[slug, carl.handle]), {"role": Role.VIEWER})  # noqa: E731
    bo_worker = Worker(f"bo {change}s carl", bo_call).begin()
    # Bo either waits for Ada's transaction or gets as far as his own check; in the
    # second case Ada goes on to wait for him, and then he for her.
    bo_checked = reached_or_blocked(bo_worker, gates[bo.pk])
    gates[world.admin.pk].release.set()
    if bo_checked:
        wait_until_blocked(ada)
    gates[bo.pk].release.set()

    assert ada.outcome().status_code == 302
    bo_worker.outcome()  # refused, however the page says so
    assert not Membership.objects.filter(workspace=world.space, principal=bo).exists()
    assert Membership.objects.get(workspace=world.space, principal=carl).role == Role.EDITOR
    assert [e.target_id for e in events_of(events.MEMBER_REMOVED)] == [bo.public_id]
    assert not events_of(events.MEMBER_ROLE_CHANGED)
    assert verify_chain().ok


# An elevation removed while the elevated agent's write is in flight -----------------------------


def _restricted_world():
    make = Maker()
    org = make.org(slug="acme")
    admin = make.human(org, "Ada Admin")
    owner = make.human(org, "Olive Owner")
    space = make.workspace(org, "vault", restricted=True)
    make.member(space, admin, "admin")
    membership = make.member(space, owner, "editor")
    agent, key = make.agent(owner, "Scout", scope="read,comment,write")
    return admin, owner, space, membership, agent, key


def test_removing_an_elevation_waits_for_the_agents_write_in_flight(hold):
    admin, owner, space, _, agent, key = _restricted_world()
    ws.elevation_grant(actor=admin, workspace=space, agent=agent)
    assert ApiClient(key).get("/api/v1/me").status_code == 200  # the next requests skip the last-used update
    create = f"/api/v1/workspaces/{space.slug}/documents"

    held = hold(access, "require")  # the write has checked its access, locks taken
    writer = Worker("agent writes", lambda: ApiClient(key).post(create, {"title": "T", "body": "b"})).begin()
    admin_client = signed_in(admin)
    remover = held.then_waiting(
        "ada removes the elevation", lambda: admin_client.post(reverse("elevation-remove", args=[space.slug, agent.handle]))
    )

    assert writer.outcome().status_code == 201
    assert remover.outcome().status_code == 302
    assert not Elevation.objects.filter(agent=agent).exists()
    [created] = events_of(events.DOCUMENT_CREATED, actor_id=agent.public_id)
    [removed] = events_of(events.AGENT_ELEVATION_REMOVED)
    assert created.id < removed.id
    assert ApiClient(key).post(create, {"title": "Later", "body": "b"}).status_code == 404
    assert verify_chain().ok


# An elevation granted while its agent's owner is removed ----------------------------------------


def test_an_elevation_granted_while_its_owner_is_removed_is_refused(hold):
    admin, owner, space, membership, agent, _ = _restricted_world()
    held = hold(ws, "elevations_remove")  # the removal has looked for the owner's agents' elevations
    remover = Worker("ada removes olive", lambda: ws.membership_remove(actor=admin, membership=membership)).begin()
    admin_client = signed_in(admin)
    granter = held.then_waiting(
        "ada elevates scout", lambda: admin_client.post(reverse("elevation-grant", args=[space.slug, agent.handle]))
    )

    remover.outcome()
    assert granter.outcome().status_code == 302  # back to the members page, with the refusal
    assert not Membership.objects.filter(workspace=space, principal=owner).exists()
    assert not Elevation.objects.filter(agent=agent).exists()
    assert not events_of(events.AGENT_ELEVATED)
    assert verify_chain().ok


def test_an_elevation_needs_its_agents_owner_to_be_a_member():
    admin, owner, space, membership, agent, _ = _restricted_world()
    ws.membership_remove(actor=admin, membership=membership)
    with pytest.raises(InvalidTransition, match="not a member"):
        ws.elevation_grant(actor=admin, workspace=space, agent=agent)
    assert not Elevation.objects.exists()


# An elevation granted while its agent is revoked ------------------------------------------------


def test_an_elevation_granted_while_its_agent_is_revoked_is_refused(world):
    held, run = held_transaction(lambda: agent_services.agent_revoke(actor=world.owner, agent=world.agent))
    revoker = Worker("olive revokes scout", run).begin()
    granter = held.then_waiting("ada elevates scout", lambda: ws.elevation_grant(actor=world.admin, workspace=world.space, agent=world.agent))

    revoker.outcome()
    with pytest.raises(InvalidTransition, match="revoked"):
        granter.outcome()
    assert Principal.objects.get(pk=world.agent.pk).status == Status.REVOKED
    assert not Elevation.objects.filter(agent=world.agent).exists()
    assert not events_of(events.AGENT_ELEVATED)
    assert verify_chain().ok


# A service account granted a workspace while it is adopted as an agent -----------------------


def test_a_grant_to_a_service_account_being_adopted_is_refused(world):
    oscar = Maker().human(world.org, "Oscar Orgadmin", role="admin", email="oscar@acme.test")
    ws.membership_add(actor=world.admin, workspace=world.space, principal=oscar, role=Role.ADMIN)
    service, _ = Maker().service(world.org, "Nightly Digest")
    held, run = held_transaction(
        lambda: service_services.service_adopt(actor=oscar, service=service, owner=world.owner, issue_key=False)
    )
    adopter = Worker("oscar adopts the service account", run).begin()
    client = signed_in(oscar)
    granter = held.then_waiting(
        "oscar grants it the workspace",
        lambda: client.post(reverse("service-grant", args=[service.public_id]), {"workspace": world.space.slug, "role": Role.EDITOR}),
    )

    adopter.outcome()
    assert granter.outcome().status_code == 400
    adopted = Principal.objects.get(pk=service.pk)
    assert adopted.kind == Kind.AGENT and adopted.owner_id == world.owner.pk
    assert not Membership.objects.filter(principal=adopted).exists()
    assert not events_of(events.MEMBER_ADDED, target_id=service.public_id)
    assert verify_chain().ok


def test_an_admin_adopting_a_service_account_as_their_own_while_granting_it_take_turns(world, hold):
    """The grant holds the admin's access rows (share) and then wants the service account's;
    the adoption, with the admin as the new owner, locks the owner before the service
    account, so it waits for the grant instead of holding the service account the grant
    needs: no deadlock. The grant commits first; the adoption then drops it with the
    account's other grants."""
    oscar = Maker().human(world.org, "Oscar Orgadmin", role="admin", email="oscar@acme.test")
    ws.membership_add(actor=world.admin, workspace=world.space, principal=oscar, role=Role.ADMIN)
    service, _ = Maker().service(world.org, "Nightly Digest")
    checked = hold(access, "require")  # the grant, parked right after its locked access check
    client = signed_in(oscar)
    granter = Worker(
        "oscar grants it the workspace",
        lambda: client.post(reverse("service-grant", args=[service.public_id]), {"workspace": world.space.slug, "role": Role.EDITOR}),
    ).begin()
    adopter = checked.then_waiting(
        "oscar adopts it as his own agent",
        lambda: service_services.service_adopt(actor=oscar, service=service, owner=oscar, issue_key=False),
    )

    assert granter.outcome().status_code == 302
    adopter.outcome()
    adopted = Principal.objects.get(pk=service.pk)
    assert adopted.kind == Kind.AGENT and adopted.owner_id == oscar.pk
    assert not Membership.objects.filter(principal=adopted).exists()
    assert len(events_of(events.MEMBER_ADDED, target_id=service.public_id)) == 1
    assert verify_chain().ok


def test_adopting_a_service_account_waits_for_its_write_in_flight(world):
    """The account's write takes the workspace and its grant, then its own row, in two
    round trips (access.check). The adoption deletes the grants: it takes their workspaces
    first, so it waits for the write; holding the account's row, it deadlocked with it."""
    service, _ = Maker().service(world.org, "Nightly Digest")
    ws.membership_add(actor=world.admin, workspace=world.space, principal=service, role=Role.EDITOR)
    between = Hold()

    def write():
        with transaction.atomic():
            with connection.cursor() as cursor:  # the check's first round trip, as it sends it
                cursor.execute(access._LOCK_WORKSPACE_MEMBERSHIP, [access.workspace_key(world.space.pk), world.space.pk, service.pk])
            between.reached.set()
            assert between.release.wait(WAIT)
            access.require(service, world.space, capabilities.WRITE, lock=True)
            return ws.document_create(actor=service, workspace=world.space, title="Nightly digest", body="All quiet.")

    writer = Worker("the account writes", write).begin()
    adopter = between.then_waiting(
        "its adoption as Olive's agent",
        lambda: service_services.service_adopt(actor=world.admin, service=service, owner=world.owner, issue_key=False),
    )

    assert writer.outcome().title == "Nightly digest"
    adopter.outcome()
    adopted = Principal.objects.get(pk=service.pk)
    assert adopted.kind == Kind.AGENT and adopted.owner_id == world.owner.pk
    assert not Membership.objects.filter(principal=adopted).exists()
    assert verify_chain().ok


def test_deleting_a_person_waits_for_their_agents_write_in_flight(world, hold):
    from dock.workspaces.models import Document, Workspace
    from identity.services.users import user_delete

    Workspace.objects.filter(pk=world.space.pk).update(created_by=world.owner)
    held = hold(access, "require")  # Scout's write, parked after its locked access check
    writer = Worker("scout writes", lambda: test_concurrency.api_write(world, "create")).begin()
    deleter = held.then_waiting("olive is deleted", lambda: user_delete(actor=world.admin, user=world.owner.user))

    assert writer.outcome().status_code == 201
    deleter.outcome()
    assert not Principal.objects.filter(pk__in=[world.owner.pk, world.agent.pk]).exists()
    assert Document.objects.get(title="Plan B").author_id is None  # the document stays; its author is gone
    assert verify_chain().ok


# A person removed from a workspace while being deactivated ---------------------------------------


def test_removing_and_deactivating_the_same_person_at_once_take_turns(world, hold):
    """Olive, an admin, has sent an invitation and her agent has asked to delete a document.
    Ada removes her from the workspace while an org admin deactivates her. Both cascades
    withdraw the invitation and cancel the proposal: taken in opposite orders, each held
    what the other waited for, and PostgreSQL aborted one of them."""
    from dock.workspaces.models import Invitation, Proposal, ProposalStatus
    from identity.services.users import user_deactivate

    make = Maker()
    ws.membership_set_role(actor=world.admin, membership=world.membership, role=Role.ADMIN)
    invitation, _ = ws.invitation_create(actor=world.owner, workspace=world.space, email="dee@acme.test")
    deleter, _ = make.agent(world.owner, "Deleter", scope="read,delete")
    document = make.document(world.space, world.admin, title="Old plan")
    proposal = ws.proposal_create(actor=deleter, document=document)
    gate = hold(ws, "invitations_withdraw")  # the removal, once it has withdrawn the invitation

    removal = Worker("ada removes olive", lambda: ws.membership_remove(actor=world.admin, membership=world.membership)).begin()
    assert gate.reached.wait(WAIT)
    deactivation = Worker("olive is deactivated", lambda: user_deactivate(actor=world.admin, user=world.owner.user)).begin()
    wait_until_blocked(deactivation)  # on the invitation, before any proposal
    gate.release.set()

    removal.outcome()
    deactivation.outcome()
    assert not Membership.objects.filter(workspace=world.space, principal=world.owner).exists()
    assert Principal.objects.get(pk=world.owner.pk).status == Status.DEACTIVATED
    assert Invitation.objects.get(pk=invitation.pk).revoked_at is not None
    assert Proposal.objects.get(pk=proposal.pk).status == ProposalStatus.CANCELLED
    assert len(events_of(events.INVITATION_REVOKED)) == 1 and len(events_of(events.PROPOSAL_CANCELLED)) == 1
    assert verify_chain().ok


# The last two admins leaving at once ----------------------------------------------------------------


def test_the_last_two_admins_leaving_at_once_take_turns_and_one_stays(world, hold):
    """Ada and Olive, the workspace's only admins, each leave (any member may now). Each
    alone may go, since the other stays; at once, the second waits for the first and then
    finds herself the last admin."""
    ws.membership_set_role(actor=world.admin, membership=world.membership, role=Role.ADMIN)
    ada_membership = Membership.objects.get(workspace=world.space, principal=world.admin)
    gate = hold(ws, "record")  # Ada's leaving, past its last-admin check, before it commits

    ada = Worker("ada leaves", lambda: ws.membership_leave(actor=world.admin, membership=ada_membership)).begin()
    assert gate.reached.wait(WAIT)
    olive = Worker("olive leaves", lambda: ws.membership_leave(actor=world.owner, membership=world.membership)).begin()
    wait_until_blocked(olive)
    gate.release.set()

    ada.outcome()
    with pytest.raises(InvalidTransition, match="at least one admin"):
        olive.outcome()
    assert list(Membership.objects.filter(workspace=world.space, role=Role.ADMIN).values_list("principal_id", flat=True)) == [
        world.owner.pk
    ]
    assert [e.target_id for e in events_of(events.MEMBER_REMOVED)] == [world.admin.public_id]
    assert verify_chain().ok


def test_two_service_accounts_of_one_name_created_at_once_take_turns(world, hold):
    """Two admins create "Nightly digest" in one org at once: the second waits for the
    first, then finds the name taken, instead of both passing the check."""
    from identity.errors import Conflict

    gate = hold(service_services, "record")  # the first creation, past its check, before it commits
    create = service_services.service_create
    first = Worker("first", lambda: create(actor=world.admin, org=world.org, name="Nightly digest")).begin()
    assert gate.reached.wait(WAIT)
    second = Worker("second", lambda: create(actor=world.admin, org=world.org, name="nightly Digest")).begin()
    wait_until_blocked(second)
    gate.release.set()

    first.outcome()
    with pytest.raises(Conflict, match="already has a service account called"):
        second.outcome()
    assert Principal.objects.filter(org=world.org, kind=Kind.SERVICE).count() == 1
    assert len(events_of(events.SERVICE_CREATED)) == 1 and verify_chain().ok


def test_two_agents_of_one_name_by_two_owners_created_at_once_get_two_handles(world, hold):
    """Ada and Olive each create a "Digest" at once: both looked for a free handle before
    either committed, took "digest", and the second insert failed on the unique index."""
    gate = hold(agent_services, "record")  # Ada's agent, inserted, before it commits
    ada = Worker("ada", lambda: agent_services.agent_create(actor=world.admin, owner=world.admin, name="Digest")).begin()
    assert gate.reached.wait(WAIT)
    olive = Worker("olive", lambda: agent_services.agent_create(actor=world.owner, owner=world.owner, name="Digest")).begin()
    wait_until_blocked(olive)  # its insert, on the handle Ada's holds
    gate.release.set()

    (adas, _), (olives, _) = ada.outcome(), olive.outcome()
    assert (adas.handle, olives.handle) == ("digest", "digest-2")
    assert sorted(e.target_id for e in events_of(events.AGENT_CREATED) if e.target_name == "Digest") == sorted(
        [adas.public_id, olives.public_id]
    )
    assert verify_chain().ok


def test_two_workspaces_of_one_slug_created_at_once_refuse_the_second_as_taken(world, hold):
    """A double click on Create workspace: the second waited on the slug's unique index,
    then failed on it, a server error instead of "That slug is taken"."""
    from identity.errors import Conflict

    gate = hold(ws, "_membership_insert")  # the first, its row inserted, before it commits
    create = ws.workspace_create
    first = Worker("first", lambda: create(actor=world.admin, org=world.org, slug="launch", name="Launch")).begin()
    assert gate.reached.wait(WAIT)
    second = Worker("second", lambda: create(actor=world.admin, org=world.org, slug="launch", name="Launch")).begin()
    wait_until_blocked(second)
    gate.release.set()

    first.outcome()
    with pytest.raises(Conflict, match="already exists") as refused:
        second.outcome()
    assert refused.value.fields == {"slug": "That slug is taken."}
    assert len(events_of(events.WORKSPACE_CREATED)) == 2  # the fixture's, and the first's
    assert verify_chain().ok


def test_a_sign_up_named_like_an_agent_being_created_takes_the_next_handle(world, hold):
    """Olive creates an agent "Mira" while a person called Mira signs up. The sign-up
    recorded its org's event (taking the audit head) before inserting its owner, whose
    handle waited on the agent's uncommitted "mira"; the agent's event then waited on the
    head. PostgreSQL called it a deadlock, and the sign-up failed."""
    from identity.services.signup import org_signup

    gate = hold(agent_services, "principal_build")  # the agent "Mira", inserted, before its events
    agent = Worker("agent", lambda: agent_services.agent_create(actor=world.owner, owner=world.owner, name="Mira")).begin()
    assert gate.reached.wait(WAIT)
    signup = Worker("sign-up", lambda: org_signup(org_name="Mira Co", name="Mira", email="mira@mira.test",
                                                  password="a sturdy passphrase 42")).begin()
    wait_until_blocked(signup)  # on the handle the agent's row holds
    gate.release.set()

    created, _ = agent.outcome()
    user = signup.outcome()
    assert (created.handle, user.principal.handle) == ("mira", "mira-2")
    assert verify_chain().ok


def test_a_service_account_being_created_holds_up_no_other_principal_of_the_org(world, hold):
    """Its turn-taking lock on the org's row is FOR NO KEY UPDATE: inserting an agent of
    the org (whose foreign key key-share locks that row) goes ahead meanwhile."""
    gate = hold(service_services, "principal_build")  # its org row locked, before its event
    create = service_services.service_create
    service = Worker("service", lambda: create(actor=world.admin, org=world.org, name="Nightly digest")).begin()
    assert gate.reached.wait(WAIT)
    agent = Worker("agent", lambda: agent_services.agent_create(actor=world.owner, owner=world.owner, name="Helper")).begin()
    created, _ = agent.outcome()  # finished while the service's transaction is still open
    gate.release.set()
    service.outcome()
    assert created.org_id == world.org.pk and verify_chain().ok
