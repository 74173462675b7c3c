"""The hot read, `GET /api/v1/workspaces/{slug}/documents`, in one round trip to the
database (key, principal, owner, access facts and the page: queries.hot_read; on SQLite,
in-process, two cheaper statements: queries.HOT_READ_IN_ONE) and without ninja's
per-request machinery (parameter models, a throwaway response object). It uses the same
authentication function, the same page function and the same error handlers as the ninja
operation that describes it in the OpenAPI document (views.documents), so the two cannot
answer differently — a test holds them to that.
"""

from typing import Annotated

from django.core.exceptions import SuspiciousOperation
from pydantic import Field, TypeAdapter, ValidationError

from . import queries
from .api import api
from .auth import authenticate
from .errors import INVALID, ApiError
from .views import PAGE_DEFAULT, PAGE_MAX, documents_page, documents_position

# The same validation (and messages) as the operation's `limit: int = Query(ge=1, le=…)`.
_LIMIT = TypeAdapter(Annotated[int, Field(ge=1, le=PAGE_MAX)])


def _params(request) -> tuple[str | None, str | None]:
    """limit and cursor, without building a QueryDict for the common bare request."""
    if not request.META.get("QUERY_STRING"):
        return None, None
    return request.GET.get("limit"), request.GET.get("cursor")


def _limit(raw: str | None) -> int:
    if raw is None:
        return PAGE_DEFAULT
    try:
        return _LIMIT.validate_python(raw)
    except ValidationError as exc:
        raise ApiError(400, INVALID, "Invalid input: limit.", fields={"limit": exc.errors()[0]["msg"]}) from None


def documents_read(request, slug: str):
    try:
        # Bad parameters are answered after authentication, as on every other endpoint;
        # until then they only mean that no page is fetched with the key.
        try:
            raw_limit, cursor = _params(request)
            limit, after, bad = _limit(raw_limit), documents_position(cursor, slug), None
        except (ApiError, SuspiciousOperation) as exc:  # e.g. too many query parameters
            bad = exc
        page = (limit + 1, after) if queries.HOT_READ_IN_ONE and bad is None else None
        caller = authenticate(request, workspace_slug=slug, page=page)
        request.auth = caller
        if bad is not None:
            raise bad
        return documents_page(request, caller, slug, limit, after)
    except Exception as exc:  # the API's handlers: SPEC's error shape, refusals audited
        return api.on_exception(request, exc)


def route(ninja_view):
    """GET goes to the hot read; every other method to ninja's view for the same path."""

    def documents_route(request, slug: str):
        if request.method == "GET":
            return documents_read(request, slug)
        return ninja_view(request, slug=slug)

    documents_route.csrf_exempt = True
    documents_route.ninja_view = ninja_view  # the described operation, for tests to compare
    return documents_route
