"""Dock side by side with the Django libraries people assemble instead.

Every pair is measured in the same process, on the same database, interleaved: each
round runs every candidate `number` times, in an order that rotates from round to round,
so that noise from a busy machine falls on all of them alike. A row gives the median
time per call over the rounds and its spread (fastest–slowest round); a ratio row gives
Dock ÷ peer (ratio of the medians) and the lowest–highest per-round ratio.

- Access: Dock's computed inheritance (`identity.access.check`) vs django-guardian with
  one object-permission row per agent × workspace (agents modelled as users, guardian's
  direct-foreign-key permission tables), at 1,000 and 100,000 agents of one owner: the
  check, and the owner leaving (and joining) the workspace.
- Audit writes: the same change to a Dock Document (its title), logged by Dock's
  `audit.services.record` or by django-auditlog (the model registered for the case).
- Key authentication: Dock's `identity.api.auth.authenticate` vs DRF's
  TokenAuthentication and django-rest-knox, each class's `authenticate(request)` on a
  RequestFactory request, and a full `GET me` through each framework in-process, with
  `/healthz` as the floor.
"""

import statistics
import time
from contextlib import contextmanager, nullcontext
from itertools import count
from pathlib import Path

from django.contrib.auth.models import Permission
from django.db import connection, transaction
from django.db.models import Q
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext, override_settings
from django.utils import timezone

from audit import events
from audit import services as audit_services
from audit.models import ChainHead
from audit.refs import SYSTEM
from bench.__main__ import fmt
from dock.workspaces import services as ws
from dock.workspaces.models import Document, Membership, Revision, Workspace
from identity import access
from identity import capabilities as caps
from identity.ids import new_public_id
from identity.models import ApiKey, Kind, Org, Principal, User
from identity.services import agents, users
from identity.services.keys import key_issue

FLEET = "peers-v1"  # bump when the seeding changes: older fleets are then left alone
TARGET = "< 1.0×"
VIEW = "view_workspace"


# Measuring --------------------------------------------------------------------------------


def _stats(samples: list[float]) -> dict:
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples), "samples": samples}


