"""Benchmark-sized data, fast: orgs, humans with logins, agents, service accounts,
workspaces, memberships and a long, valid audit history.

`load(scale)` at scale N inserts about 1,000·N agents and 10,000·N audit events spread
over the last 60 days (N=100: ~100k agents, ~1M events) in a few minutes, with bulk
INSERTs rather than the services: the services are what the benchmarks measure, and one
transaction per event would take hours. The audit events still form one valid hash chain
(computed here with `audit.chain.compute_hash`, continuing from the current chain head,
which is updated in the same transaction as each chunk), so `audit_verify` passes.

The shape is deliberately skewed the way real activity is, so every audit filter has a
deep result: the heavy owner's agents do a quarter of all the work (one of them 3%),
one workspace carries 5% of events, and `document.updated` is the commonest action.
"""

from __future__ import annotations

import json
import random
import time
from bisect import bisect
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import accumulate

from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from django.utils import timezone
from django.utils.text import slugify

from audit import chain
from audit.models import AuditEvent, ChainHead
from audit.selectors import forget_daily_counts
from dock.workspaces.models import Membership, Role, Visibility, Workspace
from identity import capabilities
from identity.ids import BASE62
from identity.models import Kind, Org, OrgRole, Principal, User

DAYS = 60
EVENTS_PER_SCALE = 10_000
AGENTS_PER_SCALE = 1_000
HUMANS_PER_SCALE = 20
WORKSPACES_PER_SCALE = 3
CHUNK = 20_000
PARTNERS = ("northwind", "globex", "initech", "umbrella")

FIRST = ("Alice", "Govind", "Mara", "Tomás", "Yuki", "Priya", "Jonas", "Amara", "Chen", "Lena", "Omar", "Sofia",
         "Kwame", "Ines", "Ravi", "Hana", "Mateo", "Freya", "Noah", "Zara", "Emeka", "Ida", "Luca", "Nia")
LAST = ("Adams", "Rao", "Okafor", "Lindqvist", "Tanaka", "Novak", "Haddad", "Moreau", "Silva", "Kowalski",
        "Nakamura", "Mensah", "Fischer", "Duarte", "Iyer", "Berg", "Costa", "Abe", "Keller", "Osei")
AGENT_NAMES = ("Scribe", "Triage", "Ledger", "Courier", "Sentinel", "Summariser", "Linter", "Archivist",
               "Scout", "Weaver", "Tally", "Herald", "Compass", "Beacon", "Quill", "Relay")
TOPICS = ("Quarterly plan", "Incident review", "Onboarding guide", "Release notes", "Pricing memo",
          "Design brief", "Vendor contract", "Roadmap", "Postmortem", "Meeting notes", "Runbook", "Budget")

# (action, weight) by actor kind; weights are relative within a kind.
AGENT_ACTIONS = (("document.updated", 52), ("comment.created", 22), ("document.created", 14),
                 ("proposal.created", 4), ("api.denied", 3), ("proposal.approved", 1))
HUMAN_ACTIONS = (("document.updated", 30), ("comment.created", 18), ("document.created", 10), ("human.logged_in", 14),
                 ("proposal.approved", 5), ("proposal.rejected", 2), ("agent.key.rotated", 4), ("agent.paused", 2),
                 ("agent.resumed", 2), ("workspace.member.added", 3), ("workspace.invitation.created", 3),
                 ("workspace.invitation.accepted", 2), ("agent.created", 3), ("document.deleted", 1), ("human.logged_out", 1))
SERVICE_ACTIONS = (("document.updated", 50), ("document.created", 25), ("comment.created", 25))
SYSTEM_ACTIONS = (("proposal.expired", 50), ("agent.suspended", 10), ("human.created", 20), ("agent.key.issued", 20))

COLUMNS = ("id", "occurred_at", "action", "actor_id", "actor_kind", "actor_name", "owner_id", "owner_name", "org",
           "actor_org", "workspace", "target_kind", "target_id", "target_name", "details", "request_id", "ip",
           "prev_hash", "hash")


@dataclass
class _Actor:
    id: str
    kind: str
    name: str
    org: str
    owner_id: str = ""
    owner_name: str = ""
    workspaces: list = field(default_factory=list)  # [(slug, org, pk)]
    pk: int | None = None


class _Weighted:
    def __init__(self, pairs):
        self.values = [v for v, _ in pairs]
        self.cum = list(accumulate(w for _, w in pairs))

    def pick(self, rng: random.Random):
        return self.values[bisect(self.cum, rng.random() * self.cum[-1])]


def _public_id(rng: random.Random, prefix: str) -> str:
    return prefix + "_" + "".join(rng.choices(BASE62, k=16))


