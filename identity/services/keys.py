from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit import events
from audit.refs import as_actor
from audit.services import batch, record

from .. import keys
from ..errors import Conflict, InvalidTransition
from ..models import ApiKey, Kind, Org, Principal, Status
from .principals import locked_principal


def _new_key(*, actor, principal: Principal) -> tuple[ApiKey, str]:
    plaintext, prefix = keys.generate()
    key = ApiKey.objects.create(
        principal=principal, prefix=prefix, digest=keys.digest(plaintext), created_by=as_actor(actor).id
    )
    return key, plaintext


def key_issue(*, actor, principal: Principal) -> tuple[ApiKey, str]:
    """A new key for an agent or service account; the plaintext is returned once, never stored."""
    if principal.kind == Kind.HUMAN:
        raise InvalidTransition("Humans sign in with a password; API keys belong to agents and service accounts.")
    with transaction.atomic():
        # Read again under its row lock: a revocation committing meanwhile is seen here,
        # rather than leaving a live key on a revoked principal (see _lock_principals).
        principal = locked_principal(principal)
        if principal.status == Status.REVOKED:
            raise InvalidTransition(f"{principal.handle} is revoked; it can have no keys.")
        key, plaintext = _new_key(actor=actor, principal=principal)
        record(events.KEY_ISSUED, actor=actor, target=principal, details={"key": key.prefix})
    return key, plaintext


def key_rotate(*, actor, key: ApiKey, grace_seconds: int | None = None) -> tuple[ApiKey, str]:
    """Issue the successor of `key`; `key` keeps working for the grace window only.

    The key row is locked: two rotations of the same key at once give exactly one new key.
    Its principal's row is locked before it, in the order revoking an agent or a service
    account takes them (see _lock_principals).
    """
    grace = settings.DOCK_KEY_GRACE_SECONDS if grace_seconds is None else grace_seconds
    with transaction.atomic():
        _lock_principals([key.principal_id])
        key = ApiKey.objects.select_for_update(of=("self",)).select_related("principal", "principal__org", "principal__owner").get(pk=key.pk)
        if key.revoked_at is not None or not key.digest:
            raise InvalidTransition(f"Key {key.display} is revoked.")
        if key.expires_at is not None:
            raise InvalidTransition(f"Key {key.display} was already rotated.")
        principal = key.principal
        if principal.status == Status.REVOKED:
            raise InvalidTransition(f"{principal.handle} is revoked.")
        new_key, plaintext = _new_key(actor=actor, principal=principal)
        key.expires_at = timezone.now() + timedelta(seconds=grace)
        key.replaced_by = new_key
        key.save(update_fields=["expires_at", "replaced_by"])
        record(
            events.KEY_ROTATED,
            actor=actor,
            target=principal,
            details={"old_key": key.prefix, "new_key": new_key.prefix, "grace_seconds": grace},
        )
    return new_key, plaintext


def key_revoke(*, actor, key: ApiKey) -> ApiKey:
    """Immediate: the key is destroyed (its digest wiped), not just flagged."""
    with transaction.atomic():
        key = ApiKey.objects.select_for_update(of=("self",)).select_related("principal", "principal__org", "principal__owner").get(pk=key.pk)
        if key.revoked_at is not None:
            return key
        key.revoked_at = timezone.now()
        key.digest = ""
        key.save(update_fields=["revoked_at", "digest"])
        record(events.KEY_REVOKED, actor=actor, target=key.principal, details={"key": key.prefix})
    return key


def key_stop(*, actor, key: ApiKey) -> ApiKey:
    """A rotated-away key stopped before its grace window ends: after a leak, its owner
    need not wait the window out. Only such a key: the current one is rotated first."""
    with transaction.atomic():
        locked = ApiKey.objects.select_for_update(of=("self",)).get(pk=key.pk)
        require_stoppable(locked)
        return key_revoke(actor=actor, key=locked)


def require_stoppable(key: ApiKey) -> None:
    """Conflict unless `key` is in its grace window (what key_stop stops), saying why."""
    state = key.state_at(timezone.now())
    if state == "current":
        raise Conflict(f"Key {key.display} is the current one: rotate it first, or revoke the agent.")
    if state != "grace":
        raise Conflict(f"Key {key.display} already no longer works.")


def keys_revoke_all(*, actor, principal: Principal, reason: str) -> int:
    """Destroy every live key of `principal` (one UPDATE) and record which."""
    live = ApiKey.objects.filter(principal=principal, revoked_at__isnull=True)
    prefixes = list(live.values_list("prefix", flat=True))
    if prefixes:
        live.update(revoked_at=timezone.now(), digest="")
        record(events.KEY_REVOKED, actor=actor, target=principal, details={"keys": prefixes, "reason": reason})
    return len(prefixes)


def current_key(principal: Principal) -> ApiKey | None:
    return ApiKey.objects.filter(principal=principal, revoked_at__isnull=True, expires_at__isnull=True).order_by("-created_at").first()


def _lock_principals(pks) -> None:
    """Lock principal rows (FOR NO KEY UPDATE, in id order) before any of their keys: the
    order in which revoking an agent or a service account, and an API write's access
    check, take them (identity/api/auth.py). Taken the other way round, a new key's
    foreign-key check on its principal, run before the audit chain head is locked (see
    audit.services), waits for a revocation that waits for the key rows: a deadlock.
    Creating rows that point at the principal (its documents, its keys) does not wait."""
    list(Principal.objects.select_for_update(no_key=True, of=("self",)).filter(pk__in=pks).order_by("id").values_list("pk", flat=True))


