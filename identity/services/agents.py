from django.db import transaction

from audit import events
from audit.services import batch, record

from .. import access, capabilities
from ..errors import Conflict, Forbidden, InvalidInput, InvalidTransition
from ..models import Kind, Principal, Status
from ..signals import agent_revoked, agent_transferred
from .keys import _new_key, keys_revoke_all
from .principals import clean_display_name, locked_active_human, named, principal_build, store_avatar


def check_scope(scope: int) -> int:
    if not scope:  # an agent that may do nothing; the form asks for one, and so does this
        raise InvalidInput("Choose at least one capability.", fields={"scope": "Choose at least one capability."})
    if scope & ~capabilities.AGENT_SCOPE_MASK:
        raise InvalidInput("Agents never manage members, invitations or grants.", fields={"scope": "Not an agent capability."})
    return scope


def agent_create(
    *,
    actor,
    owner: Principal,
    name: str,
    scope: int = capabilities.READ,
    handle: str | None = None,
    avatar=None,
    bio: str = "",
) -> tuple[Principal, str]:
    """A new agent and its first key (plaintext, shown once)."""
    if owner.kind != Kind.HUMAN:
        raise InvalidInput("An agent's owner must be a human.", fields={"owner": "Choose a human."})
    check_scope(scope)
    with transaction.atomic():
        owner_now = locked_active_human(owner)
        if owner_now is None:
            raise InvalidTransition(f"{owner.display_name} is not active and cannot own new agents.")
        owner = owner_now
        # Under the owner's lock: one person's agents by one name are told apart only by
        # handle. A transfer or an adoption may still bring a second (there is no renaming
        # to ask for first): the owner's lists show handles for that.
        name = clean_display_name(name)
        twin = named(Principal.objects.filter(owner=owner, kind=Kind.AGENT), name).values_list("handle", flat=True).first()
        if twin:
            mine = isinstance(actor, Principal) and actor.pk == owner.pk
            whose = "You already have" if mine else f"{owner.display_name} already has"
            raise Conflict(
                f"{owner.display_name} already has an agent called {name!r} (@{twin}): choose another name.",
                fields={"name": f"{whose} an agent called “{name}”: choose another name."},
            )
        agent = principal_build(
            kind=Kind.AGENT, org=owner.org, display_name=name, handle=handle, owner=owner, scope=scope, bio=bio[:280]
        )
        if avatar is not None:
            store_avatar(agent, avatar)
            agent.save(update_fields=["avatar"])
        key, plaintext = _new_key(actor=actor, principal=agent)
        record(
            events.AGENT_CREATED,
            actor=actor,
            target=agent,
            details={"owner": owner.public_id, "scope": capabilities.names(scope), "key": key.prefix},
        )
    return agent, plaintext


def _locked(agent: Principal) -> Principal:
    locked = Principal.objects.select_for_update(of=("self",)).select_related("org", "owner").get(pk=agent.pk)
    if locked.kind != Kind.AGENT:
        raise InvalidInput(f"{locked.handle} is not an agent.")
    return locked


def _transition(*, actor, agent: Principal, allowed: set[str], to: str, event: str, refusal: dict[str, str]) -> Principal:
    with transaction.atomic(), batch():
        agent = _locked(agent)
        if agent.status not in allowed:
            reason = refusal.get(agent.status) or f"{agent.handle} is {agent.status}."
            raise InvalidTransition(reason)
        previous = agent.status
        agent.status, agent.suspended_from = to, ""
        agent.save(update_fields=["status", "suspended_from"])
        record(event, actor=actor, target=agent, details={"from": previous, "to": to})
        if to == Status.REVOKED:
            keys_revoke_all(actor=actor, principal=agent, reason="agent revoked")
            agent_revoked.send(sender=Principal, agent=agent, actor=actor)
    return agent


def agent_pause(*, actor, agent: Principal) -> Principal:
    """Reversible: keys are kept but rejected while paused."""
    return _transition(
        actor=actor, agent=agent, allowed={Status.ACTIVE}, to=Status.PAUSED, event=events.AGENT_PAUSED,
        refusal={Status.PAUSED: f"{agent.handle} is already paused."},
    )


def agent_resume(*, actor, agent: Principal) -> Principal:
    return _transition(
        actor=actor, agent=agent, allowed={Status.PAUSED}, to=Status.ACTIVE, event=events.AGENT_RESUMED,
        refusal={
            Status.ACTIVE: f"{agent.handle} is already active.",
            Status.SUSPENDED: f"{agent.handle} is suspended: an org admin restores it once its owner is active.",
            Status.REVOKED: f"{agent.handle} is revoked; revocation is permanent.",
        },
    )


def agent_revoke(*, actor, agent: Principal) -> Principal:
    """Permanent: keys destroyed, pending proposals cancelled."""
    return _transition(
        actor=actor, agent=agent, allowed={Status.ACTIVE, Status.PAUSED, Status.SUSPENDED}, to=Status.REVOKED,
        event=events.AGENT_REVOKED, refusal={Status.REVOKED: f"{agent.handle} is already revoked."},
    )