def interleaved(candidates: dict, *, rounds: int, number: int, warmup: int = 20) -> dict[str, dict]:
    """Seconds per call of each candidate. A candidate is a function, or a pair
    (function, context factory) whose context is entered around each round's calls."""
    names = list(candidates)

    def parts(name):
        value = candidates[name]
        return value if isinstance(value, tuple) else (value, nullcontext)

    for name in names:
        fn, ctx = parts(name)
        with ctx():
            for _ in range(warmup):
                fn()
    samples = {name: [] for name in names}
    for r in range(rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            fn, ctx = parts(name)
            with ctx():
                start = time.perf_counter()
                for _ in range(number):
                    fn()
                samples[name].append((time.perf_counter() - start) / number)
    return {name: _stats(s) for name, s in samples.items()}


def ratio_row(report, label: str, dock: dict, peer: dict, note: str = "", *, versus: bool = True) -> float:
    """Dock ÷ peer (or, with versus=False, any informational ratio of two figures)."""
    ratio = dock["median"] / peer["median"]
    pairs = list(zip(dock["samples"], peer["samples"], strict=True))
    verdict = ("Dock ahead" if ratio < 1.0 else "PEER AHEAD") if versus else "informational"
    if all(p > 0 for _, p in pairs):
        per_round = [d / p for d, p in pairs]
        spread = f"per-round {min(per_round):.2f}–{max(per_round):.2f}"
    else:
        spread = "per-round ratios n/a (a round's peer figure ≤ 0)"
    extra = f"; {note}" if note else ""
    report.row(label, f"{ratio:.2f}×", TARGET if versus else "", f"{verdict}; {spread}{extra}")
    return ratio


def queries_of(fn) -> int:
    with CaptureQueriesContext(connection) as ctx:
        fn()
    return len([q for q in ctx.captured_queries
                if not q["sql"].startswith(("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE"))])


def _audit_events() -> int:
    head = ChainHead.objects.filter(pk=1).first()
    return head.count if head else 0


@contextmanager
def audit_recording_off():
    """Dock with its audit writes patched out: events are still prepared (cheap), but
    neither hashed into the chain nor written."""
    original = audit_services._append
    audit_services._append = lambda rows: None
    try:
        yield
    finally:
        audit_services._append = original


# Seeding ------------------------------------------------------------------------------------


class Fleet:
    """One org per size: a keeper (workspace admin), an owner (editor) with `n` agents, a
    members-only workspace. Each agent also has a User row, which is how an app built on
    guardian gives it permissions; guardian holds one view row per user there.

    Seeded once per database and reused by later runs (seeding 100,000 agents is most of
    the cost otherwise); a fleet left inconsistent by an interrupted run is repaired, or
    set aside and seeded again."""

    def __init__(self, n: int):
        self.n = n
        self.slug = f"{FLEET}-{n // 1000}k"
        self.org = Org.objects.filter(slug=self.slug).first()
        if self.org is None or not self._load():
            self._seed()
        self.space = Workspace.objects.select_related("org").get(pk=self.space.pk)
        self.probe_user = User.objects.get(principal=self.probe)
        # A fresh key each run (its plaintext is never stored).
        ApiKey.objects.filter(principal=self.probe)._raw_delete(connection.alias)
        _, self.key = key_issue(actor=SYSTEM, principal=self.probe)

    def _seed(self) -> None:
        if self.org is not None:  # inconsistent: set it aside
            Org.objects.filter(pk=self.org.pk).update(slug=f"{self.slug}-stale-{int(time.time())}")
        with transaction.atomic():
            self.org = users.org_create(actor=SYSTEM, slug=self.slug, name=f"Peers bench, {self.n:,} agents")
            self.keeper = users.user_create(actor=SYSTEM, email=f"keeper@{self.slug}.bench", org=self.org,
                                            display_name="Keeper").principal
            self.owner_user = users.user_create(actor=SYSTEM, email=f"owner@{self.slug}.bench", org=self.org,
                                                display_name="Owner")
            self.owner = self.owner_user.principal
            self.space = ws.workspace_create(actor=self.keeper, org=self.org, slug=f"{self.slug}-space", name="Shared")
            ws.membership_add(actor=self.keeper, workspace=self.space, principal=self.owner, role="editor")
            self.probe, _ = agents.agent_create(actor=SYSTEM, owner=self.owner, name="Probe",
                                                scope=caps.READ | caps.WRITE, handle=f"{self.slug}-probe")
        for start in range(0, self.n - 1, 20_000):
            Principal.objects.bulk_create(
                [Principal(public_id=new_public_id("agt"), handle=f"{self.slug}-a{i}", display_name=f"Agent {i}",
                           kind=Kind.AGENT, org=self.org, owner=self.owner, scope=caps.READ | caps.WRITE)
                 for i in range(start, min(start + 20_000, self.n - 1))],
                batch_size=5000,
            )
        rows = Principal.objects.filter(owner=self.owner).values_list("pk", "handle")
        User.objects.bulk_create([User(principal_id=pk, email=f"{handle}@agents.bench", password="!")
                                  for pk, handle in rows.iterator()], batch_size=5000)
        self.restore_guardian_rows()
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")

    def _load(self) -> bool:
        """Pick up a fleet seeded by an earlier run; False if it is not whole."""
        from bench.peers.models import WorkspaceUserObjectPermission

        self.owner_user = User.objects.filter(email=f"owner@{self.slug}.bench").first()
        self.keeper = Principal.objects.filter(org=self.org, user__email=f"keeper@{self.slug}.bench").first()
        self.space = Workspace.objects.filter(slug=f"{self.slug}-space").first()
        self.probe = Principal.objects.filter(handle=f"{self.slug}-probe").first()
        if None in (self.owner_user, self.keeper, self.space, self.probe):
            return False
        self.owner = self.owner_user.principal
        if Principal.objects.filter(owner=self.owner).count() != self.n:
            return False
        if User.objects.filter(principal__owner=self.owner).count() != self.n:
            return False
        Membership.objects.get_or_create(workspace=self.space, principal=self.owner, defaults={"role": "editor"})
        if WorkspaceUserObjectPermission.objects.filter(content_object=self.space).count() != self.n + 1:
            WorkspaceUserObjectPermission.objects.filter(content_object=self.space)._raw_delete(connection.alias)
            self.restore_guardian_rows()
        return True

    def guardian_users(self):
        """The owner's user and their agents' users: whose rows follow the owner."""
        return (User.objects.filter(Q(principal=self.owner) | Q(principal__owner=self.owner))
                .select_related(None).only("pk"))

    def restore_guardian_rows(self) -> None:
        """The owner's and agents' view rows in one INSERT … SELECT (seeding and
        restoring between rounds; the timed grant goes through guardian's assign_perm)."""
        from bench.peers.models import WorkspaceUserObjectPermission as Row

        q = connection.ops.quote_name
        permission = Permission.objects.get(codename=VIEW, content_type__app_label="workspaces")
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {q(Row._meta.db_table)} (user_id, permission_id, content_object_id) "
                f"SELECT u.id, %s, %s FROM {q(User._meta.db_table)} u "
                f"JOIN {q(Principal._meta.db_table)} p ON p.id = u.principal_id WHERE p.id = %s OR p.owner_id = %s",
                [permission.pk, self.space.pk, self.owner.pk, self.owner.pk],
            )

    def tidy(self) -> None:
        """Per-run leftovers: the peers' tokens and the document's revisions."""
        from rest_framework.authtoken.models import Token

        from bench.peers.models import KnoxToken

        alias = connection.alias
        Token.objects.filter(user=self.probe_user)._raw_delete(alias)
        KnoxToken.objects.filter(user=self.probe_user)._raw_delete(alias)
        Revision.objects.filter(document__workspace=self.space)._raw_delete(alias)