@dataclass
class OrgRotation:
    """What an org-wide rotation did. Each new key goes to whoever keeps its principal:
    a service account's to the org admin who rotated (shown once), an agent's to nobody
    here — the agent's owner issues it (SPEC: an agent's key is handed to its owner only),
    so an agent's current key is retired with no successor."""

    issued: list[tuple[Principal, ApiKey, str]] = field(default_factory=list)  # service accounts
    retired: list[tuple[Principal, ApiKey]] = field(default_factory=list)  # agents' keys, no successor
    cut_short: list[tuple[Principal, ApiKey]] = field(default_factory=list)  # in grace already; it ends sooner now
    grace_seconds: int = 0


def last_org_rotation(org: Org):
    """The newest org-wide rotation's audit event of `org`, or None."""
    from audit.models import AuditEvent

    return (
        AuditEvent.objects.filter(org=org.slug, action=events.ORG_KEYS_ROTATED)
        .order_by("-occurred_at", "-id").only("id", "occurred_at", "actor_name").first()
    )


def org_keys_preview(org: Org) -> dict[str, int]:
    """How many live keys an org-wide rotation would touch, by kind of holder."""
    now = timezone.now()
    live = _live_keys(org, now)
    return {
        "agents": live.filter(principal__kind=Kind.AGENT, expires_at__isnull=True).count(),
        "services": live.filter(principal__kind=Kind.SERVICE, expires_at__isnull=True).count(),
        "grace": live.filter(expires_at__isnull=False).count(),
    }


def _live_keys(org: Org, now):
    return (
        ApiKey.objects.filter(principal__org=org, principal__kind__in=(Kind.AGENT, Kind.SERVICE), revoked_at__isnull=True)
        .exclude(digest="")
        .exclude(principal__status=Status.REVOKED)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
    )


def org_keys_rotate(*, actor, org: Org, grace_seconds: int | None = None, unless_since: int | None = None) -> OrgRotation:
    """Incident response: every live key of every agent and service account of the org
    stops working after `grace_seconds` (the setting's window by default; 0: now).

    A service account's current key is rotated and its successor returned, once; an
    agent's current key is retired with no successor (its owner issues one). A key
    already in its grace window ends at the new time if that is sooner.

    `unless_since`: the id of the org's newest rotation event the caller saw (0: none).
    If another rotation has happened since, nothing is done (Conflict): a form sent twice,
    or two admins at once, would otherwise rotate again the keys just handed out. The
    org's row serialises rotations; then principals, then keys are locked, in that order."""
    grace = settings.DOCK_KEY_GRACE_SECONDS if grace_seconds is None else grace_seconds
    if grace < 0:
        raise InvalidTransition("The grace window cannot be negative.")
    result = OrgRotation(grace_seconds=grace)
    with transaction.atomic(), batch():
        list(Org.objects.select_for_update(no_key=True).filter(pk=org.pk).values_list("pk", flat=True))
        if unless_since is not None:
            last = last_org_rotation(org)
            if last is not None and last.id > unless_since:
                raise Conflict(
                    f"{last.actor_name} rotated every key at {timezone.localtime(last.occurred_at):%H:%M:%S}, after this "
                    "page was opened: the keys shown then are the ones to use. Look again before rotating once more."
                )
        now = timezone.now()
        ends = now + timedelta(seconds=grace)
        live = _live_keys(org, now)
        _lock_principals(live.values("principal_id"))
        keys_ = list(
            live.select_for_update(of=("self",))
            .select_related("principal", "principal__org", "principal__owner").order_by("id")
        )
        for key in keys_:
            principal = key.principal
            if key.expires_at is not None:  # already rotated, still in its grace window
                if key.expires_at > ends:
                    was = key.expires_at
                    key.expires_at = ends
                    key.save(update_fields=["expires_at"])
                    result.cut_short.append((principal, key))
                    record(events.KEY_RETIRED, actor=actor, target=principal, details={
                        "key": key.prefix, "grace_seconds": grace, "reason": "org-wide rotation",
                        "cut_short": True, "was_until": was.isoformat(),
                    })
            elif principal.kind == Kind.SERVICE:
                new_key, plaintext = key_rotate(actor=actor, key=key, grace_seconds=grace)
                result.issued.append((principal, new_key, plaintext))
            else:
                key.expires_at = ends
                key.save(update_fields=["expires_at"])
                result.retired.append((principal, key))
                record(events.KEY_RETIRED, actor=actor, target=principal,
                       details={"key": key.prefix, "grace_seconds": grace, "reason": "org-wide rotation"})
        record(events.ORG_KEYS_ROTATED, actor=actor, target=org, org=org.slug, details={
            "services": len(result.issued), "agents": len(result.retired), "cut_short": len(result.cut_short),
            "grace_seconds": grace,
        })
    return result


LAST_USED_EVERY = timedelta(minutes=1)


def key_touch(*, key_id: int, last_used_at, now=None) -> None:
    """Record use at most once a minute per key; not an audited event."""
    now = now or timezone.now()
    if last_used_at is not None and now - last_used_at < LAST_USED_EVERY:
        return
    ApiKey.objects.filter(pk=key_id).exclude(last_used_at__gte=now - LAST_USED_EVERY).update(last_used_at=now)
