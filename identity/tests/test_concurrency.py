"""Check-and-act under real concurrency, on PostgreSQL.

Every test runs real threads, each with its own database connection (closed when the
thread ends). Where an order matters it is forced, not hoped for: one side is held
inside its transaction by a hook (threading.Event), and the other side is shown to be
*waiting on a lock* in pg_stat_activity before the first is released. Every wait is
bounded, so a broken lock shows up as a failed assertion, never as a hung suite.
"""

import os
import random
import threading
import time
import uuid
from collections import Counter

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from audit import events
from audit.models import AuditEvent
from audit.selectors import verify_chain
from conftest import Maker, audit_mark
from dock.workspaces import services as ws
from dock.workspaces.models import Comment, Document, Membership, Revision, Role
from identity import access
from identity import capabilities as caps
from identity.api.testing import ApiClient
from identity.errors import Forbidden, InvalidTransition, NotFound
from identity.models import ApiKey, Principal, Status
from identity.services import agents as agent_services
from identity.services import keys as key_services

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WAIT = 15  # seconds: the most any step may take before the test calls it broken


@pytest.fixture(autouse=True)
def private_cache(settings):
    # Rate-limit counts neither leak in from other tests nor touch a Redis shared with them.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": uuid.uuid4().hex}}


# Threads and hooks ------------------------------------------------------------------------


class Worker(threading.Thread):
    """Runs `fn` on its own database connection and keeps its result or exception."""

    def __init__(self, name: str, fn, *, track: bool = True):
        super().__init__(name=name, daemon=True)
        self.fn = fn
        self.track = track
        self.result = None
        self.error: BaseException | None = None
        self.pid: int | None = None
        self.connected = threading.Event()

    def run(self):
        try:
            if self.track:  # connect now, so that the test can watch this backend's waits
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_backend_pid()")
                    self.pid = cursor.fetchone()[0]
            self.connected.set()
            self.result = self.fn()
        except BaseException as exc:  # handed to the test thread by outcome()
            self.error = exc
        finally:
            self.connected.set()
            connection.close()

    def begin(self) -> "Worker":
        self.start()
        assert self.connected.wait(WAIT), f"{self.name} never connected"
        return self

    def outcome(self):
        self.join(WAIT)
        assert not self.is_alive(), f"{self.name} did not finish within {WAIT}s"
        if self.error is not None:
            raise self.error
        return self.result


def wait_until_blocked(worker: Worker) -> None:
    """Return once `worker`'s backend is waiting on a lock; fail if it finishes or never waits."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [worker.pid])
            row = cursor.fetchone()
        if row is not None and row[0] == "Lock":
            return
        assert worker.is_alive(), f"{worker.name} finished instead of waiting for the lock (error: {worker.error!r})"
        time.sleep(0.02)
    raise AssertionError(f"{worker.name} never waited on a lock")


class Hold:
    """A one-shot hook: the first call of the wrapped function does its work, then waits,
    still inside its caller's transaction, until the test releases it."""

    def __init__(self):
        self.reached = threading.Event()
        self.release = threading.Event()
        self._armed = True
        self._lock = threading.Lock()

    def wrap(self, real):
        def held(*args, **kwargs):
            result = real(*args, **kwargs)
            with self._lock:
                fire, self._armed = self._armed, False
            if fire:
                self.reached.set()
                if not self.release.wait(WAIT):
                    raise RuntimeError("held transaction was never released")
            return result

        return held

    def wait_reached(self):
        assert self.reached.wait(WAIT), "the held call was never reached"

    def then_waiting(self, name: str, fn, **kwargs) -> "Worker":
        """The forced order of a race: once the held call is reached (its caller's locks
        taken), `fn` starts on its own connection and runs until it waits on a lock; then
        the held caller goes on. Returns `fn`'s worker."""
        self.wait_reached()
        second = Worker(name, fn, **kwargs).begin()
        wait_until_blocked(second)
        self.release.set()
        return second


@pytest.fixture
def hold(monkeypatch):
    """hold(module, "name"): the next call of module.name returns only when released, so its
    caller's transaction stays open with whatever locks it took."""
    made: list[Hold] = []

    def install(module, name) -> Hold:
        h = Hold()
        monkeypatch.setattr(module, name, h.wrap(getattr(module, name)))
        made.append(h)
        return h

    yield install
    for h in made:  # a failed assertion must not leave a thread parked
        h.release.set()


def held_transaction(fn) -> tuple[Hold, "callable"]:
    """`fn` inside a transaction that stays open (locks held) until released."""
    h = Hold()

    def run():
        with transaction.atomic():
            result = fn()
            h.reached.set()
            if not h.release.wait(WAIT):
                raise RuntimeError("held transaction was never released")
        return result

    return h, run


