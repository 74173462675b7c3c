"""Refused requests that presented a well-formed key are audited (ASVS V16.3.2).

Each refusal is its own transaction, written after the request's own work has rolled
back. By the time a refusal gets here the rate limit has already counted the request
(per principal, or per address when the key did not check out), and over-limit requests
answer 429 without an event: refusals cannot be used to flood the audit log.
"""

import logging

from django.db import DatabaseError, transaction

from audit import events
from audit.refs import SYSTEM
from audit.services import record

AUDITED_STATUSES = frozenset({401, 403, 404})
logger = logging.getLogger("dock.api")


def audit_refusal(request, *, status: int, code: str, reason: str | None = None) -> None:
    prefix = getattr(request, "dock_key_prefix", None)
    if prefix is None or status not in AUDITED_STATUSES:
        return
    caller = getattr(request, "dock_caller", None)
    # A key that checked out is its principal acting; one that did not is nobody we
    # know, so the system records it, naming the principal or key it claimed to be.
    actor = caller.principal if caller is not None else SYSTEM
    target = getattr(request, "dock_denied_target", None)
    workspace = getattr(request, "dock_denied_workspace", None)
    details = {
        "reason": reason or code,
        "status": status,
        "method": request.method,
        "path": request.path[:200],
        "key": prefix,
    }
    try:
        with transaction.atomic():
            record(events.API_DENIED, actor=actor, target=target, workspace=workspace, details=details)
    except DatabaseError:
        # The refusal stands either way; losing its record is logged loudly.
        logger.exception("could not audit a refused API request")
