"""The integrity panel's check of the whole hash chain, paced.

Recomputing the chain takes time in proportion to the installation's whole history (about
seven seconds a million events), and every org's auditors and owners may ask for it, the
audit page itself on load. Unpaced, anyone who signs up an org could keep the machine
hashing. So one check runs at a time, and after each the next waits REST times as long as
it took: a request in between is shown the last check's result, saying when it ran and
when the next may. `manage.py audit_verify` is the operator's unpaced way.

The last check and the claim on a running one live in Django's cache: with REDIS_URL, one
pace for every worker and host; otherwise each worker keeps its own. An unreachable cache
paces nothing rather than refusing the check.
"""

import logging
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from django.core.cache import cache
from django.utils import timezone

from . import chain
from .selectors import chain_head, verify_chain

REST = 10  # a check of t seconds makes the next one wait t × REST seconds
CLAIM_LAPSES = 900  # seconds: a check whose worker died holds the next one off no longer
PREFIX = "dock:audit:integrity"  # the tests give each test a prefix of its own
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Check:
    result: chain.VerifyResult
    head: dict  # the head the check verified up to (chain_head())
    checked_at: datetime
    elapsed: float  # seconds
    next_at: datetime  # when another check may start
    fresh: bool = True  # run for this request; else an earlier one, shown again
    running: bool = False  # not fresh because another check is running now


def check() -> Check | None:
    """The chain checked now, or the last check while the chain rests or another check
    runs. None when the first check is still running elsewhere: nothing to show yet."""
    last = _cached("last")
    if last is not None and timezone.now() < last.next_at:
        return replace(last, fresh=False)
    if not _claim():
        return replace(last, fresh=False, running=True) if last is not None else None
    try:
        # A check may have ended between reading `last` and claiming: its rest holds.
        latest = _cached("last")
        if latest is not None and timezone.now() < latest.next_at:
            return replace(latest, fresh=False)
        started = time.perf_counter()
        head = chain_head()  # the head shown is the one verified, however many events came since
        result = verify_chain(head)
        elapsed = time.perf_counter() - started
        done = timezone.now()
        last = Check(result, head, done, elapsed, done + timedelta(seconds=elapsed * REST))
        _cache_call("set", f"{PREFIX}:last", last, timeout=None)
    finally:
        _cache_call("delete", f"{PREFIX}:running")
    return last


def _cached(name: str):
    return _cache_call("get", f"{PREFIX}:{name}")


def _claim() -> bool:
    claimed = _cache_call("add", f"{PREFIX}:running", True, timeout=CLAIM_LAPSES)
    return claimed is not False  # None: the cache is unreachable, so nothing is paced


def _cache_call(method: str, *args, **kwargs):
    try:
        return getattr(cache, method)(*args, **kwargs)
    except Exception:
        logger.warning("cache unavailable: the integrity check is not paced", exc_info=True)
        return None