def events_of(action: str, **filters) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, **filters).order_by("id"))


# The world the races happen in ----------------------------------------------------------------


class World:
    """Olive (editor) owns Scout (read, comment, write); Ada administers the workspace."""

    def __init__(self):
        make = Maker()
        self.org = make.org(slug="acme")
        self.admin = make.human(self.org, "Ada Admin")
        self.owner = make.human(self.org, "Olive Owner")
        self.space = make.workspace(self.org, "plans")
        make.member(self.space, self.admin, "admin")
        self.membership = make.member(self.space, self.owner, "editor")
        self.agent, self.key = make.agent(self.owner, "Scout", scope="read,comment,write")
        self.document = make.document(self.space, self.admin, title="Roadmap")
        # Use the key once, so that requests in the next minute skip the last-used update:
        # only the access check's locks (and the key re-check) stand between the races.
        assert ApiClient(self.key).get("/api/v1/me").status_code == 200

    def agent_documents(self):
        return Document.objects.filter(workspace=self.space, author=self.agent)


@pytest.fixture
def world():
    return World()


# The agent's write, through the real API, and what each kind of write calls.
WRITES = {
    "create": ("document_create", lambda w: ("post", f"/api/v1/workspaces/{w.space.slug}/documents", {"title": "Plan B", "body": "b"})),
    "update": ("document_update", lambda w: ("patch", f"/api/v1/documents/{w.document.public_id}", {"body": "rewritten"})),
    "comment": ("comment_create", lambda w: ("post", f"/api/v1/documents/{w.document.public_id}/comments", {"body": "+1"})),
}
WRITE_EVENTS = {"create": events.DOCUMENT_CREATED, "update": events.DOCUMENT_UPDATED, "comment": events.COMMENT_CREATED}


def api_write(world, write: str):
    method, path, body = WRITES[write][1](world)
    return getattr(ApiClient(world.key), method)(path, body)


def agent_write_events(world, write: str):
    return events_of(WRITE_EVENTS[write], actor_id=world.agent.public_id)


# What takes the agent's rights away, what the agent's write answers afterwards, and
# whom the change's audit event names.
CHANGES = {
    "removal": (
        lambda w: ws.membership_remove(actor=w.admin, membership=w.membership),
        events.MEMBER_REMOVED,
        404,  # a members-only workspace the owner left is invisible to the agent
        lambda w: w.owner.public_id,
    ),
    "lowering": (
        lambda w: ws.membership_set_role(actor=w.admin, membership=w.membership, role=Role.VIEWER),
        events.MEMBER_ROLE_CHANGED,
        403,  # still visible (read), no longer writable or commentable
        lambda w: w.owner.public_id,
    ),
    "restriction": (
        # The workspace's own settings: the access rule reads them, so the write holds the workspace too.
        lambda w: ws.workspace_update(actor=w.admin, workspace=w.space, restricted=True),
        events.WORKSPACE_UPDATED,
        404,  # members only, and the agent is not elevated: invisible to it
        lambda w: w.space.slug,
    ),
}


# Removal / role lowering vs an agent's write in flight -------------------------------------------


@pytest.mark.parametrize("write", list(WRITES))
@pytest.mark.parametrize("change", list(CHANGES))
def test_change_waits_for_the_write_in_flight_and_later_writes_are_refused(world, hold, write, change):
    """The write holds its locks first: the removal (or role lowering) waits for it. The
    write that committed before the change is fine; none commits after it."""
    do_change, change_event, refused_status, _target = CHANGES[change]
    held = hold(access, "require")  # parked after the access check, before the service writes
    mark = audit_mark()

    writer = Worker("agent-write", lambda: api_write(world, write)).begin()
    held.wait_reached()
    changer = Worker(change, lambda: do_change(world)).begin()
    wait_until_blocked(changer)  # the change cannot commit while the write is in flight
    assert Membership.objects.get(pk=world.membership.pk).role == "editor"

    held.release.set()
    response = writer.outcome()
    changer.outcome()

    assert response.status_code in (200, 201), response.data
    [written] = agent_write_events(world, write)
    [changed] = events_of(change_event, id__gt=mark)
    assert written.id < changed.id  # the write committed before the change, never after

    after = api_write(world, write)
    assert after.status_code == refused_status, after.data
    assert len(agent_write_events(world, write)) == 1
    assert verify_chain().ok


