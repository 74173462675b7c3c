"""Every answer the API gives that is not a success: `{"error": code, "detail": text}`.

One function builds them, so ninja's own errors (validation, unknown routes, wrong
methods), the services' errors and the API's own refusals all look the same.
"""

from django.http import HttpResponse

from . import rendering

# The status each SPEC error code answers with.
INVALID_KEY = "invalid_key"  # 401
AGENT_INACTIVE = "agent_inactive"  # 403
FORBIDDEN = "forbidden"  # 403
NOT_FOUND = "not_found"  # 404
INVALID = "invalid"  # 400, also for a body over the size cap
RATE_LIMITED = "rate_limited"  # 429
METHOD_NOT_ALLOWED = "method_not_allowed"  # 405
SERVER_ERROR = "server_error"  # 500: nothing is promised of what was done; the request id finds out
SERVER_ERROR_DETAIL = "Something went wrong on our side; the request id is in X-Request-ID."


class ApiError(Exception):
    """A refusal the API answers with `status` and SPEC's error shape."""

    reason: str | None = None  # what the audit event of a refusal records, if finer than `code`

    def __init__(self, status: int, code: str, detail: str, *, fields: dict | None = None, headers: dict | None = None):
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.fields = fields or {}
        self.headers = headers or {}


def invalid_key(detail: str = "Missing, unknown, revoked or expired API key.") -> ApiError:
    return ApiError(401, INVALID_KEY, detail, headers={"WWW-Authenticate": 'Bearer realm="dock"'})


def error_response(status: int, code: str, detail: str, *, fields: dict | None = None, headers: dict | None = None) -> HttpResponse:
    body = {"error": code, "detail": detail}
    if fields:
        body["fields"] = fields
    response = rendering.json_response(body, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def from_api_error(exc: ApiError) -> HttpResponse:
    return error_response(exc.status, exc.code, exc.detail, fields=exc.fields, headers=exc.headers)