# Access -------------------------------------------------------------------------------------


def access_cases(report, fleet: Fleet, *, rounds: int, checks: int, removal_rounds: int, grant_rounds: int) -> None:
    """The check, then the owner leaving and joining `removal_rounds` times each way;
    guardian's grant goes through assign_perm in the first `grant_rounds` rounds (at
    100,000 agents it takes seconds), later rounds restore its rows with one INSERT."""
    from guardian.core import ObjectPermissionChecker
    from guardian.shortcuts import assign_perm, remove_perm

    n = fleet.n
    probe, space, probe_user = fleet.probe, fleet.space, fleet.probe_user
    report.row(f"— {n:,} agents of one owner —", "", "", f"guardian rows for the workspace: {n + 1:,}")

    def dock_check():
        assert access.check(probe.pk, space.pk).allows(caps.READ)

    def guardian_check():
        # ObjectPermissionBackend builds a new ObjectPermissionChecker per call: cold.
        assert probe_user.has_perm(f"workspaces.{VIEW}", space)

    warm = ObjectPermissionChecker(probe_user)
    warm.has_perm(VIEW, space)

    def guardian_warm():
        assert warm.has_perm(VIEW, space)

    timings = interleaved({"dock": dock_check, "guardian": guardian_check}, rounds=rounds, number=checks)
    warm_stats = interleaved({"warm": guardian_warm}, rounds=3, number=2000)["warm"]
    report.row("access check: Dock access.check (computed)", fmt(timings["dock"], "us"), "",
               f"{queries_of(dock_check)} query")
    report.row("access check: guardian user.has_perm (cold checker)", fmt(timings["guardian"], "us"), "",
               f"{queries_of(guardian_check)} queries (user rows, group rows)")
    ratio_row(report, "  access check, Dock ÷ guardian", timings["dock"], timings["guardian"])
    report.row("  (guardian with a warm per-request checker)", fmt(warm_stats, "us"), "",
               f"{queries_of(guardian_warm)} queries after the first; see BENCHMARKS.md")

    # The owner leaves the workspace (and joins it again), `removal_rounds` times each way.
    samples = {k: [] for k in ("dock_rm", "quiet_rm", "guardian_rm", "dock_add", "quiet_add", "guardian_add")}
    facts = {}

    def dock_cycle(prefix: str) -> None:
        membership = Membership.objects.get(workspace=space, principal=fleet.owner)
        events_before = _audit_events()
        with CaptureQueriesContext(connection) as ctx:
            start = time.perf_counter()
            ws.membership_remove(actor=fleet.keeper, membership=membership)
            samples[f"{prefix}_rm"].append(time.perf_counter() - start)
        assert not access.check(probe.pk, space.pk).visible
        facts.setdefault(f"{prefix}_rm", (len(ctx.captured_queries), _audit_events() - events_before))
        start = time.perf_counter()
        ws.membership_add(actor=fleet.keeper, workspace=space, principal=fleet.owner, role="editor")
        samples[f"{prefix}_add"].append(time.perf_counter() - start)
        assert access.check(probe.pk, space.pk).allows(caps.READ)

    def guardian_cycle() -> None:
        with CaptureQueriesContext(connection) as ctx:
            start = time.perf_counter()
            with transaction.atomic():
                deleted, _ = remove_perm(VIEW, fleet.guardian_users(), space)
            samples["guardian_rm"].append(time.perf_counter() - start)
        assert deleted == n + 1, deleted
        assert not probe_user.has_perm(f"workspaces.{VIEW}", space)
        facts.setdefault("guardian_rm", (len(ctx.captured_queries), deleted))
        if len(samples["guardian_add"]) < grant_rounds:
            start = time.perf_counter()
            with transaction.atomic():
                added = assign_perm(VIEW, fleet.guardian_users(), space)
            samples["guardian_add"].append(time.perf_counter() - start)
            assert len(added) == n + 1
        else:
            fleet.restore_guardian_rows()
        assert probe_user.has_perm(f"workspaces.{VIEW}", space)

    def quiet_cycle():
        with audit_recording_off():
            dock_cycle("quiet")

    cycles = [lambda: dock_cycle("dock"), quiet_cycle, guardian_cycle]
    for r in range(removal_rounds):
        shift = r % len(cycles)
        for cycle in cycles[shift:] + cycles[:shift]:
            cycle()
    s = {k: _stats(v) for k, v in samples.items()}
    dock_queries, dock_events = facts["dock_rm"]
    g_queries, g_rows = facts["guardian_rm"]
    report.row("owner leaves: Dock membership_remove", fmt(s["dock_rm"]), "",
               f"rows: 1 membership deleted + {dock_events} audit event(s) written; {dock_queries} statements")
    report.row("owner leaves: Dock, audit recording patched out", fmt(s["quiet_rm"]), "",
               "rows: 1 membership deleted")
    report.row("owner leaves: guardian remove_perm (owner + agents)", fmt(s["guardian_rm"]), "",
               f"rows: {g_rows:,} permission rows deleted; {g_queries} statements")
    ratio_row(report, "  owner leaves, Dock ÷ guardian", s["dock_rm"], s["guardian_rm"])
    ratio_row(report, "  owner leaves, Dock without audit ÷ guardian", s["quiet_rm"], s["guardian_rm"])
    report.row("owner joins: Dock membership_add", fmt(s["dock_add"]), "", "rows: 1 membership + 1 audit event")
    grants = len(samples["guardian_add"])
    report.row("owner joins: guardian assign_perm (owner + agents)", fmt(s["guardian_add"]), "",
               f"rows: {n + 1:,} permission rows written" + (f"; {grants} run(s)" if grants < removal_rounds else ""))
    dock_add = _stats(samples["dock_add"][:grants])  # the rounds in which both were timed
    ratio_row(report, "  owner joins, Dock ÷ guardian", dock_add, s["guardian_add"])