@pytest.mark.parametrize("write", list(WRITES))
@pytest.mark.parametrize("change", list(CHANGES))
def test_write_waits_for_the_change_in_flight_and_is_refused(world, write, change):
    """The change holds its locks first: the agent's write waits for it, then sees it."""
    do_change, change_event, refused_status, target = CHANGES[change]
    held, run = held_transaction(lambda: do_change(world))
    documents_before = set(Document.objects.values_list("pk", "title", "body"))
    comments_before = Comment.objects.count()

    changer = Worker(change, run).begin()
    # check-and-act: the access check waits for the change
    writer = held.then_waiting("agent-write", lambda: api_write(world, write))
    changer.outcome()
    response = writer.outcome()

    assert response.status_code == refused_status, response.data
    assert agent_write_events(world, write) == []
    assert set(Document.objects.values_list("pk", "title", "body")) == documents_before
    assert Comment.objects.count() == comments_before
    assert len(events_of(change_event, target_id=target(world))) == 1
    assert verify_chain().ok


def test_a_change_waiting_for_a_write_goes_before_the_writes_that_come_after_it(world, hold):
    """Writes overlapping one another must not starve a change of the workspace: a write
    that comes while the change waits for the write in flight queues behind the change,
    and is then judged by it (writes hold the workspace as a shared advisory lock, which
    PostgreSQL queues fairly; share locks on its row would let the second write through)."""
    held = hold(access, "require")  # the first write, parked after its locked access check
    first = Worker("first write", lambda: api_write(world, "comment")).begin()
    held.wait_reached()
    restricter = Worker(
        "ada restricts", lambda: ws.workspace_update(actor=world.admin, workspace=world.space, restricted=True)
    ).begin()
    wait_until_blocked(restricter)
    second = Worker("second write", lambda: api_write(world, "comment")).begin()
    wait_until_blocked(second)

    held.release.set()
    assert first.outcome().status_code == 201
    assert restricter.outcome().changed == {"restricted": {"from": False, "to": True}}
    assert second.outcome().status_code == 404  # members only, and Scout is not elevated
    assert len(agent_write_events(world, "comment")) == 1
    assert verify_chain().ok


# Key rotation --------------------------------------------------------------------------------------


def test_second_rotation_of_a_key_waits_and_is_refused(world):
    key = ApiKey.objects.get(principal=world.agent)
    held, run = held_transaction(lambda: key_services.key_rotate(actor=world.owner, key=key))

    first = Worker("rotation-1", run).begin()
    second = held.then_waiting("rotation-2", lambda: key_services.key_rotate(actor=world.owner, key=key))

    new_key, _ = first.outcome()
    with pytest.raises(InvalidTransition, match="already rotated"):
        second.outcome()
    assert ApiKey.objects.filter(principal=world.agent).count() == 2
    assert ApiKey.objects.get(pk=key.pk).replaced_by_id == new_key.pk
    assert len(events_of(events.KEY_ROTATED, target_id=world.agent.public_id)) == 1


def test_many_simultaneous_rotations_of_one_key_make_exactly_one_new_key(world):
    key = ApiKey.objects.get(principal=world.agent)
    n = 8
    start = threading.Barrier(n, timeout=WAIT)

    def rotate():
        start.wait()
        return key_services.key_rotate(actor=world.owner, key=key)

    workers = [Worker(f"rotation-{i}", rotate).begin() for i in range(n)]
    won, lost = [], []
    for w in workers:
        try:
            won.append(w.outcome())
        except InvalidTransition:
            lost.append(w)
    assert len(won) == 1 and len(lost) == n - 1
    assert ApiKey.objects.filter(principal=world.agent).count() == 2
    assert ApiKey.objects.get(pk=key.pk).replaced_by_id == won[0][0].pk
    assert len(events_of(events.KEY_ROTATED, target_id=world.agent.public_id)) == 1


# Revocation racing requests ----------------------------------------------------------------------


def test_request_in_flight_commits_before_the_revoke_and_none_after(world, hold):
    held = hold(access, "require")
    writer = Worker("agent-write", lambda: api_write(world, "create")).begin()
    revoker = held.then_waiting("revoke", lambda: agent_services.agent_revoke(actor=world.owner, agent=world.agent))

    assert writer.outcome().status_code == 201
    revoker.outcome()
    [written] = agent_write_events(world, "create")
    [revoked] = events_of(events.AGENT_REVOKED, target_id=world.agent.public_id)
    assert written.id < revoked.id

    for write in WRITES:
        assert api_write(world, write).status_code == 401
    assert ApiClient(world.key).get("/api/v1/me").status_code == 401
    assert world.agent_documents().count() == 1


def test_request_arriving_during_the_revoke_waits_and_is_refused(world):
    held, run = held_transaction(lambda: agent_services.agent_revoke(actor=world.owner, agent=world.agent))
    revoker = Worker("revoke", run).begin()
    writer = held.then_waiting("agent-write", lambda: api_write(world, "create"))

    revoker.outcome()
    assert writer.outcome().status_code in (401, 404)
    assert world.agent_documents().count() == 0
    assert agent_write_events(world, "create") == []
    assert ApiClient(world.key).get("/api/v1/me").status_code == 401