def _zipf(n: int, s: float = 1.0) -> list[float]:
    return list(accumulate(1.0 / (i + 1) ** s for i in range(n)))


def _pick_cum(rng: random.Random, items: list, cum: list[float]):
    return items[bisect(cum, rng.random() * cum[-1])]


def _say(progress, text: str) -> None:
    if progress:
        progress(text)


def load(scale: int, *, org_slug: str = "acme", heavy_owner: str | None = None, seed: int = 5, progress=print) -> dict:
    """Insert benchmark-sized data for `scale` (≥ 1); see the module docstring.

    `org_slug`: the main org (created when missing; its existing humans own agents too).
    `heavy_owner`: email or handle of an existing human of that org whose agents should
    be the busiest; default: the org's first human, else a new one.
    Returns a summary with the public ids the benchmarks filter on.
    """
    if scale < 1:
        raise ValueError("scale must be at least 1")
    started = time.perf_counter()
    rng = random.Random(f"{seed}:{scale}:{org_slug}:{Principal.objects.count()}")
    tag = "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=4))

    with transaction.atomic():
        orgs = _orgs(org_slug)
        humans, auditors = _humans(rng, scale, orgs, tag, heavy_owner)
        workspaces = _workspaces(rng, scale, orgs, tag)
        _memberships(rng, humans, workspaces, orgs)
        agents_by_owner, heavy_agent = _agents(rng, scale, humans, tag)
        services = _services(rng, scale, orgs, workspaces, tag)
    _say(progress, f"  principals: {sum(len(a) for a in agents_by_owner.values())} agents, {len(humans)} humans, "
                   f"{len(services)} service accounts, {sum(len(w) for w in workspaces.values())} workspaces "
                   f"({time.perf_counter() - started:.1f}s)")

    count = scale * EVENTS_PER_SCALE
    written = _events(rng, count, humans, agents_by_owner, heavy_agent, services, workspaces, progress)
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    else:
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {AuditEvent._meta.db_table}")
    forget_daily_counts()  # past days just gained events
    heavy = humans[0]
    main_ws = workspaces[org_slug][0]
    summary = {
        "scale": scale,
        "org": org_slug,
        "events": written,
        "agents": sum(len(a) for a in agents_by_owner.values()),
        "humans": len(humans),
        "heavy_owner": heavy.id,
        "heavy_agent": heavy_agent.id,
        "heavy_workspace": main_ws[0],
        "auditors": auditors,
        "seconds": round(time.perf_counter() - started, 1),
    }
    _say(progress, f"  audit events: {written} in {summary['seconds']}s")
    return summary


# Principals and workspaces ------------------------------------------------------------------

def _orgs(org_slug: str) -> dict[str, Org]:
    orgs = {}
    for slug in (org_slug, *[p for p in PARTNERS if p != org_slug]):
        orgs[slug], _ = Org.objects.get_or_create(slug=slug, defaults={"name": slug.replace("-", " ").title()})
    return orgs


def _humans(rng, scale, orgs, tag, heavy_owner):
    """`_Actor`s for every human; the first is the heavy owner (in the main org)."""
    main = next(iter(orgs))
    existing = list(Principal.objects.filter(org__slug=main, kind=Kind.HUMAN).select_related("org").order_by("id"))
    if heavy_owner:
        chosen = [p for p in existing if p.handle == heavy_owner or getattr(_user_of(p), "email", "") == heavy_owner]
        if not chosen:
            raise ValueError(f"no human {heavy_owner!r} in {main}")
        existing.remove(chosen[0])
        existing.insert(0, chosen[0])

    total = HUMANS_PER_SCALE * scale
    principals, users = [], []
    for slug, org in orgs.items():
        share = 0.5 if slug == main else 0.5 / (len(orgs) - 1)
        for i in range(max(3, round(total * share))):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            handle = f"{slugify(first)}-{slugify(last)}-{tag}{len(principals) + 1}"
            p = Principal(public_id=_public_id(rng, "usr"), handle=handle, display_name=f"{first} {last}",
                          kind=Kind.HUMAN, org=org)
            principals.append(p)
            role = OrgRole.AUDITOR if i == 0 else (OrgRole.ADMIN if i == 1 else OrgRole.MEMBER)
            users.append(User(principal=p, email=f"{handle}@{slug}.test", org_role=role, password=make_password(None)))
    Principal.objects.bulk_create(principals, batch_size=2000)
    for user in users:
        user.principal_id = user.principal.pk
    User.objects.bulk_create(users, batch_size=2000)
    auditors = {u.principal.org.slug: u.email for u in users if u.org_role == OrgRole.AUDITOR}

    if not existing:
        # The heavy owner is a plain member of the main org (index 2: after its auditor and admin).
        principals.insert(0, principals.pop(2))
    return [
        _Actor(p.public_id, Kind.HUMAN, p.display_name, p.org.slug, p.public_id, p.display_name, pk=p.pk)
        for p in existing + principals
    ], auditors


