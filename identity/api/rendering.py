"""JSON out: plain dicts of str/int/bool/None/list, encoded once, no model walking.

orjson encodes a page of documents about ten times faster than the standard library's
encoder (the hot read's largest cost after its query); like it, it writes UTF-8 as is.
"""

from datetime import UTC

import orjson
from django.http import HttpResponse

CONTENT_TYPE = "application/json"


def encode(data) -> bytes:
    return orjson.dumps(data)


def json_response(data, *, status: int = 200) -> HttpResponse:
    return HttpResponse(encode(data), status=status, content_type=CONTENT_TYPE)


def iso(value) -> str | None:
    """Timestamps as ISO 8601 in UTC with microseconds (`2026-01-02T03:04:05.000006+00:00`),
    the same on every endpoint and whichever database formatted them."""
    return value.astimezone(UTC).isoformat(timespec="microseconds") if value is not None else None
