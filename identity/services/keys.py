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
from ..errors import InvalidTransition
from ..models import ApiKey, Kind, Org, Principal, Status


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
    if principal.status == Status.REVOKED:
        raise InvalidTransition(f"{principal.handle} is revoked; it can have no keys.")
    with transaction.atomic():
        key, plaintext = _new_key(actor=actor, principal=principal)
        record(events.KEY_ISSUED, actor=actor, target=principal, details={"key": key.prefix})
    return key, plaintext


def key_rotate(*, actor, key: ApiKey, grace_seconds: int | None = None) -> tuple[ApiKey, str]:
    """Issue the successor of `key`; `key` keeps working for the grace window only.

    The key row is locked: two rotations of the same key at once give exactly one new key.
    """
    grace = settings.DOCK_KEY_GRACE_SECONDS if grace_seconds is None else grace_seconds
    with transaction.atomic():
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


@dataclass
class OrgRotation:
    """What an org-wide rotation did. Each new key goes to whoever keeps its principal:
    a service account's to the org admin who rotated (shown once), an agent's to nobody
    here — the agent's owner issues it (SPEC: an agent's key is handed to its owner only),
    so an agent's current key is retired with no successor."""

    issued: list[tuple[Principal, ApiKey, str]] = field(default_factory=list)  # service accounts
    retired: list[tuple[Principal, ApiKey]] = field(default_factory=list)  # agents' keys, no successor
    cut_short: int = 0  # keys already in their grace window whose end came forward
    grace_seconds: int = 0


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


def org_keys_rotate(*, actor, org: Org, grace_seconds: int | None = None) -> OrgRotation:
    """Incident response: every live key of every agent and service account of the org
    stops working after `grace_seconds` (the setting's window by default; 0: now).

    A service account's current key is rotated and its successor returned, once; an
    agent's current key is retired with no successor (its owner issues one). A key
    already in its grace window ends at the new time if that is sooner. Every key row is
    locked first, so a concurrent rotation of one key waits, then finds it rotated."""
    grace = settings.DOCK_KEY_GRACE_SECONDS if grace_seconds is None else grace_seconds
    if grace < 0:
        raise InvalidTransition("The grace window cannot be negative.")
    result = OrgRotation(grace_seconds=grace)
    with transaction.atomic(), batch():
        now = timezone.now()
        ends = now + timedelta(seconds=grace)
        keys_ = list(
            _live_keys(org, now).select_for_update(of=("self",))
            .select_related("principal", "principal__org", "principal__owner").order_by("id")
        )
        for key in keys_:
            principal = key.principal
            if key.expires_at is not None:  # already rotated, still in its grace window
                if key.expires_at > ends:
                    key.expires_at = ends
                    key.save(update_fields=["expires_at"])
                    result.cut_short += 1
                    record(events.KEY_RETIRED, actor=actor, target=principal,
                           details={"key": key.prefix, "grace_seconds": grace, "reason": "org-wide rotation"})
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
            "services": len(result.issued), "agents": len(result.retired), "cut_short": result.cut_short,
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
