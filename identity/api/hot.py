"""The hot read, `GET /api/v1/workspaces/{slug}/documents`, in one SQL query (key,
principal, owner, access facts and the page: queries.hot_read) and without ninja's
per-request machinery (parameter models, a throwaway response object). It uses the same
authentication function, the same page function and the same error handlers as the ninja
operation that describes it in the OpenAPI document (views.documents), so the two cannot
answer differently — a test holds them to that.
"""

from .api import api
from .auth import authenticate
from .errors import INVALID, ApiError
from .views import PAGE_DEFAULT, PAGE_MAX, documents_page, documents_position


def _limit(request) -> int:
    raw = request.GET.get("limit")
    if raw is None:
        return PAGE_DEFAULT
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, INVALID, "Invalid input: limit.", fields={"limit": "Input should be a valid integer"}) from None
    if value < 1:
        raise ApiError(400, INVALID, "Invalid input: limit.", fields={"limit": "Input should be greater than or equal to 1"})
    if value > PAGE_MAX:
        raise ApiError(400, INVALID, "Invalid input: limit.",
                       fields={"limit": f"Input should be less than or equal to {PAGE_MAX}"})
    return value


def documents_read(request, slug: str):
    try:
        # Bad parameters are answered after authentication, as on every other endpoint;
        # until then they only mean that no page is fetched with the key.
        try:
            limit, after, bad = _limit(request), documents_position(request.GET.get("cursor"), slug), None
        except ApiError as exc:
            bad = exc
        caller = authenticate(request, workspace_slug=slug, page=None if bad else (limit + 1, after))
        request.auth = caller
        if bad is not None:
            raise bad
        return documents_page(request, caller, slug, limit)
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
