"""Opaque keyset cursors: a position in one list, signed so that a tampered or foreign
cursor is refused (400 invalid) instead of being trusted."""

import base64
from datetime import UTC, datetime, timedelta

from django.core import signing

from .errors import INVALID, ApiError

_signer = signing.Signer(salt="dock.api.cursor", sep=".")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _bad() -> ApiError:
    return ApiError(400, INVALID, "That cursor is not valid here.", fields={"cursor": "Not a valid cursor for this list."})


def encode(kind: str, *parts) -> str:
    value = ":".join([kind, *(str(p) for p in parts)])
    return _signer.sign(base64.urlsafe_b64encode(value.encode()).decode().rstrip("="))


def decode(cursor: str, kind: str, scope) -> list[str]:
    """The parts of `cursor`, which must be a `kind` cursor issued for `scope`."""
    if not isinstance(cursor, str) or len(cursor) > 300:
        raise _bad()
    try:
        token = _signer.unsign(cursor)
        value = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (signing.BadSignature, ValueError):
        raise _bad() from None
    parts = value.split(":")
    if len(parts) < 2 or parts[0] != kind or parts[1] != str(scope):
        raise _bad()
    return parts[2:]


def single(cursor: str, kind: str, scope) -> str:
    parts = decode(cursor, kind, scope)
    if len(parts) != 1:
        raise _bad()
    return parts[0]


def micros(value: datetime) -> int:
    delta = value - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(value: str) -> datetime:
    return _EPOCH + timedelta(microseconds=int(value))


def time_position(cursor: str, kind: str, scope) -> tuple[datetime, int]:
    """A (created_at, id) position, newest-first lists."""
    parts = decode(cursor, kind, scope)
    try:
        at, pk = parts
        return from_micros(at), int(pk)
    except (ValueError, OverflowError):
        raise _bad() from None
