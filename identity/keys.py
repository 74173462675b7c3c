"""API key format, checksum and keyed hashing. Pure functions: no database here.

    dock_<prefix:8>_<secret:40><checksum:6>

The checksum is zlib CRC32 of everything before it, in base62 (0-9A-Za-z, most
significant digit first, left-padded with 0 to 6 characters), so a mistyped or made-up
key is refused without a database lookup.
"""

import hashlib
import hmac
import re
import zlib

from django.conf import settings

from .ids import BASE62, random_base62

PREFIX_LENGTH = 8
SECRET_LENGTH = 40
CHECKSUM_LENGTH = 6
MAX_KEY_LENGTH = 200
KEY_PATTERN = r"dock_[0-9A-Za-z]{8}_[0-9A-Za-z]{32,}[0-9A-Za-z]{6}"
KEY_RE = re.compile(r"^dock_([0-9A-Za-z]{8})_([0-9A-Za-z]{32,})([0-9A-Za-z]{6})$")


def base62(number: int, width: int) -> str:
    digits = []
    while number:
        number, rest = divmod(number, 62)
        digits.append(BASE62[rest])
    return "".join(reversed(digits)).rjust(width, "0")


def checksum(body: str) -> str:
    return base62(zlib.crc32(body.encode("ascii")), CHECKSUM_LENGTH)


def generate() -> tuple[str, str]:
    """A new key and its public prefix."""
    prefix = random_base62(PREFIX_LENGTH)
    body = f"dock_{prefix}_{random_base62(SECRET_LENGTH)}"
    return body + checksum(body), prefix


def parse(key: str) -> str | None:
    """The key's prefix if it is well formed and its checksum matches, else None."""
    if not isinstance(key, str) or len(key) > MAX_KEY_LENGTH:
        return None
    match = KEY_RE.match(key)
    if match is None:
        return None
    body, given = key[:-CHECKSUM_LENGTH], key[-CHECKSUM_LENGTH:]
    if not hmac.compare_digest(checksum(body), given):
        return None
    return match.group(1)


def digest(key: str) -> str:
    # A high-entropy key needs no slow hash; HMAC under a server pepper means a stolen
    # table alone cannot be used to test guesses.
    return hmac.new(settings.DOCK_KEY_PEPPER.encode(), key.encode("ascii"), hashlib.sha256).hexdigest()


def matches(key: str, stored_digest: str) -> bool:
    return bool(stored_digest) and hmac.compare_digest(digest(key), stored_digest)