def test_key_revoked_after_the_access_check_refuses_the_write(world, hold):
    """Revoking just the key (the agent stays active) while a write sits between its access
    check and its key re-check: the revocation commits, the write sees it and answers 401."""
    held = hold(access, "require")
    writer = Worker("agent-write", lambda: api_write(world, "create")).begin()
    held.wait_reached()
    key = ApiKey.objects.get(principal=world.agent)
    key_services.key_revoke(actor=world.owner, key=key)  # commits: nothing of the write locks the key yet
    held.release.set()

    assert writer.outcome().status_code == 401
    assert agent_write_events(world, "create") == []
    assert world.agent_documents().count() == 0


def test_key_revoke_waits_for_a_write_that_rechecked_the_key(world, hold):
    from identity.api import views

    held = hold(views, "reconfirm_key")  # the write holds its share lock on the key row
    key = ApiKey.objects.get(principal=world.agent)
    writer = Worker("agent-write", lambda: api_write(world, "create")).begin()
    revoker = held.then_waiting("key-revoke", lambda: key_services.key_revoke(actor=world.owner, key=key))

    assert writer.outcome().status_code == 201
    revoker.outcome()
    [written] = agent_write_events(world, "create")
    [revoked] = events_of(events.KEY_REVOKED, target_id=world.agent.public_id)
    assert written.id < revoked.id
    assert api_write(world, "create").status_code == 401
    assert world.agent_documents().count() == 1


@pytest.mark.parametrize("write", list(WRITES))
def test_write_waits_for_a_key_revoke_in_flight_and_is_refused(world, write):
    key = ApiKey.objects.get(principal=world.agent)
    held, run = held_transaction(lambda: key_services.key_revoke(actor=world.owner, key=key))
    revoker = Worker("key-revoke", run).begin()
    writer = held.then_waiting("agent-write", lambda: api_write(world, write))

    revoker.outcome()
    assert writer.outcome().status_code == 401
    assert agent_write_events(world, write) == []


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_stream_of_requests_racing_a_revoke(world, seed):
    """An agent writes as fast as it can while its owner revokes it at a random moment: no
    request that starts after the revoke committed succeeds, and every write the agent
    got in committed before the revoke did (by audit order)."""
    rng = random.Random(seed)
    fire_after = rng.randint(5, 40)
    requests = 120
    committed = threading.Event()
    started = threading.Event()
    answers: list[tuple[bool, int]] = []  # (started after the revoke committed, status)

    def write_loop():
        client = ApiClient(world.key)
        for i in range(requests):
            after = committed.is_set()
            response = client.post(f"/api/v1/workspaces/{world.space.slug}/documents", {"title": f"n{i}", "body": ""})
            answers.append((after, response.status_code))
            if i == fire_after:
                started.set()

    def revoke():
        assert started.wait(WAIT)
        agent_services.agent_revoke(actor=world.owner, agent=world.agent)
        committed.set()

    writer = Worker("agent-writes", write_loop).begin()
    revoker = Worker("revoke", revoke).begin()
    revoker.outcome()
    writer.outcome()

    assert len(answers) == requests
    assert all(status in (201, 401, 404) for _, status in answers), Counter(s for _, s in answers)
    assert [s for after, s in answers if after and s == 201] == []
    assert sum(1 for after, _ in answers if after) > 0  # the race really straddled the revoke
    [revoked] = events_of(events.AGENT_REVOKED, target_id=world.agent.public_id)
    created = agent_write_events(world, "create")
    assert all(e.id < revoked.id for e in created)
    assert world.agent_documents().count() == len(created) == sum(1 for _, s in answers if s == 201)
    assert verify_chain().ok


# The chain head is the last lock ---------------------------------------------------------------
# Every audited write ends by locking the chain head. PostgreSQL checks foreign keys at
# COMMIT, after that lock, unless the audit writer settles them first: then a writer
# holding the head would wait (at COMMIT) for a row that a writer queued for the head
# has locked: a deadlock. Each test parks the first writer holding the head, shows the
# second waiting on a lock, and expects both to succeed.


def _no_deadlock(first_run, second_run):
    held, run = held_transaction(first_run)
    first = Worker("first", run).begin()
    second = held.then_waiting("second", second_run)  # the first writer holds the chain head, uncommitted
    return first.outcome(), second.outcome()


def test_rotating_a_key_while_its_agent_is_paused_does_not_deadlock(world):
    key = ApiKey.objects.get(principal=world.agent)
    _no_deadlock(
        lambda: key_services.key_rotate(actor=world.owner, key=key),
        lambda: agent_services.agent_pause(actor=world.owner, agent=world.agent),
    )
    assert Principal.objects.get(pk=world.agent.pk).status == Status.PAUSED
    assert ApiKey.objects.filter(principal=world.agent).count() == 2
    assert verify_chain().ok


