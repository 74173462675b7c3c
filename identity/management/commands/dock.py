"""The operator CLI: `manage.py dock …`.

Every subcommand calls the same services as the dashboard, acts as the system (audited),
prints JSON on stdout, and answers bad input with one line on stderr and exit 1.
"""

import json
import os
import sys

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from audit import context
from audit import events as audit_events
from audit.export import FORMATS, stream
from audit.refs import SYSTEM
from audit.selectors import chain_head, filtered_events
from dock.commands import ErrorsInOneLine, OneLineParser
from dock.workspaces import selectors as ws_selectors
from dock.workspaces import services as ws
from dock.workspaces.models import Membership, Proposal, Role, Visibility, Workspace
from identity import consent
from identity.errors import ServiceError
from identity.management import dock_args as typed
from identity.models import ApiKey, Kind, OrgRole, Principal, Status
from identity.presenters import principal_detail
from identity.services import agents, keys, service_accounts, users

Refusal = CommandError


def _workspace_json(w: Workspace) -> dict:
    return {"slug": w.slug, "name": w.name, "org": w.org.slug, "visibility": w.visibility, "restricted": w.restricted}


def _proposal_json(p: Proposal) -> dict:
    return {
        "id": p.public_id,
        "status": p.status if p.status != "pending" or p.is_pending else "expired",
        "operation": p.operation,
        "workspace": p.workspace.slug,
        "target": {"kind": "document", "id": p.target_id, "name": p.current_target_name},
        "proposer": {"id": p.proposer.public_id, "handle": p.proposer.handle},
        "created": p.created_at.isoformat(),
        "expires": p.expires_at.isoformat(),
        "decided_by": p.decided_by.public_id if p.decided_by else None,
    }


