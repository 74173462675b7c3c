"""Counting attempts in the cache: failed logins per account and per client address,
sign-ups per client address, invitations per sender, per sender and address, and per
address.

Fixed windows: the first attempt opens a window of `window` seconds; once `limit`
attempts are counted in it, the bucket is closed until the window ends. An attempt is
counted before it is made, atomically (the cache's add and incr), so that a burst of
simultaneous attempts cannot all pass the check before any of them is counted; one that
succeeds is given back. With Redis (REDIS_URL) every process shares the counts; with
local memory each process counts alone.

Account buckets are keyed by a keyed hash of the normalised email, never the email
itself, and exist whether or not the account does: a lockout says nothing about which
addresses are registered.
"""

import hashlib
import hmac
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache


@dataclass(frozen=True)
class Bucket:
    name: str
    limit: int
    window: int  # seconds

    def key(self, ident: str) -> str:
        digest = hmac.new(settings.SECRET_KEY.encode(), f"{self.name}:{ident}".encode(), hashlib.sha256).hexdigest()[:32]
        return f"dock:throttle:{self.name}:{digest}"


LOGIN_ACCOUNT = Bucket("login-account", getattr(settings, "DOCK_LOGIN_ACCOUNT_LIMIT", 5), 15 * 60)
LOGIN_ADDRESS = Bucket("login-address", getattr(settings, "DOCK_LOGIN_ADDRESS_LIMIT", 30), 15 * 60)
SIGNUP_ADDRESS = Bucket("signup-address", getattr(settings, "DOCK_SIGNUP_ADDRESS_LIMIT", 10), 60 * 60)
# Each invitation sends an email: a workspace admin's account (or a stolen session) is not
# to become a way to flood inboxes, nor one inbox; nor are many accounts, signed up for it.
INVITE_SENDER = Bucket("invite-sender", getattr(settings, "DOCK_INVITE_SENDER_LIMIT", 50), 60 * 60)
INVITE_ADDRESS = Bucket("invite-address", getattr(settings, "DOCK_INVITE_ADDRESS_LIMIT", 5), 60 * 60)
INVITE_RECIPIENT = Bucket("invite-recipient", getattr(settings, "DOCK_INVITE_RECIPIENT_LIMIT", 10), 60 * 60)


def _now() -> float:
    return time.time()


def _remaining(bucket: Bucket, key: str) -> int:
    opened = cache.get(key + ":opened")
    return 0 if opened is None else max(0, math.ceil(opened + bucket.window - _now()))


def retry_after(bucket: Bucket, ident: str) -> int:
    """Seconds until `ident` may try again (0: it may try now). Only looks."""
    if not ident:
        return 0
    key = bucket.key(ident)
    if (cache.get(key) or 0) < bucket.limit:
        return 0
    return _remaining(bucket, key)


def take(bucket: Bucket, ident: str) -> int:
    """Count one attempt against `ident` before it is made. Returns the seconds to wait if
    the bucket was already full (the attempt must not be made), else 0."""
    if not ident:
        return 0
    key = bucket.key(ident)
    for _ in range(2):  # the count can expire between add and incr: then open it again
        cache.add(key + ":opened", _now(), timeout=bucket.window)
        cache.add(key, 0, timeout=bucket.window)
        try:
            count = cache.incr(key)
            break
        except ValueError:
            continue
    else:
        return 0
    if count <= bucket.limit:
        return 0
    return _remaining(bucket, key) or 1


def give_back(bucket: Bucket, ident: str) -> None:
    """Uncount an attempt `take` counted (it succeeded, and only failures should count)."""
    if ident:
        try:
            cache.decr(bucket.key(ident))
        except ValueError:  # the window has ended meanwhile
            pass


def clear(bucket: Bucket, ident: str) -> None:
    if ident:
        key = bucket.key(ident)
        cache.delete_many([key, key + ":opened"])


def take_each(buckets: list[tuple[Bucket, str]]) -> tuple[int, Bucket | None]:
    """`take` in each of `buckets` ((bucket, ident) pairs), in order. At the first that is
    full, the attempts counted before it are given back: (seconds to wait, that bucket).
    (0, None) when every one had room."""
    for i, (bucket, ident) in enumerate(buckets):
        wait = take(bucket, ident)
        if wait:
            give_back_each(buckets[:i])
            return wait, bucket
    return 0, None


def give_back_each(buckets: list[tuple[Bucket, str]]) -> None:
    for bucket, ident in buckets:
        give_back(bucket, ident)


def minutes(seconds: int) -> int:
    return max(1, math.ceil(seconds / 60))


def try_again(seconds: int) -> str:
    n = minutes(seconds)
    return f"Try again in {n} minute{'s' if n != 1 else ''}."