def test_commenting_on_a_document_while_it_is_edited_does_not_deadlock(world):
    _no_deadlock(
        lambda: ws.comment_create(actor=world.admin, document=world.document, body="first"),
        lambda: ws.document_update(actor=world.owner, document=world.document, body="second"),
    )
    assert Comment.objects.filter(document=world.document).count() == 1
    assert Document.objects.get(pk=world.document.pk).body == "second"
    assert verify_chain().ok


# Many writers, many actions, random rollbacks --------------------------------------------------

WRITERS = int(os.environ.get("DOCK_STRESS_WRITERS", "32"))
ACTIONS = int(os.environ.get("DOCK_STRESS_ACTIONS", "300"))
ROLLBACK_RATE = 0.2
SPACES = 4


class Rollback(Exception):
    """Raised inside a transaction after the service call, to throw its work away."""


def connection_budget() -> int:
    """How many more connections this test may open without starving the server."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int")
        limit = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'")
        used = cursor.fetchone()[0]
    return limit - used - 5  # leave a few for everyone else


class Stress:
    """Shared state of the stress run: who exists, and what each committed action wrote."""

    def __init__(self, writers: int):
        make = Maker()
        self.org = make.org(slug="stress")
        self.admin = make.human(self.org, "Stress Admin")
        self.spaces = [make.workspace(self.org, f"stress-{i}") for i in range(SPACES)]
        for space in self.spaces:
            make.member(space, self.admin, "admin")
        self.humans, self.agents = [], []
        for i in range(writers):
            human = make.human(self.org, f"Writer {i}")
            for space in self.spaces:
                make.member(space, human, "editor")
            agent, _ = make.agent(human, f"Bot {i}", scope="read,comment,write")
            self.humans.append(human)
            self.agents.append(agent)
        self.memberships = list(Membership.objects.filter(principal__in=self.humans).values_list("pk", flat=True))
        self.documents = [make.document(space, self.admin, title=f"Seed {i}").pk for i, space in enumerate(self.spaces)]
        self.lock = threading.Lock()
        self.expected: Counter = Counter()  # (action, actor id, target id) of every committed action
        self.outcomes: Counter = Counter()
        self.committed_by_kind: Counter = Counter()


def run_action(stress: Stress, rng: random.Random, me: int) -> tuple[str, list[tuple[str, str, str]]]:
    """One action, in one transaction; returns its kind and the events it must have written.
    Raises Rollback (randomly, after the service call) or a refusal."""
    agent = stress.agents[me]
    roll = rng.random()
    rollback = rng.random() < ROLLBACK_RATE
    with transaction.atomic():
        if roll < 0.25:
            kind = "document_create"
            space = rng.choice(stress.spaces)
            access.require(agent, space, caps.WRITE, lock=True)
            document = ws.document_create(actor=agent, workspace=space, title=f"By {agent.handle}", body=str(rng.random()))
            written = [(events.DOCUMENT_CREATED, agent.public_id, document.public_id)]
        elif roll < 0.65:
            kind = "document_update" if roll < 0.45 else "comment_create"
            with stress.lock:
                pk = rng.choice(stress.documents)
            document = Document.objects.select_related("workspace", "workspace__org").get(pk=pk)
            if kind == "document_update":
                access.require(agent, document.workspace, caps.WRITE, lock=True)
                document = ws.document_update(actor=agent, document=document, body=f"{agent.handle} {rng.random()}")
                written = [(events.DOCUMENT_UPDATED, agent.public_id, document.public_id)]
            else:
                access.require(agent, document.workspace, caps.COMMENT, lock=True)
                comment = ws.comment_create(actor=agent, document=document, body=f"from {agent.handle}")
                written = [(events.COMMENT_CREATED, agent.public_id, comment.public_id)]
        elif roll < 0.75:
            # Pause or resume any writer's agent: racing that agent's own writes.
            target = rng.choice(stress.agents)
            status = Principal.objects.select_for_update().values_list("status", flat=True).get(pk=target.pk)
            if status == Status.ACTIVE:
                kind = "agent_pause"
                agent_services.agent_pause(actor=stress.admin, agent=target)
                written = [(events.AGENT_PAUSED, stress.admin.public_id, target.public_id)]
            else:
                kind = "agent_resume"
                agent_services.agent_resume(actor=stress.admin, agent=target)
                written = [(events.AGENT_RESUMED, stress.admin.public_id, target.public_id)]
        elif roll < 0.85:
            # Rotate any writer's agent's current key: two writers may pick the same one.
            kind = "key_rotate"
            target = rng.choice(stress.agents)
            key = key_services.current_key(target)
            key_services.key_rotate(actor=target.owner, key=key, grace_seconds=0)  # refused if another rotation won
            written = [(events.KEY_ROTATED, target.owner.public_id, target.public_id)]
        else:
            # Change any writer's role somewhere: racing that writer's agent's access checks.
            kind = "membership_set_role"
            pk = rng.choice(stress.memberships)
            # Locked in the order every change to members takes: the workspace, then the
            # membership (the agents' access checks take them in that order too).
            ws.workspace_lock(Membership.objects.values_list("workspace_id", flat=True).get(pk=pk))
            membership = Membership.objects.select_for_update().select_related("principal").get(pk=pk)
            new_role = Role.VIEWER if membership.role == Role.EDITOR else Role.EDITOR
            ws.membership_set_role(actor=stress.admin, membership=membership, role=new_role)
            written = [(events.MEMBER_ROLE_CHANGED, stress.admin.public_id, membership.principal.public_id)]
        if rollback:
            raise Rollback
    if kind == "document_create":
        with stress.lock:
            stress.documents.append(document.pk)
    return kind, written


def writer_loop(stress: Stress, me: int, start: threading.Barrier, gate: threading.BoundedSemaphore | None) -> None:
    rng = random.Random(1000 + me)
    start.wait()
    for _ in range(ACTIONS):
        if gate is not None:
            gate.acquire()
        try:
            try:
                kind, written = run_action(stress, rng, me)
            except Rollback:
                outcome = "rolled back"
            except (Forbidden, NotFound, InvalidTransition) as exc:
                outcome = f"refused: {type(exc).__name__}"
            else:
                outcome = "committed"
                with stress.lock:
                    stress.expected.update(written)
                    stress.committed_by_kind[kind] += 1
            with stress.lock:
                stress.outcomes[outcome] += 1
        finally:
            if gate is not None:
                connection.close()  # under a connection cap, hand the slot back
                gate.release()


def test_concurrent_writers_with_random_rollbacks_lose_no_audit_event(capsys):
    budget = connection_budget()
    cap = min(WRITERS, budget, int(os.environ.get("DOCK_STRESS_MAX_CONNECTIONS", WRITERS)))
    assert cap >= 2, f"PostgreSQL has no room for concurrent writers (budget {budget})"
    gate = threading.BoundedSemaphore(cap) if cap < WRITERS else None

    stress = Stress(WRITERS)
    mark = audit_mark()
    documents_before = Document.objects.count()
    revisions_before = Revision.objects.count()
    keys_before = ApiKey.objects.count()
    start = threading.Barrier(WRITERS, timeout=WAIT)

    began = time.monotonic()
    workers = [Worker(f"writer-{i}", lambda i=i: writer_loop(stress, i, start, gate), track=False) for i in range(WRITERS)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(300)
    elapsed = time.monotonic() - began
    assert not [w.name for w in workers if w.is_alive()], "writers did not finish"
    errors = [(w.name, w.error) for w in workers if w.error is not None]
    assert not errors, errors[:3]

    total = WRITERS * ACTIONS
    assert sum(stress.outcomes.values()) == total
    committed = stress.outcomes["committed"]
    found = Counter(AuditEvent.objects.filter(id__gt=mark).values_list("action", "actor_id", "target_id"))
    lost = stress.expected - found
    extra = found - stress.expected
    expected_n, found_n = sum(stress.expected.values()), sum(found.values())

    # State agrees with the committed actions too.
    kinds = stress.committed_by_kind
    assert Document.objects.count() - documents_before == kinds["document_create"]
    assert Revision.objects.count() - revisions_before == kinds["document_create"] + kinds["document_update"]
    assert Comment.objects.count() == kinds["comment_create"]
    assert ApiKey.objects.count() - keys_before == kinds["key_rotate"]

    # Each serialised history reads as one consistent story, in chain (id) order.
    for membership in Membership.objects.filter(pk__in=stress.memberships).select_related("principal", "workspace"):
        changes = AuditEvent.objects.filter(
            id__gt=mark, action=events.MEMBER_ROLE_CHANGED, target_id=membership.principal.public_id,
            workspace=membership.workspace.slug,
        ).order_by("id").values_list("details", flat=True)
        role = Role.EDITOR
        for change in changes:
            assert change["from"] == role
            role = change["to"]
        assert membership.role == role
    for agent in Principal.objects.filter(pk__in=[a.pk for a in stress.agents]):
        status = Status.ACTIVE
        for action in AuditEvent.objects.filter(
            id__gt=mark, action__in=[events.AGENT_PAUSED, events.AGENT_RESUMED], target_id=agent.public_id
        ).order_by("id").values_list("action", flat=True):
            assert status == (Status.ACTIVE if action == events.AGENT_PAUSED else Status.PAUSED)
            status = Status.PAUSED if action == events.AGENT_PAUSED else Status.ACTIVE
        assert agent.status == status
        rotations = AuditEvent.objects.filter(id__gt=mark, action=events.KEY_ROTATED, target_id=agent.public_id)
        keys = ApiKey.objects.filter(principal=agent)
        assert keys.count() == 1 + rotations.count()
        assert keys.filter(expires_at__isnull=True).count() == 1  # one current key, however the rotations raced

    result = verify_chain()
    call_command("audit_verify")
    with capsys.disabled():
        print(
            f"\nstress: {WRITERS} writers x {ACTIONS} actions = {total}; connections at once: {cap}; "
            f"committed {committed}, {dict(sorted(stress.outcomes.items()))}; "
            f"events expected {expected_n}, found {found_n}, lost {sum(lost.values())}, unexpected {sum(extra.values())}; "
            f"verify {'ok' if result.ok else result.reason} ({result.count} events); {elapsed:.1f}s"
        )
    assert not lost and not extra, (list(lost.items())[:5], list(extra.items())[:5])
    assert expected_n == found_n == committed  # every action writes exactly one event here
    assert result.ok
    assert stress.outcomes["rolled back"] > 0 and any(k.startswith("refused") for k in stress.outcomes)


# The last admin -------------------------------------------------------------------------------


@pytest.mark.parametrize("second", ["lowering", "removal"])
def test_two_admins_stepping_down_at_once_leave_one_admin(world, hold, second):
    """The last-admin rule reads the other members' roles: a second change to the same
    workspace's members waits for the first, then sees its result and is refused."""
    bo = Maker().human(world.org, "Bo Second")
    bo_membership = ws.membership_add(actor=world.admin, workspace=world.space, principal=bo, role="admin")
    ada_membership = Membership.objects.get(workspace=world.space, principal=world.admin)
    held = hold(ws, "_last_admin")  # the first change: checked, still in its transaction
    first = Worker("ada steps down", lambda: ws.membership_set_role(actor=world.admin, membership=ada_membership, role=Role.VIEWER)).begin()
    if second == "lowering":
        step = lambda: ws.membership_set_role(actor=bo, membership=bo_membership, role=Role.EDITOR)  # noqa: E731
    else:
        step = lambda: ws.membership_remove(actor=bo, membership=bo_membership)  # noqa: E731
    other = held.then_waiting("bo steps down", step)
    first.outcome()
    with pytest.raises(InvalidTransition, match="at least one admin"):
        other.outcome()
    assert list(Membership.objects.filter(workspace=world.space, role=Role.ADMIN).values_list("principal", flat=True)) == [bo.pk]


