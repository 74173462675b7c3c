"""Sign-in events. The session itself is Django's (`login()`/`logout()` in the view);
these record what happened, each in its own transaction."""

import hashlib
import hmac
from importlib import import_module

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.db import transaction
from django.utils import timezone

from audit import events
from audit.refs import ActorRef
from audit.services import record

from ..models import Principal

# Whoever typed the password is not known to be the account holder.
ANONYMOUS = ActorRef(id="anonymous", kind="system", name="Unauthenticated client")


def email_fingerprint(email: str) -> str:
    """A keyed hash of an address, so repeated attempts on one unknown address can be
    told apart in the log without the address (or a guessable hash of it) being kept."""
    key = f"dock-login-email:{settings.SECRET_KEY}".encode()
    return hmac.new(key, (email or "").strip().lower().encode(), hashlib.sha256).hexdigest()[:16]


def session_login(*, actor: Principal) -> None:
    with transaction.atomic():
        record(events.HUMAN_LOGGED_IN, actor=actor, target=actor)


def session_login_failed(*, principal: Principal | None, email: str, reason: str) -> None:
    """A failed attempt: against a known account (the target), or an unknown address
    (only its fingerprint). The password is never passed here."""
    details = {"reason": reason}
    if principal is None:
        details["email_fingerprint"] = email_fingerprint(email)
    with transaction.atomic():
        record(events.HUMAN_LOGIN_FAILED, actor=ANONYMOUS, target=principal, org=principal.org.slug if principal else None,
               details=details)


def session_logout(*, actor: Principal) -> None:
    with transaction.atomic():
        record(events.HUMAN_LOGGED_OUT, actor=actor, target=actor)


def sessions_end(*, user) -> int:
    """Delete every stored session of `user`, in the caller's transaction.

    Deactivation calls this: refusing an inactive user on each request is not enough, as a
    session (or a stolen cookie) would come back to life if the account were reactivated.
    The session store has no index by user, so each live session is decoded; a user's own
    sessions are few, and deactivations rare."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    if not hasattr(store, "get_model_class"):  # not kept in the database: nothing to list
        return 0
    decode, ours = store().decode, str(user.pk)
    live = store.get_model_class().objects.filter(expire_date__gt=timezone.now())
    doomed = [key for key, data in live.values_list("session_key", "session_data").iterator(chunk_size=2000)
              if decode(data).get(SESSION_KEY) == ours]
    for key in doomed:
        store(session_key=key).delete()  # the cache too, for a cached_db store
    return len(doomed)
