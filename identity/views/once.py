"""A new key carried across exactly one redirect (a plain form POST), in two halves.

The session, which is stored in the database, keeps the key XORed with a one-time pad of
random bytes; the pad goes to the browser in a short-lived cookie. Neither half alone is
the key: a redirect never followed leaves nothing usable in the session table (SPEC: only
a key's prefix and keyed hash are stored), and a cookie without its session is noise. The
page that shows the key takes it out of the session and drops the cookie.
"""

import base64
import secrets

from django.conf import settings

SESSION_KEY = "dock.key_once"
PAD_COOKIE = "dock_key_pad"
PAD_SECONDS = 120
# Before the pad, the key itself waited in the session: under SESSION_KEY (with "key",
# not "sealed") and under this name for service accounts. A page that looks for a key
# clears them too.
_UNSEALED = "dock.service_key_once"


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def carry_key(request, response, subject, plaintext: str):
    """Seal `plaintext`, the new key of `subject` (a Principal), onto the redirect
    `response`, and return it."""
    data = plaintext.encode()
    pad = secrets.token_bytes(len(data))
    request.session[SESSION_KEY] = {"subject": subject.public_id, "sealed": base64.b64encode(_xor(data, pad)).decode()}
    response.set_cookie(
        PAD_COOKIE, base64.urlsafe_b64encode(pad).decode(), max_age=PAD_SECONDS, httponly=True, samesite="Lax",
        secure=settings.SESSION_COOKIE_SECURE or request.is_secure(),
    )
    return response


def take_key(request, subjects) -> dict[str, str]:
    """{public id: key} for the key waiting for one of `subjects`, opened with the
    browser's half; it leaves the session whether or not it opens. The response that
    shows it goes through `drop_pad`."""
    request.session.pop(_UNSEALED, None)
    once = request.session.get(SESSION_KEY)
    if once and "sealed" not in once:
        del request.session[SESSION_KEY]
        return {}
    if not once or once.get("subject") not in {s.public_id for s in subjects}:
        return {}
    del request.session[SESSION_KEY]
    try:
        pad = base64.urlsafe_b64decode(request.COOKIES.get(PAD_COOKIE, ""))
        key = _xor(base64.b64decode(once["sealed"]), pad).decode()
    except (KeyError, ValueError):  # no cookie, another pad, a mangled half: nothing to show
        return {}
    return {once["subject"]: key}


def drop_pad(response):
    response.delete_cookie(PAD_COOKIE, samesite="Lax")
    return response