# Org-wide key rotation (incident response) ------------------------------------------------


@pytest.mark.parametrize("other", ["service_revoke", "service_adopt", "agent_revoke", "agent_transfer"])
def test_an_org_wide_rotation_does_not_deadlock_with_revoking_or_handing_on(world, hold, other):
    """The rotation, holding its locks mid-way (a service account's key rotated), and a
    second admin revoking or handing on a principal whose keys it holds: both finish, in
    some order, and the chain verifies. Locking keys before their principals deadlocked
    service_revoke and service_adopt: the new key's foreign-key check on the principal
    waited for the revocation, which waited for the key rows."""
    from identity.services import service_accounts as service_services

    make = Maker()
    second_admin = make.human(world.org, "Bea Admin", role="admin", email="bea@acme.test")
    service, _ = make.service(world.org, "Nightly Digest")
    heir = make.human(world.org, "Nina Next", email="nina@acme.test")
    held = hold(key_services, "key_rotate")
    rotation = Worker("rotation", lambda: key_services.org_keys_rotate(actor=world.admin, org=world.org)).begin()
    act = {
        "service_revoke": lambda: service_services.service_revoke(actor=second_admin, service=service),
        "service_adopt": lambda: service_services.service_adopt(actor=second_admin, service=service, owner=world.owner, issue_key=False),
        "agent_revoke": lambda: agent_services.agent_revoke(actor=second_admin, agent=world.agent),
        "agent_transfer": lambda: agent_services.agent_transfer(actor=second_admin, agent=world.agent, new_owner=heir),
    }[other]
    second = held.then_waiting(other, act)
    result = rotation.outcome()
    second.outcome()
    assert [p.pk for p, _, _ in result.issued] == [service.pk]
    assert verify_chain().ok


