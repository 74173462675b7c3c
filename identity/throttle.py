"""Counting failed attempts in the cache: login per account and per client address,
sign-up per client address.

Fixed windows: the first failure opens a window of `window` seconds; once `limit`
failures are counted in it, the bucket is closed until the window ends. With Redis
(REDIS_URL) every process shares the counts; with local memory each process counts alone.

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


def _now() -> float:
    return time.time()


def retry_after(bucket: Bucket, ident: str) -> int:
    """Seconds until `ident` may try again (0: it may try now)."""
    if not ident:
        return 0
    state = cache.get(bucket.key(ident))
    if not state:
        return 0
    count, opened = state
    remaining = math.ceil(opened + bucket.window - _now())
    if count < bucket.limit or remaining <= 0:
        return 0
    return remaining


def hit(bucket: Bucket, ident: str) -> None:
    """Count one attempt against `ident`."""
    if not ident:
        return
    key = bucket.key(ident)
    now = _now()
    state = cache.get(key)
    if state and state[1] + bucket.window > now:
        count, opened = state
        state = (count + 1, opened)
    else:
        state = (1, now)
    # The entry lives as long as its window; a lost increment under a race errs by one.
    cache.set(key, state, timeout=max(1, math.ceil(state[1] + bucket.window - now)))


def clear(bucket: Bucket, ident: str) -> None:
    if ident:
        cache.delete(bucket.key(ident))


def minutes(seconds: int) -> int:
    return max(1, math.ceil(seconds / 60))
