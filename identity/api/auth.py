"""Bearer-key authentication for agents and service accounts.

Order matters: a malformed key or a bad checksum is refused before any database work;
then one query fetches key, principal, org and owner (and, for workspace-scoped reads,
the caller's access facts there); the digest is compared in constant time; the rate
limit is counted before anything is written, so refusals cannot be used to flood the
audit log (against the principal for a working key, against the sender's address for a
wrong, revoked or expired one, so that nobody spends a principal's allowance with them).
Human session cookies are never looked at here.
"""

from functools import cached_property

from django.db import connection
from django.utils import timezone

from audit.middleware import client_ip
from audit.refs import TargetRef

from .. import access, keys
from ..models import ApiKey, Kind, Principal, Status
from ..services.keys import key_touch
from . import queries, ratelimit
from .errors import AGENT_INACTIVE, RATE_LIMITED, ApiError, invalid_key

# Compared against when the prefix is unknown, so that both refusals cost the same.
_NO_DIGEST = "0" * 64
# An agent's key retired by an org-wide rotation has no successor until its owner issues one.
_EXPIRED = "This key was rotated and its grace period is over: use the key that replaced it (an agent's owner issues it)."


def _principal(row):
    """The principal of an auth row as a model instance, with org and owner."""
    if queries.is_full(row):
        principal = queries.PRINCIPAL.build(row)
        principal.org = queries.ORG.build(row)
        if principal.owner_id is not None:
            principal.owner = queries.OWNER.build(row)
        return principal
    # The hot read's slim row: only a refusal there needs the instance (for its audit event).
    return Principal.objects.select_related("org", "owner").get(pk=row[5])


class Caller:
    """The authenticated principal of one request, built from the auth row."""

    def __init__(self, row, *, prefix: str, page: list | None = None):
        self.row = row
        self.page = page  # the hot read's documents, fetched with the key (queries.hot_read)
        self.prefix = prefix
        self.key_id = row[0]
        (self.principal_id, self.kind, self.status, self.scope, self.org_id, self.owner_id,
         self.owner_status) = row[5:12]

    @cached_property
    def principal(self):
        """The caller as a model instance (with org and owner), for services and access."""
        return _principal(self.row)

    @property
    def member_id(self) -> int:
        """Whose membership counts for this caller: an agent's owner's, else its own."""
        return self.owner_id if self.kind == Kind.AGENT else self.principal_id

    def decision_in_workspace(self) -> access.Decision | None:
        """The access decision in the workspace named by the request's path, from the
        facts the auth query fetched (None if there is no such workspace)."""
        w = queries.WORKSPACE_START
        workspace_id, workspace_org, visibility, restricted, role, elevation_id = self.row[w:w + 6]
        if workspace_id is None:
            return None
        return self.decide(workspace_org=workspace_org, visibility=visibility, restricted=restricted, role=role, elevation_id=elevation_id)

    @property
    def workspace_id(self) -> int | None:
        return self.row[queries.WORKSPACE_START]

    def decide(self, *, workspace_org, visibility, restricted, role, elevation_id) -> access.Decision:
        return access.decide(
            kind=self.kind, status=self.status, scope=self.scope, org_id=self.org_id, owner_status=self.owner_status,
            role=role, workspace_org_id=workspace_org, visibility=visibility, restricted=bool(restricted),
            elevated=elevation_id is not None,
        )


def rate_limited(retry_after: int) -> ApiError:
    return ApiError(429, RATE_LIMITED, "Too many requests: slow down.", headers={"Retry-After": str(retry_after)})