class Command(ErrorsInOneLine, BaseCommand):
    help = "Provision and operate Dock without a browser."

    def add_arguments(self, parser):
        groups = parser.add_subparsers(dest="group", required=True, parser_class=OneLineParser)

        org = groups.add_parser("org").add_subparsers(dest="action", required=True, parser_class=OneLineParser)
        p = org.add_parser("create")
        p.add_argument("slug")
        p.add_argument("--name", required=True)
        p = org.add_parser("rotate-keys", help="incident response: every key of the org's agents and service accounts")
        p.add_argument("slug")
        p.add_argument("--now", action="store_true", help="the old keys stop working at once (default: after the grace window)")

        user = groups.add_parser("user").add_subparsers(dest="action", required=True, parser_class=OneLineParser)
        p = user.add_parser("create")
        p.add_argument("email")
        p.add_argument("--org", required=True)
        p.add_argument("--name")
        p.add_argument("--role", default="member", choices=OrgRole.values)
        p.add_argument("--password-stdin", action="store_true")
        for verb in ("deactivate", "reactivate"):
            user.add_parser(verb).add_argument("email")

        workspace = groups.add_parser("workspace").add_subparsers(dest="action", required=True, parser_class=OneLineParser)
        p = workspace.add_parser("create")
        p.add_argument("slug")
        p.add_argument("--org", required=True)
        p.add_argument("--name", required=True)
        p.add_argument("--visibility", default="members", choices=Visibility.values)
        p.add_argument("--restricted", action="store_true")
        p = workspace.add_parser("update", help="change name, description, visibility or restriction")
        p.add_argument("slug")
        p.add_argument("--name")
        p.add_argument("--description")
        p.add_argument("--visibility", choices=Visibility.values)
        restriction = p.add_mutually_exclusive_group()
        restriction.add_argument("--restricted", dest="restricted", action="store_const", const=True)
        restriction.add_argument("--unrestricted", dest="restricted", action="store_const", const=False)

        member = groups.add_parser("member").add_subparsers(dest="action", required=True, parser_class=OneLineParser)
        p = member.add_parser("add")
        p.add_argument("workspace")
        p.add_argument("email")
        p.add_argument("--role", default="viewer", choices=Role.values)
        p = member.add_parser("remove")
        p.add_argument("workspace")
        p.add_argument("email")

        agent = groups.add_parser("agent").add_subparsers(dest="action", required=True, parser_class=OneLineParser)
        p = agent.add_parser("create")
        p.add_argument("--owner", required=True)
        p.add_argument("--name", required=True)
        p.add_argument("--scope", default="read")
        for verb in ("pause", "resume", "revoke", "restore", "rotate"):
            agent.add_parser(verb).add_argument("handle")
        p = agent.add_parser("elevate")
        p.add_argument("handle")
        p.add_argument("workspace")

        proposal = groups.add_parser("proposal").add_subparsers(dest="action", required=True, parser_class=OneLineParser)
        p = proposal.add_parser("list")
        p.add_argument("--as", dest="as_email")
        p.add_argument("--all", action="store_true", help="include decided proposals")
        for verb in ("approve", "reject"):
            p = proposal.add_parser(verb)
            p.add_argument("id")
            p.add_argument("--as", dest="as_email")

        service = groups.add_parser("service").add_subparsers(dest="action", required=True, parser_class=OneLineParser)
        p = service.add_parser("create")
        p.add_argument("name")
        p.add_argument("--org", required=True)
        p = service.add_parser("grant")
        p.add_argument("name")
        p.add_argument("workspace")
        p.add_argument("--role", required=True, choices=[Role.VIEWER.value, Role.EDITOR.value])
        service.add_parser("rotate").add_argument("name")
        service.add_parser("revoke").add_argument("name")
        p = service.add_parser("adopt")
        p.add_argument("name")
        p.add_argument("--owner", required=True)

        audit = groups.add_parser("audit").add_subparsers(dest="action", required=True, parser_class=OneLineParser)
        p = audit.add_parser("export")
        p.add_argument("--format", default="jsonl", choices=sorted(FORMATS))
        p.add_argument("--actor")
        p.add_argument("--owner")
        p.add_argument("--kind", choices=["human", "agent", "service", "system"])
        p.add_argument("--workspace")
        p.add_argument("--action", dest="event")
        p.add_argument("--since")
        p.add_argument("--until")
        audit.add_parser("head")

    def execute(self, *args, **options):
        try:
            with context.bound(request_id=f"cli-{context.new_request_id()}", ip=None):
                return super().execute(*args, **options)
        except ServiceError as exc:
            raise CommandError(exc.detail) from None

    def emit(self, data) -> None:
        self.stdout.write(json.dumps(data, ensure_ascii=False))

    def handle(self, *args, group, action, **o):
        handler = getattr(self, f"do_{group}_{action.replace('-', '_')}")
        result = handler(**o)
        if result is not None:
            self.emit(result)

    # org / user -----------------------------------------------------------------------

    def do_org_create(self, *, slug, name, **_):
        org = users.org_create(actor=SYSTEM, slug=slug, name=name)
        return {"slug": org.slug, "name": org.name, "created": org.created_at.isoformat()}

    def do_org_rotate_keys(self, *, slug, now, **_):
        """The org admins' incident rotation (the same service): each service account's new
        key is printed once; each agent's key is retired for its owner to replace."""
        result = keys.org_keys_rotate(actor=SYSTEM, org=typed.org(slug), grace_seconds=0 if now else None)
        return {
            "org": slug,
            "grace_seconds": result.grace_seconds,
            "services": [
                {"handle": p.handle, "id": p.public_id, "key": plaintext, "prefix": key.prefix} for p, key, plaintext in result.issued
            ],
            "agents_retired": [
                {"handle": p.handle, "id": p.public_id, "owner": p.owner.handle, "key_prefix": key.prefix, "valid_until": key.expires_at.isoformat()}
                for p, key in result.retired
            ],
            "cut_short": [
                {"handle": p.handle, "id": p.public_id, "key_prefix": key.prefix, "valid_until": key.expires_at.isoformat()}
                for p, key in result.cut_short
            ],
        }

    def do_user_create(self, *, email, org, name, role, password_stdin, **_):
        password = None
        if password_stdin:
            # One line, without its line ending, whichever it is: a "\r" left on from a
            # CRLF file or terminal became part of a password nobody could type.
            password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
            if not password:
                raise Refusal("--password-stdin: no password on standard input")
        user = users.user_create(actor=SYSTEM, email=email, org=typed.org(org), display_name=name, role=role, password=password)
        return {**principal_detail(user.principal), "email": user.email, "org_role": user.org_role}

    def do_user_deactivate(self, *, email, **_):
        """The agents it lists are those this suspended: not the revoked ones, nor any
        still suspended from before (their owner deactivated, reactivated, and now again)."""
        user = typed.user(email)
        with transaction.atomic():
            # The human's row first, as the deactivation takes it: no agent is given to
            # them between the count and the change.
            Principal.objects.select_for_update().filter(pk=user.principal_id).exists()
            working = list(user.principal.agents.filter(status__in=(Status.ACTIVE, Status.PAUSED)).values_list("pk", flat=True))
            user = users.user_deactivate(actor=SYSTEM, user=user)
            suspended = list(
                Principal.objects.filter(pk__in=working, status=Status.SUSPENDED).order_by("id").values_list("handle", flat=True)
            )
        return {**principal_detail(user.principal), "email": user.email, "agents_suspended": suspended}

    def do_user_reactivate(self, *, email, **_):
        """The human signs in again; their agents stay suspended until `agent restore`
        (an org admin's decision, as in the dashboard), and are listed for it."""
        user = users.user_reactivate(actor=SYSTEM, user=typed.user(email))
        waiting = list(user.principal.agents.filter(status=Status.SUSPENDED).order_by("id").values_list("handle", flat=True))
        return {**principal_detail(user.principal), "email": user.email, "agents_to_restore": waiting}

    # workspaces ---------------------------------------------------------------------------

    def do_workspace_create(self, *, slug, org, name, visibility, restricted, **_):
        workspace = ws.workspace_create(
            actor=SYSTEM, org=typed.org(org), slug=slug, name=name, visibility=visibility, restricted=restricted
        )
        return _workspace_json(workspace)

    def do_workspace_update(self, *, slug, name, description, visibility, restricted, **_):
        """Prints what changed and what went with it, as the page says it beforehand: the
        members' agents that lost access, the elevations removed, the proposals cancelled."""
        given = {"name": name, "description": description, "visibility": visibility, "restricted": restricted}
        changes = {field: value for field, value in given.items() if value is not None}
        if not changes:
            raise Refusal("nothing to change: give --name, --description, --visibility, --restricted or --unrestricted")
        workspace = typed.workspace(slug)
        with transaction.atomic():
            ws.workspace_lock(workspace.pk)  # as the update takes it: the preview is of this change
            workspace.refresh_from_db()
            access_settings = {name: changes[name] for name in ("visibility", "restricted") if name in changes}
            affected = ws_selectors.operator_settings_impact(workspace=workspace, **access_settings) if access_settings else []
            result = ws.workspace_update(actor=SYSTEM, workspace=workspace, **changes)
        return {
            "workspace": _workspace_json(result.workspace),
            "changed": result.changed,
            "agents_affected": [item.agent.handle for item in affected],
            "elevations_removed": result.elevations_removed,
            "proposals_cancelled": result.proposals_cancelled,
        }

    def do_member_add(self, *, workspace, email, role, **_):
        w, user = typed.workspace(workspace), typed.user(email)
        membership = ws.membership_add(actor=SYSTEM, workspace=w, principal=user.principal, role=role)
        return {"workspace": w.slug, "member": principal_detail(user.principal), "role": membership.role}

    def do_member_remove(self, *, workspace, email, **_):
        """`agents_affected`: the agents that lose access here, as the members page's
        removal preview computes them (paused ones too: resuming would not bring it back)."""
        w, user = typed.workspace(workspace), typed.user(email)
        with transaction.atomic():
            ws.workspace_lock(w.pk)  # as the removal takes it: the preview is of this removal
            membership = Membership.objects.filter(workspace=w, principal=user.principal).first()
            if membership is None:
                raise Refusal(f"{user.email} is not a member of {w.slug}")
            impact = ws_selectors.operator_removal_impact(workspace=w, membership=membership)
            ws.membership_remove(actor=SYSTEM, membership=membership, allow_last_admin=True)
        agents_affected = [i.agent.handle for i in impact]
        return {"workspace": w.slug, "removed": principal_detail(user.principal), "agents_affected": agents_affected}

    # agents -------------------------------------------------------------------------------

    def do_agent_create(self, *, owner, name, scope, **_):
        agent, key = agents.agent_create(actor=SYSTEM, owner=typed.user(owner).principal, name=name, scope=typed.scope(scope))
        return {**principal_detail(agent), "key": key}

    def _agent_transition(self, handle, service):
        return principal_detail(service(actor=SYSTEM, agent=typed.principal(handle, Kind.AGENT)))

    def do_agent_pause(self, *, handle, **_):
        return self._agent_transition(handle, agents.agent_pause)

    def do_agent_resume(self, *, handle, **_):
        return self._agent_transition(handle, agents.agent_resume)

    def do_agent_revoke(self, *, handle, **_):
        return self._agent_transition(handle, agents.agent_revoke)

    def do_agent_restore(self, *, handle, **_):
        return self._agent_transition(handle, agents.agent_restore)

    def _rotate(self, principal: Principal) -> dict:
        with transaction.atomic():
            current = keys.current_key(principal)
            if current is None:
                new_key, plaintext = keys.key_issue(actor=SYSTEM, principal=principal)
                old = None
            else:
                new_key, plaintext = keys.key_rotate(actor=SYSTEM, key=current)
                old = ApiKey.objects.get(pk=current.pk)
        return {
            "handle": principal.handle,
            "id": principal.public_id,
            "key": plaintext,
            "prefix": new_key.prefix,
            "old_key_valid_until": old.expires_at.isoformat() if old else None,
        }

    def do_agent_rotate(self, *, handle, **_):
        return self._rotate(typed.principal(handle, Kind.AGENT))

    def do_agent_elevate(self, *, handle, workspace, **_):
        agent, w = typed.principal(handle, Kind.AGENT), typed.workspace(workspace)
        ws.elevation_grant(actor=SYSTEM, workspace=w, agent=agent)
        return {"agent": principal_detail(agent), "workspace": w.slug, "elevated": True}

    # proposals ----------------------------------------------------------------------------

    def _as(self, as_email):
        return typed.user(as_email).principal if as_email else SYSTEM

    def do_proposal_list(self, *, as_email, all, **_):
        actor = self._as(as_email)
        if actor is SYSTEM:
            qs = Proposal.objects.select_related("workspace", "proposer", "decided_by", "document").defer("document__body").order_by("-created_at", "-id")
            if not all:
                qs = qs.filter(status="pending", expires_at__gt=timezone.now())
        else:
            qs = consent.proposals_for(actor, pending_only=not all)
        return {"items": [_proposal_json(p) for p in qs[:500]]}

    def _proposal(self, public_id: str) -> Proposal:
        proposal = Proposal.objects.select_related("workspace", "proposer", "proposer__owner", "document").filter(public_id=public_id).first()
        if proposal is None:
            raise Refusal(f"no proposal {public_id!r}")
        return proposal

    def do_proposal_approve(self, *, id, as_email, **_):
        return _proposal_json(consent.proposal_approve(actor=self._as(as_email), proposal=self._proposal(id)))

    def do_proposal_reject(self, *, id, as_email, **_):
        return _proposal_json(consent.proposal_reject(actor=self._as(as_email), proposal=self._proposal(id)))

    # service accounts -----------------------------------------------------------------------

    def do_service_create(self, *, name, org, **_):
        service, key = service_accounts.service_create(actor=SYSTEM, org=typed.org(org), name=name)
        return {**principal_detail(service), "key": key}

    def do_service_grant(self, *, name, workspace, role, **_):
        service, w = typed.principal(name, Kind.SERVICE), typed.workspace(workspace)
        membership = ws.membership_add(actor=SYSTEM, workspace=w, principal=service, role=role)
        return {"service": principal_detail(service), "workspace": w.slug, "role": membership.role}

    def do_service_rotate(self, *, name, **_):
        return self._rotate(typed.principal(name, Kind.SERVICE))

    def do_service_revoke(self, *, name, **_):
        return principal_detail(service_accounts.service_revoke(actor=SYSTEM, service=typed.principal(name, Kind.SERVICE)))

    def do_service_adopt(self, *, name, owner, **_):
        agent, key = service_accounts.service_adopt(
            actor=SYSTEM, service=typed.principal(name, Kind.SERVICE), owner=typed.user(owner).principal
        )
        agent = Principal.objects.select_related("org", "owner").get(pk=agent.pk)
        return {**principal_detail(agent), "key": key}

    # audit ----------------------------------------------------------------------------------

    def do_audit_export(self, *, format, actor, owner, kind, workspace, event, since, until, **_):
        given = (("--actor", actor), ("--owner", owner), ("--workspace", workspace), ("--action", event))
        for option, value in (*given, ("--since", since), ("--until", until)):
            # `--actor "$AGENT"` with the variable unset must not export every actor's events.
            if value is not None and not value.strip():
                raise Refusal(f"{option} is empty: leave it out to export without that filter")
        actor_id = typed.actor_id(actor) if actor else None
        # Only registered names are ever recorded: any other would silently match nothing.
        group = event.endswith(".*") and event[:-2] in audit_events.grouped() if event else False
        if event and event not in audit_events.REGISTRY and not group:
            raise Refusal(f"--action: no audit action {event!r}; give a registered name, or a group as GROUP.* (agent.*)")
        owner_id = typed.owner_id(owner) if owner else None
        workspace = typed.workspace_slug(workspace) if workspace else None
        since_at, until_at = typed.when(since, "--since"), typed.when(until, "--until", end=True)
        if since_at and until_at and since_at >= until_at:
            after = since_at > typed.when(until, "--until")  # than the time, or the date's start
            raise Refusal("--since is after --until" if after else "--since and --until leave no time between them")
        qs = filtered_events(
            actor_id=actor_id, actor_kind=kind, owner_id=owner_id, workspace=workspace, action=event,
            since=since_at, until=until_at,
        )
        out = self.stdout._out
        try:
            for block in stream(qs, format):
                out.write(block)
            out.flush()
        except BrokenPipeError:
            # The reader (e.g. `head`) closed the pipe: stop quietly.
            os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())

    def do_audit_head(self, **_):
        return chain_head()