def test_two_admins_rotating_every_key_at_once_rotate_once(world, hold):
    """Both opened the page before either rotated (seen=0): the second waits for the
    first, then is refused, and the keys the first was shown stay current."""
    from identity.errors import Conflict

    make = Maker()
    second_admin = make.human(world.org, "Bea Admin", role="admin", email="bea@acme.test")
    service, _ = make.service(world.org, "Nightly Digest")
    held = hold(key_services, "key_rotate")
    first = Worker("first", lambda: key_services.org_keys_rotate(actor=world.admin, org=world.org, unless_since=0)).begin()
    second = held.then_waiting("second", lambda: key_services.org_keys_rotate(actor=second_admin, org=world.org, unless_since=0))
    shown = first.outcome().issued[0][1]
    with pytest.raises(Conflict, match="Ada Admin rotated every key"):
        second.outcome()
    shown.refresh_from_db()
    assert shown.is_current
    assert len(events_of(events.ORG_KEYS_ROTATED)) == 1


def test_rotating_a_service_accounts_key_while_it_is_revoked_does_not_deadlock(world, hold):
    """key_rotate held after making the new key (its key row locked), service_revoke
    waiting: the rotation locked the principal first, so the revocation waits for it
    rather than holding the principal the new key's foreign-key check needs."""
    from identity.services import service_accounts as service_services

    make = Maker()
    service, _ = make.service(world.org, "Nightly Digest")
    held = hold(key_services, "_new_key")
    key = ApiKey.objects.get(principal=service)
    rotation = Worker("rotation", lambda: key_services.key_rotate(actor=world.admin, key=key)).begin()
    revoke = held.then_waiting("revoke", lambda: service_services.service_revoke(actor=world.admin, service=service))
    rotation.outcome()
    revoke.outcome()
    assert not ApiKey.objects.filter(principal=service, revoked_at__isnull=True).exists()
    assert verify_chain().ok