# Audit writes -------------------------------------------------------------------------------


@contextmanager
def auditlog_on(user):
    """Document registered with django-auditlog, the actor set as its middleware would."""
    from auditlog.context import set_actor
    from auditlog.registry import auditlog

    auditlog.register(Document)
    try:
        with set_actor(user):
            yield
    finally:
        auditlog.unregister(Document)


def audit_cases(report, fleet: Fleet, *, rounds: int, number: int) -> None:
    from auditlog.models import LogEntry

    document = Document.objects.select_related("workspace", "workspace__org").filter(workspace=fleet.space).first()
    if document is None:
        with transaction.atomic():
            ws.document_create(actor=fleet.owner, workspace=fleet.space, title="Minutes", body="Notes.\n" * 40)
        document = Document.objects.select_related("workspace", "workspace__org").get(workspace=fleet.space)
    actor = Principal.objects.select_related("org").get(pk=fleet.owner.pk)
    titles = count()
    fields = ["title", "updated_by", "updated_at"]

    def change():
        document.title = f"Minutes, take {next(titles)}"
        document.updated_by = actor
        document.updated_at = timezone.now()
        document.save(update_fields=fields)

    def baseline():
        with transaction.atomic():
            change()

    def dock():
        with transaction.atomic():
            change()
            audit_services.record(events.DOCUMENT_UPDATED, actor=actor, target=document,
                                  workspace=document.workspace, details={"fields": ["title"]})

    def peer():
        with transaction.atomic():
            change()

    def service():
        ws.document_update(actor=actor, document=document, title=f"Minutes, take {next(titles)}")

    entries = LogEntry.objects.count()
    timings = interleaved(
        {
            "baseline": baseline,
            "dock": dock,
            "auditlog": (peer, lambda: auditlog_on(fleet.owner_user)),
            "service": service,
            "service_quiet": (service, audit_recording_off),
        },
        rounds=rounds, number=number,
    )
    assert LogEntry.objects.count() > entries, "auditlog wrote nothing"
    with auditlog_on(fleet.owner_user):
        peer_queries = queries_of(peer)
    base, d, a = timings["baseline"], timings["dock"], timings["auditlog"]
    def minus(t, b):
        return _stats([x - y for x, y in zip(t["samples"], b["samples"], strict=True)])

    cost = {"dock": minus(d, base), "auditlog": minus(a, base),
            "service": minus(timings["service"], timings["service_quiet"])}
    from django.contrib.contenttypes.models import ContentType

    LogEntry.objects.filter(content_type=ContentType.objects.get_for_model(Document), object_id=document.pk).delete()
    report.row("title change in a transaction, no audit log", fmt(base, "us"), "", f"{queries_of(baseline)} statements")
    report.row("  + Dock audit.record (hash-chained event)", fmt(d, "us"), "",
               f"{queries_of(dock)} statements; log adds {cost['dock']['median'] * 1e6:.0f} µs")
    report.row("  + django-auditlog LogEntry (diff of the old row)", fmt(a, "us"), "",
               f"{peer_queries} statements; log adds {cost['auditlog']['median'] * 1e6:.0f} µs")
    ratio_row(report, "  change + log, Dock ÷ auditlog", d, a)
    ratio_row(report, "  the log's own cost, Dock ÷ auditlog", cost["dock"], cost["auditlog"],
              "each minus the no-log baseline of its round")
    report.row("Dock document_update service (lock, revision, event)", fmt(timings["service"], "us"), "",
               f"{queries_of(service)} statements")
    report.row("  same, audit recording patched out", fmt(timings["service_quiet"], "us"), "",
               f"audit adds {cost['service']['median'] * 1e6:.0f} µs")


