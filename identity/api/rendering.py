"""JSON out: plain dicts of str/int/bool/None/list, encoded once, no model walking."""

import json

from django.http import HttpResponse

CONTENT_TYPE = "application/json"

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode


def json_response(data, *, status: int = 200) -> HttpResponse:
    return HttpResponse(_encode(data).encode(), status=status, content_type=CONTENT_TYPE)


def iso(value) -> str | None:
    """Timestamps as ISO 8601 in UTC (`+00:00`), the same on every endpoint."""
    return value.isoformat() if value is not None else None
