"""A believable demo: two orgs, humans and their agents, workspaces of every kind,
documents, comments and a month of history — all written through the real services, so
the audit chain tells the same story the pages show."""

import random
from contextlib import ExitStack
from datetime import timedelta
from unittest import mock

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from audit import events
from audit.refs import SYSTEM
from audit.services import record
from dock.commands import ErrorsInOneLine
from dock.workspaces import services as ws
from identity import access, consent
from identity import capabilities as caps
from identity.errors import ServiceError
from identity.models import Kind, Org
from identity.services import agents, keys, service_accounts, users

PASSWORD = "dock-demo-password"
MAX_DAYS = 3650  # ten years of history (a million days reached back before the year 1)
MAX_SCALE = 1000  # ten million events, in one transaction: a typo's extra digits ran for hours

HUMANS = [
    ("acme", "alice@acme.test", "Alice Adams", "owner"),
    ("acme", "bruno@acme.test", "Bruno Silva", "admin"),
    ("acme", "chen@acme.test", "Chen Wei", "member"),
    ("acme", "dana@acme.test", "Dana Okafor", "auditor"),
    ("acme", "emil@acme.test", "Emil Novak", "member"),
    ("globex", "farah@globex.test", "Farah Haddad", "owner"),
    ("globex", "gus@globex.test", "Gus Lindqvist", "member"),
]
AGENTS = [
    ("alice@acme.test", "Scout", "read,comment"),
    ("alice@acme.test", "Draftsmith", "read,comment,write,delete"),
    ("bruno@acme.test", "Ledger", "read"),
    ("chen@acme.test", "Triage", "read,comment,write"),
    ("emil@acme.test", "Courier", "read,comment,write"),
    ("farah@globex.test", "Atlas", "read,comment,write"),
    ("gus@globex.test", "Sable", "read,comment,write,delete"),
]
DOCS = [
    "Q3 roadmap", "Onboarding checklist", "Incident review: login outage", "Pricing experiment notes",
    "API deprecation plan", "Hiring loop for platform team", "Security review: key rotation",
    "Launch announcement draft", "Customer interview synthesis", "Weekly metrics", "Design principles",
    "Release notes 4.2", "Vendor evaluation", "Support escalation playbook",
]
LINES = [
    "Summarised the open questions from Tuesday's sync.", "Linked the dashboard and the raw numbers.",
    "Flagged two risks that need an owner.", "Proposed a simpler rollout in three steps.",
    "Added the decision log and who signed off.", "Tightened the wording in the intro.",
    "Moved the appendix to its own section.", "Checked every link; two were stale.",
]
COMMENTS = [
    "Looks good to me.", "Can we get numbers for last quarter too?", "I pulled the latest figures in.",
    "Agreed — let's ship it Monday.", "Left a note on the rollout step.", "Who owns the follow-up?",
    "Updated after the review.", "Two typos fixed.",
]