def _user_of(p):
    try:
        return p.user
    except User.DoesNotExist:
        return None


def _workspaces(rng, scale, orgs, tag) -> dict[str, list[tuple[str, str, int]]]:
    total = WORKSPACES_PER_SCALE * scale
    main = next(iter(orgs))
    rows = []
    for slug, org in orgs.items():
        share = 0.5 if slug == main else 0.5 / (len(orgs) - 1)
        for i in range(max(2, round(total * share))):
            topic = rng.choice(("research", "legal", "ops", "sales", "design", "finance", "platform", "support"))
            rows.append(Workspace(slug=f"{topic}-{tag}{len(rows) + 1}", name=f"{topic.title()} {len(rows) + 1}",
                                  org=org, visibility=Visibility.ORG if i % 3 == 0 else Visibility.MEMBERS))
    Workspace.objects.bulk_create(rows, batch_size=2000)
    by_org: dict[str, list] = {slug: [] for slug in orgs}
    for w in rows:
        by_org[w.org.slug].append((w.slug, w.org.slug, w.pk))
    return by_org


def _memberships(rng, humans, workspaces, orgs) -> None:
    main = next(iter(orgs))
    rows = []
    for i, human in enumerate(humans):
        own = workspaces[human.org]
        picks = {own[0]} if i == 0 else set()  # the heavy owner works in the heavy workspace
        picks.update(rng.sample(own, min(len(own), rng.randint(2, 4))))
        # A few people are invited into another org's workspaces: their agents follow them.
        if rng.random() < 0.04:
            other = rng.choice([slug for slug in orgs if slug != human.org]) if human.org != main else \
                rng.choice([slug for slug in orgs if slug != main])
            picks.add(rng.choice(workspaces[other]))
        human.workspaces = sorted(picks, key=lambda w: (w != own[0] or i != 0, w[0]))
        for _slug, _org, pk in human.workspaces:
            rows.append(Membership(workspace_id=pk, principal_id=human.pk,
                                   role=rng.choice((Role.EDITOR, Role.EDITOR, Role.ADMIN, Role.VIEWER))))
    Membership.objects.bulk_create(rows, batch_size=5000, ignore_conflicts=True)