def agent_suspend(*, actor, agent: Principal, reason: str, owner: Principal | None = None) -> Principal:
    """`owner`: suspend only while the agent is still theirs, read under its lock (a
    transfer committing meanwhile hands it to an active owner: nothing to suspend)."""
    with transaction.atomic():
        agent = _locked(agent)
        if agent.status not in (Status.ACTIVE, Status.PAUSED):
            return agent
        if owner is not None and agent.owner_id != owner.pk:
            return agent
        previous = agent.status
        agent.status, agent.suspended_from = Status.SUSPENDED, previous
        agent.save(update_fields=["status", "suspended_from"])
        record(events.AGENT_SUSPENDED, actor=actor, target=agent, details={"from": previous, "reason": reason})
    return agent


def agent_restore(*, actor, agent: Principal) -> Principal:
    """Only an org admin lifts a suspension, and only once the owner is active again. The
    agent goes back to the status the suspension found it in: one its owner had paused
    stays paused until someone who may resume it does."""
    with transaction.atomic():
        agent = _locked(agent)
        if agent.status != Status.SUSPENDED:
            raise InvalidTransition(f"{agent.handle} is {agent.status}, not suspended.")
        if agent.owner.status != Status.ACTIVE:
            raise InvalidTransition(
                f"{agent.handle}'s owner {agent.owner.display_name} is not active: reactivate them or transfer the agent first."
            )
        agent.status = Status.PAUSED if agent.suspended_from == Status.PAUSED else Status.ACTIVE
        agent.suspended_from = ""
        agent.save(update_fields=["status", "suspended_from"])
        record(events.AGENT_RESTORED, actor=actor, target=agent, details={"to": agent.status})
    return agent


def agent_transfer(*, actor, agent: Principal, new_owner: Principal) -> Principal:
    """Hand an agent to another human: its access is recomputed from the new owner at once,
    and its keys are destroyed: whoever holds one (the previous owner, or an admin who made
    the agent to hand it on) would otherwise act with the new owner's access. The new owner
    issues its key."""
    with transaction.atomic(), batch():
        agent = _locked(agent)
        if agent.status == Status.REVOKED:
            raise InvalidTransition(f"{agent.handle} is revoked.")
        if new_owner.org_id != agent.org_id:
            raise InvalidInput("The new owner must belong to the agent's org.", fields={"owner": "Choose someone in this org."})
        previous = agent.owner
        if previous.pk == new_owner.pk:
            raise InvalidTransition(f"{new_owner.display_name} already owns {agent.handle}.")
        new_owner = locked_active_human(new_owner)
        if new_owner is None:
            raise InvalidInput("The new owner must be an active human.", fields={"owner": "Choose an active human."})
        agent.owner = new_owner
        agent.save(update_fields=["owner"])
        record(
            events.AGENT_TRANSFERRED,
            actor=actor,
            target=agent,
            details={"from": previous.public_id, "from_name": previous.display_name, "to": new_owner.public_id},
        )
        keys_revoke_all(actor=actor, principal=agent, reason="agent transferred")
        agent_transferred.send(sender=Principal, agent=agent, previous_owner=previous, actor=actor)
    return agent


def agent_set_scope(*, actor, agent: Principal, scope: int) -> Principal:
    """Widen or narrow what an agent may do; its access follows at once (it is computed).
    Pending proposals stay: approving one checks the proposer's access then."""
    check_scope(scope)
    with transaction.atomic():
        agent = _locked(agent)
        # Asked again under the lock: a transfer that committed meanwhile made it another's.
        if isinstance(actor, Principal) and not may_set_scope(actor, agent):
            raise Forbidden(f"Only its owner, {agent.owner.display_name}, sets {agent.display_name}'s scope.")
        if agent.status == Status.REVOKED:
            raise InvalidTransition(f"{agent.handle} is revoked; revocation is permanent.")
        old = agent.scope
        if old == scope:
            return agent
        agent.scope = scope
        agent.save(update_fields=["scope"])
        record(
            events.AGENT_SCOPE_CHANGED, actor=actor, target=agent,
            details={"from": capabilities.names(old), "to": capabilities.names(scope)},
        )
    return agent


def may_manage_agent(actor: Principal, agent: Principal) -> bool:
    """Owners manage their agents; org owners and admins manage every agent in the org."""
    if actor.kind != Kind.HUMAN or actor.status != Status.ACTIVE:
        return False
    return agent.owner_id == actor.pk or access.is_org_admin(actor, agent.org_id)


def may_hold_keys(actor: Principal, agent: Principal) -> bool:
    """Whether `actor` may be handed a new key of `agent`: its owner only. A key carries
    the owner's access, in other orgs' workspaces too, so an org admin handed one would
    reach where only the owner was invited. (Admins pause, revoke and transfer.)"""
    return may_manage_agent(actor, agent) and agent.owner_id == actor.pk


def may_set_scope(actor: Principal, agent: Principal) -> bool:
    """Its owner only: the owner answers for what the agent does, so the owner says what it
    may do. (Admins pause, revoke and transfer.)"""
    return may_manage_agent(actor, agent) and agent.owner_id == actor.pk


def require_manager(actor: Principal, agent: Principal) -> None:
    if not may_manage_agent(actor, agent):
        raise Forbidden("Only the agent's owner or an org admin can do that.")