class Command(ErrorsInOneLine, BaseCommand):
    help = "Seed a believable demo org; --scale N adds benchmark-sized data in bulk."

    def add_arguments(self, parser):
        parser.add_argument("--if-empty", action="store_true", help="do nothing when any org exists")
        parser.add_argument("--scale", type=int, default=0, help="add bulk data: N=100 → ~100k agents, ~1M events")
        parser.add_argument("--days", type=int, default=30)

    def handle(self, *args, if_empty, scale, days, **options):
        if not 0 <= scale <= MAX_SCALE or not 1 <= days <= MAX_DAYS:
            raise CommandError(f"--scale goes from 0 to {MAX_SCALE} (100 is about a million events), --days from 1 to {MAX_DAYS}")
        if if_empty and Org.objects.exists():
            self.stdout.write("demo data already present")
            return
        if Org.objects.filter(slug="acme").exists():
            if not scale:
                self.stdout.write("demo data already present (the org acme exists)")
        else:
            try:
                self.seed(days)
            except ServiceError as exc:
                # An org, an address or a workspace slug of the demo's is taken by real
                # data: nothing of the demo is kept (one transaction), and nothing is merged.
                raise CommandError(f"cannot seed the demo into this database: {exc.detail}") from None
            self.stdout.write(f"demo seeded: sign in as alice@acme.test / {PASSWORD}")
        if scale:
            from bench.bulkload import load

            load(scale, progress=self.stdout.write)

    def seed(self, days: int):
        rng = random.Random(7)
        start = timezone.now() - timedelta(days=days)
        clock = {"t": start}
        real_now = timezone.now

        def tick(minutes_lo=3, minutes_hi=90):
            clock["t"] += timedelta(minutes=rng.randint(minutes_lo, minutes_hi))

        # Every row is written at the simulated time, audit events and the rest alike: the
        # code reads timezone.now at call time, and the `default=timezone.now` fields hold
        # the function itself, so their defaults are patched one by one.
        stamped = [f for model in apps.get_models() for f in model._meta.concrete_fields if f.default is timezone.now]
        with ExitStack() as stack:
            stack.enter_context(mock.patch("django.utils.timezone.now", lambda: clock["t"]))
            for field in stamped:
                stack.enter_context(mock.patch.object(field, "_get_default", lambda: clock["t"]))
            stack.enter_context(transaction.atomic())
            people, bots = self._principals(rng, tick)
            spaces = self._workspaces(people, bots, tick)
            self._history(rng, people, bots, spaces, clock, days, tick, real_now)

    def _principals(self, rng, tick):
        orgs = {
            "acme": users.org_create(actor=SYSTEM, slug="acme", name="Acme Robotics"),
            "globex": users.org_create(actor=SYSTEM, slug="globex", name="Globex Partners"),
        }
        people = {}
        for org, email, name, role in HUMANS:
            tick()
            people[email] = users.user_create(
                actor=SYSTEM, email=email, org=orgs[org], display_name=name, role=role, password=PASSWORD
            ).principal
        bots = {}
        for owner, name, scope in AGENTS:
            tick()
            agent, _key = agents.agent_create(actor=people[owner], owner=people[owner], name=name, scope=caps.parse(scope))
            bots[name] = agent
        tick()
        digest, _ = service_accounts.service_create(actor=people["bruno@acme.test"], org=orgs["acme"], name="Nightly Digest")
        bots["Nightly Digest"] = digest
        return people, bots

    def _workspaces(self, people, bots, tick):
        acme = people["alice@acme.test"].org
        globex = people["farah@globex.test"].org
        alice, bruno, chen, emil = (people[e] for e in ("alice@acme.test", "bruno@acme.test", "chen@acme.test", "emil@acme.test"))
        farah, gus = people["farah@globex.test"], people["gus@globex.test"]
        tick()
        roadmap = ws.workspace_create(actor=alice, org=acme, slug="roadmap", name="Product roadmap")
        handbook = ws.workspace_create(actor=bruno, org=acme, slug="handbook", name="Team handbook", visibility="org")
        security = ws.workspace_create(actor=alice, org=acme, slug="security", name="Security reviews", restricted=True)
        launch = ws.workspace_create(actor=farah, org=globex, slug="launch", name="Joint launch")
        tick()
        for w, p, role in [
            (roadmap, bruno, "editor"), (roadmap, chen, "editor"), (roadmap, emil, "viewer"),
            (roadmap, farah, "editor"),  # another org: her agent Atlas comes with her
            (handbook, chen, "editor"), (security, bruno, "editor"), (launch, alice, "editor"), (launch, gus, "editor"),
        ]:
            tick(1, 20)
            invitation, token = ws.invitation_create(actor=w.created_by, workspace=w, email=p.user.email, role=role)
            ws.invitation_accept(actor=p, token=token)
        ws.membership_add(actor=bruno, workspace=roadmap, principal=bots["Nightly Digest"], role="viewer")
        ws.elevation_grant(actor=alice, workspace=security, agent=bots["Draftsmith"])
        return {"roadmap": roadmap, "handbook": handbook, "security": security, "launch": launch}

    def _history(self, rng, people, bots, spaces, clock, days, tick, real_now):
        writers = {
            "roadmap": [people["alice@acme.test"], people["chen@acme.test"], bots["Draftsmith"], bots["Triage"], bots["Atlas"]],
            "handbook": [people["bruno@acme.test"], people["chen@acme.test"], bots["Triage"]],
            "security": [people["alice@acme.test"], bots["Draftsmith"]],
            "launch": [people["farah@globex.test"], people["alice@acme.test"], bots["Atlas"], bots["Sable"]],
        }
        commenters = {k: v + ([bots["Scout"]] if k != "launch" else []) for k, v in writers.items()}
        # Only what the rules allow, so that no event in the demo's log reads as a breach.
        writers = {k: _allowed(v, spaces[k], caps.WRITE) for k, v in writers.items()}
        commenters = {k: _allowed(v, spaces[k], caps.COMMENT) for k, v in commenters.items()}
        documents = {k: [] for k in spaces}
        titles = iter(rng.sample(DOCS, len(DOCS)))
        end = real_now() - timedelta(hours=2)
        step = (end - clock["t"]) / (days * 6)
        for _ in range(days * 6):
            clock["t"] = min(clock["t"] + step * rng.uniform(0.6, 1.4), end)
            slug = rng.choice(list(spaces))
            workspace = spaces[slug]
            roll = rng.random()
            actor = None
            if (roll < 0.25 or not documents[slug]) and (title := next(titles, None)):
                actor = rng.choice(writers[slug])
                documents[slug].append(ws.document_create(actor=actor, workspace=workspace, title=title, body="\n\n".join(rng.sample(LINES, 3))))
            elif roll < 0.6 and documents[slug]:
                doc, actor = rng.choice(documents[slug]), rng.choice(writers[slug])
                ws.document_update(actor=actor, document=doc, body=doc.body + "\n\n" + rng.choice(LINES))
            elif documents[slug]:
                actor = rng.choice(commenters[slug])
                ws.comment_create(actor=actor, document=rng.choice(documents[slug]), body=rng.choice(COMMENTS))
            if actor is not None and actor.kind == Kind.AGENT:
                _used_key(actor)
            if rng.random() < 0.15:
                human = rng.choice([p for p in people.values()])
                record(events.HUMAN_LOGGED_IN, actor=human, target=human)
        # A few lifecycle moments worth seeing on the pages, in the last two hours.
        clock["t"] = end
        tick(5, 25)
        scout_key = keys.current_key(bots["Scout"])
        keys.key_rotate(actor=people["alice@acme.test"], key=scout_key)
        tick(5, 25)
        agents.agent_pause(actor=people["bruno@acme.test"], agent=bots["Ledger"])
        tick(5, 25)
        if documents["roadmap"]:
            consent.document_delete_request(actor=bots["Draftsmith"], document=documents["roadmap"][-1])
            _used_key(bots["Draftsmith"])
        if documents["launch"]:
            consent.document_delete_request(actor=bots["Sable"], document=documents["launch"][0])
            _used_key(bots["Sable"])


def _used_key(agent) -> None:
    """An agent works through the API, with its key: the key says when it was last used."""
    if key := keys.current_key(agent):
        keys.key_touch(key_id=key.pk, last_used_at=key.last_used_at)


def _allowed(principals, workspace, capability: int) -> list:
    return [p for p in principals if access.check(p.pk, workspace.pk).allows(capability)]
