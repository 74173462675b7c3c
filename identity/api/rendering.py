"""JSON out: plain dicts of str/int/bool/None/list, encoded once, no model walking."""

import json
from datetime import UTC

from django.http import HttpResponse

CONTENT_TYPE = "application/json"

encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode


def json_response(data, *, status: int = 200) -> HttpResponse:
    return HttpResponse(encode(data).encode(), status=status, content_type=CONTENT_TYPE)


def iso(value) -> str | None:
    """Timestamps as ISO 8601 in UTC with microseconds (`2026-01-02T03:04:05.000006+00:00`),
    the same on every endpoint and whichever database formatted them."""
    return value.astimezone(UTC).isoformat(timespec="microseconds") if value is not None else None
