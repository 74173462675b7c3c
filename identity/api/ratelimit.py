"""Per-principal request limits through Django's cache (local memory, or Redis when
REDIS_URL is set, so that every worker and host shares one count).

A fixed one-minute window per bucket: `incr` is atomic on Redis, and the bucket's key
carries the window number, so a new minute starts from zero without a reset step.
Buckets are `p:<principal id>` for a caller whose key checked out and still works (an
agent's count is its own: its owner's traffic never passes through here) and
`ip:<address>` for requests whose key did not, or no longer works (past its grace window),
so that nobody can spend an agent's allowance by guessing at it, or with a retired key.
"""

import logging
import math
import time

from django.conf import settings
from django.core.cache import cache as default_cache

WINDOW_SECONDS = 60
clock = time.time  # tests pin it
logger = logging.getLogger(__name__)


def hit(bucket: str, *, limit: int | None = None, cache=None, now: float | None = None) -> int | None:
    """Count one request against `bucket`; None if it is allowed, else the seconds to wait."""
    limit = settings.DOCK_RATE_LIMIT if limit is None else limit
    cache = cache or default_cache
    now = clock() if now is None else now
    window = int(now // WINDOW_SECONDS)
    key = f"dock:rl:{bucket}:{window}"
    try:
        try:
            count = cache.incr(key)
        except ValueError:  # first request of this window
            if cache.add(key, 1, timeout=WINDOW_SECONDS * 2):
                count = 1
            else:  # another worker created it between the two calls
                count = cache.incr(key)
    except Exception:  # an unreachable cache must not take the API down with it
        logger.warning("rate limit cache unavailable; request allowed", exc_info=True)
        return None
    if count <= limit:
        return None
    return max(1, math.ceil((window + 1) * WINDOW_SECONDS - now))