# Key authentication --------------------------------------------------------------------------


def auth_cases(report, fleet: Fleet, *, rounds: int, number: int) -> None:
    from bench.peers.auth import DrfTokenAuthentication, KnoxTokenAuthentication
    from bench.peers.models import DrfToken, KnoxToken
    from identity.api.auth import authenticate

    drf_token = DrfToken.objects.create(user=fleet.probe_user)
    _, knox_token = KnoxToken.objects.create(user=fleet.probe_user)
    factory = RequestFactory()
    dock_request = factory.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {fleet.key}")
    drf_request = factory.get("/peer/drf/me", HTTP_AUTHORIZATION=f"Token {drf_token.key}")
    knox_request = factory.get("/peer/knox/me", HTTP_AUTHORIZATION=f"Token {knox_token}")
    drf, knox = DrfTokenAuthentication(), KnoxTokenAuthentication()
    probe_id = fleet.probe.pk

    def dock_auth():
        assert authenticate(dock_request).principal_id == probe_id

    def drf_auth():
        assert drf.authenticate(drf_request)[0].principal_id == probe_id

    def knox_auth():
        assert knox.authenticate(knox_request)[0].principal_id == probe_id

    with override_settings(DOCK_RATE_LIMIT=10**9):  # the limiter runs, and is timed, without refusing
        t = interleaved({"dock": dock_auth, "drf": drf_auth, "knox": knox_auth}, rounds=rounds, number=number)
        q = {name: queries_of(fn) for name, fn in (("dock", dock_auth), ("drf", drf_auth), ("knox", knox_auth))}
    report.row("authenticate(request): Dock key (checksum, 1 query, HMAC-SHA256)", fmt(t["dock"], "us"), "",
               f"{q['dock']} query; includes the rate-limit counter")
    report.row("authenticate(request): DRF TokenAuthentication", fmt(t["drf"], "us"), "",
               f"{q['drf']} query; token stored in plain text")
    report.row("authenticate(request): django-rest-knox", fmt(t["knox"], "us"), "",
               f"{q['knox']} queries; SHA-512 digest, lookup by token prefix")
    ratio_row(report, "  authenticate, Dock ÷ DRF", t["dock"], t["drf"])
    ratio_row(report, "  authenticate, Dock ÷ knox", t["dock"], t["knox"])

    # A whole request through each framework, in-process (middleware, routing, auth,
    # the same JSON), and /healthz through the same stack as the floor.
    from django.conf import settings

    Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)  # whitenoise warns when it is missing
    client = Client(HTTP_HOST="127.0.0.1")
    paths = {
        "dock": ("/api/v1/me", f"Bearer {fleet.key}"),
        "drf": ("/peer/drf/me", f"Token {drf_token.key}"),
        "knox": ("/peer/knox/me", f"Token {knox_token}"),
        "healthz": ("/healthz", None),
    }

    def getter(name):
        path, header = paths[name]
        extra = {"HTTP_AUTHORIZATION": header} if header else {}

        def get():
            response = client.get(path, **extra)
            assert response.status_code == 200, (name, response.status_code, response.content[:200])
            return response

        return get

    gets = {name: getter(name) for name in paths}
    with override_settings(DOCK_RATE_LIMIT=10**9, ROOT_URLCONF="bench.peers.urls"):
        bodies = {name: gets[name]().json() for name in ("dock", "drf", "knox")}
        assert bodies["dock"] == bodies["drf"] == bodies["knox"], bodies
        t = interleaved(gets, rounds=rounds, number=max(number // 4, 30))
    report.row("GET me, full request in-process: Dock (django-ninja)", fmt(t["dock"], "us"))
    report.row("GET me, full request in-process: DRF APIView + TokenAuthentication", fmt(t["drf"], "us"))
    report.row("GET me, full request in-process: DRF APIView + knox", fmt(t["knox"], "us"))
    report.row("GET /healthz, same stack (floor: no auth)", fmt(t["healthz"], "us"))
    ratio_row(report, "  GET me, Dock ÷ DRF", t["dock"], t["drf"])
    ratio_row(report, "  GET me, Dock ÷ knox", t["dock"], t["knox"])
    ratio_row(report, "  GET me ÷ /healthz, Dock (the floor)", t["dock"], t["healthz"], versus=False)


def floor_from_api(report) -> None:
    """The gunicorn floor is measured by bench/cases_api.py; quote it when it ran."""
    for title, rows in report.sections:
        if title.startswith("Agent API hot read"):
            for row in rows[:3]:
                report.row(f"gunicorn, from the API section: {row['case'].strip()}", row["value"], row["target"], row["note"])
            return
    report.row("API read ÷ /healthz under gunicorn", "not run", "", "see the API section (`python -m bench api peers`)")


@contextmanager
def phase(name: str):
    start = time.perf_counter()
    yield
    print(f"  ({name}: {time.perf_counter() - start:.1f} s)", flush=True)


def run(report):
    vendor = connection.vendor
    with phase("fleets (seeded on the first run, then reused)"):
        small, big = Fleet(1_000), Fleet(100_000)
    try:
        report.section(f"Peers: access, Dock vs django-guardian ({vendor})")
        with phase("access, 1,000 agents"):
            access_cases(report, small, rounds=9, checks=100, removal_rounds=7, grant_rounds=7)
        with phase("access, 100,000 agents"):
            access_cases(report, big, rounds=9, checks=100, removal_rounds=3, grant_rounds=1)
        report.section(f"Peers: audit writes, Dock vs django-auditlog ({vendor})")
        with phase("audit writes"):
            audit_cases(report, small, rounds=9, number=60 if vendor == "sqlite" else 20)
        report.section(f"Peers: key authentication, Dock vs DRF and knox ({vendor})")
        with phase("key authentication"):
            auth_cases(report, small, rounds=9, number=150)
        floor_from_api(report)
    finally:
        small.tidy()
