from datetime import timedelta

from django.conf import settings
from django.db import transaction
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


def org_keys_rotate(*, actor, org: Org, grace_seconds: int | None = None) -> list[tuple[Principal, ApiKey, str]]:
    """Incident response: every current key of every agent and service account in the org."""
    issued = []
    with transaction.atomic(), batch():
        current = (
            ApiKey.objects.select_related("principal")
            .filter(principal__org=org, revoked_at__isnull=True, expires_at__isnull=True)
            .exclude(principal__status=Status.REVOKED)
            .order_by("id")
        )
        for key in current:
            new_key, plaintext = key_rotate(actor=actor, key=key, grace_seconds=grace_seconds)
            issued.append((key.principal, new_key, plaintext))
        record(events.ORG_KEYS_ROTATED, actor=actor, target=org, org=org.slug, details={"rotated": len(issued)})
    return issued


LAST_USED_EVERY = timedelta(minutes=1)


def key_touch(*, key_id: int, last_used_at, now=None) -> None:
    """Record use at most once a minute per key; not an audited event."""
    now = now or timezone.now()
    if last_used_at is not None and now - last_used_at < LAST_USED_EVERY:
        return
    ApiKey.objects.filter(pk=key_id).exclude(last_used_at__gte=now - LAST_USED_EVERY).update(last_used_at=now)
