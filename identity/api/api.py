"""The NinjaAPI instance: authentication, error shapes, and the OpenAPI document."""

import logging

from django.core.exceptions import SuspiciousOperation, TooManyFieldsSent
from django.http import Http404
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import HttpBearer

from ..errors import ServiceError
from . import denials, rendering
from .auth import authenticate
from .errors import FORBIDDEN, INVALID, NOT_FOUND, SERVER_ERROR, SERVER_ERROR_DETAIL, ApiError, error_response, from_api_error

logger = logging.getLogger("dock.api")


class AgentKey(HttpBearer):
    """`Authorization: Bearer <key>` of an agent or a service account.

    With `workspace_param`, the single authentication query also fetches the caller's
    access facts in the workspace named by that path parameter (the hot read path).
    """

    def __init__(self, workspace_param: str | None = None):
        super().__init__()
        self.workspace_param = workspace_param

    def __call__(self, request):
        slug = None
        if self.workspace_param is not None:
            slug = request.resolver_match.kwargs.get(self.workspace_param)
        return authenticate(request, workspace_slug=slug)

    def authenticate(self, request, token):  # pragma: no cover - __call__ does the work
        raise NotImplementedError


class Renderer:
    media_type = rendering.CONTENT_TYPE
    charset = "utf-8"

    def render(self, request, data, *, response_status):
        return rendering.encode(data)


api = NinjaAPI(
    title="Dock agent API",
    version="1",
    description=(
        "Agents and service accounts act here with their own keys (`Authorization: Bearer <key>`). "
        'Every error is `{"error": code, "detail": text}`.'
    ),
    auth=AgentKey(),
    urls_namespace="api",
    docs_url=None,  # nothing is fetched from a CDN; the document itself is at openapi.json
    openapi_url="/openapi.json",
    renderer=Renderer(),
)


def _respond(request, status: int, code: str, detail: str, *, reason=None, fields=None, headers=None):
    denials.audit_refusal(request, status=status, code=code, reason=reason)
    return error_response(status, code, detail, fields=fields, headers=headers)


@api.exception_handler(ApiError)
def _api_error(request, exc: ApiError):
    denials.audit_refusal(request, status=exc.status, code=exc.code, reason=exc.reason)
    return from_api_error(exc)


@api.exception_handler(ServiceError)
def _service_error(request, exc: ServiceError):
    # NotVisible and NotFound are both 404 not_found: "not there" and "not yours" look alike.
    return _respond(request, exc.status, exc.code, exc.detail, fields={k: str(v) for k, v in exc.fields.items()} or None)


def _field_errors(errors: list[dict]) -> tuple[str, dict]:
    fields: dict[str, str] = {}
    whole_body = None
    for error in errors:
        loc = [str(part) for part in error.get("loc", ())]
        source, rest = (loc[0], loc[1:]) if loc else ("", [])
        if source == "body" and rest and rest[0] in ("payload",):
            rest = rest[1:]
        message = error.get("msg", "Invalid value.")
        if not rest:
            whole_body = "Send a JSON object." if error.get("type") != "missing" else "A JSON body is required."
            continue
        fields.setdefault(".".join(rest), message)
    if whole_body and not fields:
        return whole_body, {}
    names = ", ".join(sorted(fields))
    return f"Invalid input: {names}.", fields


@api.exception_handler(ValidationError)
def _validation_error(request, exc: ValidationError):
    detail, fields = _field_errors(exc.errors)
    return error_response(400, INVALID, detail, fields=fields or None)


@api.exception_handler(AuthenticationError)
def _authentication_error(request, exc):
    return from_api_error(ApiError(401, "invalid_key", "Missing, unknown, revoked or expired API key.",
                                   headers={"WWW-Authenticate": 'Bearer realm="dock"'}))


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    if exc.status_code == 400:
        return error_response(400, INVALID, "The request body is not valid JSON.")
    code = {403: FORBIDDEN, 404: NOT_FOUND}.get(exc.status_code, INVALID)
    return error_response(exc.status_code, code, str(exc))


@api.exception_handler(SuspiciousOperation)
def _suspicious(request, exc: SuspiciousOperation):
    # Django's own limits on a request (more query parameters than DATA_UPLOAD_MAX_NUMBER_FIELDS,
    # say): the caller's input, not our failure. Logged where Django logs them.
    logging.getLogger(f"django.security.{type(exc).__name__}").warning("%s", exc)
    if isinstance(exc, TooManyFieldsSent):
        return error_response(400, INVALID, "Too many query parameters.")
    return error_response(400, INVALID, "The request was refused as malformed.")


@api.exception_handler(Http404)
def _not_found(request, exc):
    return _respond(request, 404, NOT_FOUND, "Not found.")


@api.exception_handler(Exception)
def _unexpected(request, exc):
    logger.exception("API request failed", exc_info=exc)
    return error_response(500, SERVER_ERROR, SERVER_ERROR_DETAIL)