def _bearer_token(request) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def authenticate(request, *, workspace_slug: str | None = None, page: tuple | None = None) -> Caller:
    """The caller of `request`, or an ApiError (401, 403 agent_inactive, 429).

    With `workspace_slug`, the caller's access facts there come in the same query; with
    `page` too (limit, keyset position), so do the workspace's documents (the hot read).
    """
    token = _bearer_token(request)
    if token is None:
        raise invalid_key("Send your API key as `Authorization: Bearer <key>`.")
    prefix = keys.parse(token)
    if prefix is None:
        raise invalid_key("That is not a Dock API key (malformed or bad checksum).")
    # From here on the key was well formed: refusals are audited (see api.denials).
    request.dock_key_prefix = prefix

    documents = None
    if page is not None:
        rows = queries.hot_read(prefix, workspace_slug, limit=page[0], after=page[1])
        row = rows[0] if rows else None
        start = queries.HOT_DOCUMENTS_START
        documents = [r[start:] for r in rows if r[start] is not None]
    else:
        row = queries.auth_row(prefix, workspace_slug)
    stored = row[1] if row is not None else ""
    if not keys.matches(token, stored or _NO_DIGEST):
        # Whoever sent this is unknown: count it against their address, never against
        # the agent whose prefix they used.
        wait = ratelimit.hit(f"ip:{client_ip(request) or 'unknown'}")
        if wait is not None:
            raise rate_limited(wait)
        if row is None:
            request.dock_denied_target = TargetRef("api_key", prefix, f"dock_{prefix}_…")
            reason = "unknown_key"
        else:
            request.dock_denied_target = _principal(row)
            reason = "revoked_key" if row[3] is not None or not stored else "wrong_secret"
        raise _denied(invalid_key(), reason)

    caller = Caller(row, prefix=prefix, page=documents)
    now = timezone.now()
    revoked_at, expires_at = row[3], queries.timestamp(row[2])
    retired = revoked_at is not None or (expires_at is not None and expires_at <= now)
    # A key past its grace window (rotated away, perhaps because it leaked) proves only
    # that its sender once held it: its requests count against the sender's address, as
    # a guess's do. Counted against the principal, they would shut its current key out.
    wait = ratelimit.hit(f"ip:{client_ip(request) or 'unknown'}" if retired else f"p:{caller.principal_id}")
    if wait is not None:
        raise rate_limited(wait)
    # The key is genuinely this principal's from here on: it is the actor of any refusal.
    request.dock_caller = caller

    if revoked_at is not None:
        raise _denied(invalid_key(), "revoked_key")
    if expires_at is not None and expires_at <= now:
        raise _denied(invalid_key(_EXPIRED), "expired_key")
    if caller.kind == Kind.HUMAN:
        raise _denied(invalid_key("Humans sign in with a password; API keys belong to agents and service accounts."), "human_key")
    if caller.status != Status.ACTIVE:
        if caller.kind == Kind.AGENT and caller.status in (Status.PAUSED, Status.SUSPENDED):
            raise _denied(ApiError(403, AGENT_INACTIVE, f"This agent is {caller.status}."), f"agent_{caller.status}")
        raise _denied(invalid_key(), f"principal_{caller.status}")

    key_touch(key_id=caller.key_id, last_used_at=queries.timestamp(row[4]), now=now)
    return caller


# Authentication runs before the write's transaction; this re-reads the key inside it.
# The share lock makes a concurrent revocation (key_revoke takes the row for update,
# keys_revoke_all updates it) wait until the write has committed, or, if the revocation
# committed first, lets the write see it: no write with a key commits after its revocation.
# Lock order: the principal row first (the access check share-locks it), then the key,
# the order in which revoking an agent or a service account takes them.
_KEY_AGAIN = f"SELECT revoked_at, expires_at FROM {ApiKey._meta.db_table} WHERE id = %s"


def reconfirm_key(caller: Caller) -> None:
    """Inside a write's transaction, after access.require(lock=True) and before the first
    write: the caller's key is still good, and stays so until the transaction ends."""
    sql = _KEY_AGAIN + (" FOR SHARE" if connection.vendor == "postgresql" else "")
    with connection.cursor() as cursor:
        cursor.execute(sql, [caller.key_id])
        row = cursor.fetchone()
    if row is None or row[0] is not None:
        raise _denied(invalid_key(), "revoked_key")
    expires_at = queries.aware(row[1])
    if expires_at is not None and expires_at <= timezone.now():
        raise _denied(invalid_key(_EXPIRED), "expired_key")


def _denied(error: ApiError, reason: str) -> ApiError:
    """Name the reason the audit event records (finer than the error code)."""
    error.reason = reason
    return error