@pytest.mark.parametrize("kind", ["service", "agent"])
def test_a_key_issued_while_its_principal_is_revoked_is_refused(world, kind):
    """The revocation commits while the issue waits: the issue sees it and refuses, and no
    live key is left on a revoked principal."""
    from identity.services import service_accounts as service_services

    if kind == "service":
        principal, _ = Maker().service(world.org, "Nightly Digest")
        revoke = lambda: service_services.service_revoke(actor=world.admin, service=principal)  # noqa: E731
    else:
        principal = world.agent
        revoke = lambda: agent_services.agent_revoke(actor=world.owner, agent=principal)  # noqa: E731
    held, run = held_transaction(revoke)
    revoking = Worker("revoke", run).begin()
    issuing = held.then_waiting("issue", lambda: key_services.key_issue(actor=world.owner, principal=principal))
    revoking.outcome()
    with pytest.raises(InvalidTransition, match="revoked"):
        issuing.outcome()
    assert not ApiKey.objects.filter(principal=principal, revoked_at__isnull=True).exists()
    assert verify_chain().ok


# Rows pointing at a document being deleted; an owner deactivated while a transfer commits --------


@pytest.mark.parametrize("what", ["comment", "delete request"])
def test_commenting_on_or_asking_to_delete_a_document_being_deleted_is_a_404(world, what):
    """The document's delete holds its row; the agent's comment or delete request waits,
    then finds it gone: 404, not a foreign-key violation (a 500)."""
    from identity import consent

    key = world.key
    if what == "delete request":
        _, key = Maker().agent(world.owner, "Deleter", scope="read,delete")
    held, run = held_transaction(lambda: consent.document_delete_request(actor=world.admin, document=world.document))
    deleting = Worker("delete", run).begin()
    path = f"/api/v1/documents/{world.document.public_id}"
    if what == "comment":
        call = lambda: ApiClient(key).post(f"{path}/comments", {"body": "+1"})  # noqa: E731
    else:
        call = lambda: ApiClient(key).delete(path)  # noqa: E731
    writing = held.then_waiting(what, call)
    deleting.outcome()
    response = writing.outcome()
    assert response.status_code == 404, response.data
    assert not Comment.objects.filter(document_id=world.document.pk).exists()
    assert verify_chain().ok


def test_deactivating_an_owner_while_their_agent_is_transferred_leaves_it_active(world):
    """The transfer commits first: the agent is its new, active owner's, and stays active."""
    from identity.services import users as user_services

    heir = Maker().human(world.org, "Nina Next", email="nina@acme.test")
    held, run = held_transaction(lambda: agent_services.agent_transfer(actor=world.admin, agent=world.agent, new_owner=heir))
    transferring = Worker("transfer", run).begin()
    deactivating = held.then_waiting("deactivate", lambda: user_services.user_deactivate(actor=world.admin, user=world.owner.user))
    transferring.outcome()
    deactivating.outcome()
    agent = Principal.objects.get(pk=world.agent.pk)
    assert (agent.owner_id, agent.status) == (heir.pk, Status.ACTIVE)
    assert not events_of(events.AGENT_SUSPENDED)
    assert verify_chain().ok