def _agents(rng, scale, humans, tag):
    total = AGENTS_PER_SCALE * scale
    heavy_count = min(total // 2, max(3, 2 * scale))
    counts = [heavy_count] + [0] * (len(humans) - 1)
    rest = total - heavy_count
    # Every other human owns some agents; a few own many.
    weights = _zipf(len(humans) - 1, 0.6)
    order = list(range(1, len(humans)))
    rng.shuffle(order)
    for _ in range(rest):
        counts[order[bisect(weights, rng.random() * weights[-1])]] += 1
    org_pks = dict(Org.objects.values_list("slug", "pk"))
    rows, actors = [], {}
    scope = capabilities.READ | capabilities.COMMENT | capabilities.WRITE
    n = 0
    for human, k in zip(humans, counts):  # noqa: B905
        mine = actors.setdefault(human.id, [])
        for _ in range(k):
            n += 1
            name = f"{rng.choice(AGENT_NAMES)} {n}"
            p = Principal(public_id=_public_id(rng, "agt"), handle=f"{name.split()[0].lower()}-{tag}{n}",
                          display_name=name, kind=Kind.AGENT, org_id=org_pks[human.org], owner_id=human.pk,
                          scope=scope if rng.random() < 0.8 else scope | capabilities.DELETE)
            rows.append(p)
            mine.append(_Actor(p.public_id, Kind.AGENT, name, human.org, human.id, human.name, human.workspaces))
        if len(rows) >= 10_000:
            Principal.objects.bulk_create(rows, batch_size=2000)
            rows = []
    Principal.objects.bulk_create(rows, batch_size=2000)
    heavy_agent = actors[humans[0].id][0]
    return actors, heavy_agent


def _services(rng, scale, orgs, workspaces, tag):
    rows, actors = [], []
    for slug, org in orgs.items():
        for i in range(1 + scale // 20):
            name = f"{rng.choice(('Importer', 'Backup', 'Sync', 'Reporter'))} {slug} {i + 1}"
            p = Principal(public_id=_public_id(rng, "svc"), handle=f"svc-{slug}-{tag}{i + 1}", display_name=name,
                          kind=Kind.SERVICE, org=org)
            rows.append(p)
            actors.append(_Actor(p.public_id, Kind.SERVICE, name, slug, workspaces=rng.sample(workspaces[slug], 2)))
    Principal.objects.bulk_create(rows)
    return actors


# Audit events -------------------------------------------------------------------------------

def _timestamps(rng, count: int, now: datetime):
    """`count` sorted instants over the last DAYS days: weekdays busier, office hours busiest."""
    start = (now - timedelta(days=DAYS - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    day_weights = [(0.35 if (start + timedelta(days=d)).weekday() >= 5 else 1.0) * (1 + 0.004 * d) for d in range(DAYS)]
    # Today is only partly over.
    day_weights[-1] *= max(0.05, (now - now.replace(hour=0, minute=0, second=0, microsecond=0)).total_seconds() / 86400)
    total = sum(day_weights)
    per_day = [int(count * w / total) for w in day_weights]
    per_day[-1] += count - sum(per_day)
    hours = [0.3] * 7 + [1.0, 2.5, 3.5, 3.5, 3.0, 2.5, 3.2, 3.5, 3.2, 2.5, 1.6, 1.0, 0.7, 0.5, 0.4, 0.35, 0.3]
    hour_cum = list(accumulate(hours))
    limit = now - start
    for d, k in enumerate(per_day):
        instants = []
        for _ in range(k):
            h = bisect(hour_cum, rng.random() * hour_cum[-1])
            offset = timedelta(days=d, hours=h, seconds=rng.random() * 3600)
            if offset >= limit:
                offset = timedelta(seconds=rng.random() * limit.total_seconds())
            instants.append(offset)
        instants.sort()
        for offset in instants:
            yield start + offset


def _events(rng, count, humans, agents_by_owner, heavy_agent, services, workspaces, progress) -> int:
    now = timezone.now()
    heavy_owner = humans[0]
    heavy_agents = agents_by_owner[heavy_owner.id]
    # Busy and quiet people in every org: the long tail is shuffled across orgs.
    owners = [h for h in humans[1:] if agents_by_owner.get(h.id)]
    rng.shuffle(owners)
    owner_cum = _zipf(len(owners), 0.9)
    people = humans[:]
    rng.shuffle(people)
    human_cum = _zipf(len(people), 0.8)
    heavy_ws = heavy_owner.workspaces[0]
    pickers = {
        Kind.AGENT: _Weighted(AGENT_ACTIONS), Kind.HUMAN: _Weighted(HUMAN_ACTIONS),
        Kind.SERVICE: _Weighted(SERVICE_ACTIONS), "system": _Weighted(SYSTEM_ACTIONS),
    }
    all_ws = [w for ws in workspaces.values() for w in ws]
    org_slugs = list(workspaces)
    system = _Actor("system", "system", "Dock", "")
    adapt = connection.ops.adapt_datetimefield_value
    on_pg = connection.vendor == "postgresql"
    table = AuditEvent._meta.db_table
    per_statement = 500
    values_sql = "(" + ", ".join(["%s"] * len(COLUMNS)) + ")"
    pg_types = {"id": "bigint", "occurred_at": "timestamptz"}
    pg_sql = (
        f"INSERT INTO {table} ({', '.join(COLUMNS)}) SELECT "
        + ", ".join(f"{c}::jsonb" if c == "details" else c for c in COLUMNS)
        + " FROM unnest(" + ", ".join(f"%s::{pg_types.get(c, 'text')}[]" for c in COLUMNS) + f") AS u({', '.join(COLUMNS)})"
    )

    times = _timestamps(rng, count, now)
    written = 0
    t0 = time.perf_counter()
    while written < count:
        n = min(CHUNK, count - written)
        with transaction.atomic():
            head = ChainHead.objects.select_for_update().filter(pk=1).first()
            if head is None:
                ChainHead.objects.bulk_create([ChainHead(pk=1, hash=chain.GENESIS, count=0)], ignore_conflicts=True)
                head = ChainHead.objects.select_for_update().get(pk=1)
            with connection.cursor() as cursor:
                if on_pg:
                    cursor.execute("SET LOCAL synchronous_commit TO OFF")
                    cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, n])
                    ids = [r[0] for r in cursor.fetchall()]
                else:
                    cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")
                    first = cursor.fetchone()[0] + 1
                    ids = list(range(first, first + n))
            prev = head.hash
            params = []
            for event_id in ids:
                r = rng.random()
                if r < 0.03:
                    actor = heavy_agent
                elif r < 0.25:
                    actor = rng.choice(heavy_agents)
                elif r < 0.70:
                    actor = rng.choice(agents_by_owner[_pick_cum(rng, owners, owner_cum).id])
                elif r < 0.92:
                    actor = _pick_cum(rng, people, human_cum)
                elif r < 0.95:
                    actor = rng.choice(services)
                else:
                    actor = system
                row = _event_row(rng, actor, pickers[actor.kind].pick(rng), heavy_ws, all_ws, org_slugs)
                row["occurred_at"] = next(times)
                row["prev_hash"] = prev
                row["hash"] = prev = chain.compute_hash(row)
                params.append((event_id, adapt(row["occurred_at"]), row["action"], row["actor_id"], row["actor_kind"],
                               row["actor_name"], row["owner_id"], row["owner_name"], row["org"], row["actor_org"],
                               row["workspace"], row["target_kind"], row["target_id"], row["target_name"],
                               json.dumps(row["details"]), row["request_id"], row["ip"], row["prev_hash"], row["hash"]))
            with connection.cursor() as cursor:
                if on_pg:
                    # One statement per chunk: a column of values per array parameter
                    # binds far faster than 19 scalars a row.
                    cursor.execute(pg_sql, [list(column) for column in zip(*params)])  # noqa: B905
                else:
                    for i in range(0, len(params), per_statement):
                        batch = params[i:i + per_statement]
                        sql = f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES " + ", ".join([values_sql] * len(batch))
                        cursor.execute(sql, [v for row in batch for v in row])
            ChainHead.objects.filter(pk=1).update(hash=prev, count=head.count + n, last_event_id=ids[-1])
        written += n
        if written % 200_000 == 0 or written == count:
            rate = written / (time.perf_counter() - t0)
            _say(progress, f"  audit events: {written:,}/{count:,} ({rate:,.0f}/s)")
    return written


_WORKSPACE_GROUPS = ("document", "comment", "proposal", "workspace", "api")


def _event_row(rng, actor: _Actor, action: str, heavy_ws, all_ws, org_slugs) -> dict:
    where = None
    if action.split(".", 1)[0] in _WORKSPACE_GROUPS:
        if actor.workspaces:
            heavy = actor.kind == Kind.AGENT and actor.workspaces[0] == heavy_ws and rng.random() < 0.2
            where = heavy_ws if heavy else rng.choice(actor.workspaces)
        elif actor.kind == "system":
            where = rng.choice(all_ws)
    target_kind, target_id, target_name, details = _target(rng, action, actor, where)
    return {
        "action": action,
        "actor_id": actor.id,
        "actor_kind": actor.kind,
        "actor_name": actor.name,
        "owner_id": actor.owner_id,
        "owner_name": actor.owner_name,
        # As audit.record does: the workspace's org, else the actor's (the system acts for some org).
        "org": where[1] if where else (actor.org or rng.choice(org_slugs)),
        "actor_org": actor.org,
        "workspace": where[0] if where else "",
        "target_kind": target_kind,
        "target_id": target_id,
        "target_name": target_name,
        "details": details,
        "request_id": "" if actor.kind == "system" else f"{rng.getrandbits(128):032x}",
        "ip": "" if actor.kind == "system" else f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
    }


def _target(rng, action, actor, where):
    group = action.split(".", 1)[0]
    if group in ("document", "comment", "proposal"):
        doc = f"doc_{rng.getrandbits(64):016x}"
        title = f"{rng.choice(TOPICS)} {rng.randrange(1, 400)}"
        if action == "document.updated":
            return "document", doc, title, {"fields": rng.choice((["body"], ["title"], ["title", "body"]))}
        if group == "comment":
            return "comment", f"cmt_{rng.getrandbits(64):016x}", title, {"document": doc}
        if group == "proposal":
            return "proposal", f"prp_{rng.getrandbits(64):016x}", title, {"operation": "document.delete", "document": doc}
        return "document", doc, title, {}
    if action == "api.denied":
        return "", "", "", {"error": rng.choice(("forbidden", "not_found", "rate_limited"))}
    if action.startswith("agent.key"):
        return "api_key", "".join(rng.choices(BASE62, k=8)), "dock_…", {}
    if action.startswith("workspace.") and where:
        return "workspace", where[0], where[0], {"role": "editor"} if "member" in action else {}
    if action.startswith("agent."):
        return "agent", _public_id(rng, "agt"), rng.choice(AGENT_NAMES), {}
    if action.startswith("human."):
        return "human", actor.id if actor.kind == Kind.HUMAN else _public_id(rng, "usr"), actor.name, {}
    return "", "", "", {}

