"""/api/v1/: the ninja API, with SPEC's error shape on the paths ninja itself answers
plainly (unknown routes, wrong methods) and a cap on request bodies.

Every path here is exempt from Django's CSRF check: the API authenticates by the bearer
key alone and reads no cookie, so there is no session to forge a request with; checked,
a POST to a path that takes none (the schema, an unknown route) was answered by Django's
HTML 403 page instead of a JSON 405 or 404."""

from functools import wraps

from django.http import Http404
from django.urls import re_path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

from dock.workspaces.services import BODY_MAX, TITLE_MAX

from . import hot
from .errors import INVALID, METHOD_NOT_ALLOWED, NOT_FOUND, error_response
from .views import api

# The largest body a valid request can need: a document at its length limits, which count
# characters, where JSON may spend twelve bytes on one (an escaped surrogate pair, as
# Python's json.dumps writes any character outside the BMP by default), and room for the
# rest. Django's own cap (DATA_UPLOAD_MAX_MEMORY_SIZE) sits above it.
MAX_BODY_BYTES = 12 * (TITLE_MAX + BODY_MAX) + 4096


def _private(view):
    """What an agent reads with its key is never kept by a cache (a browser's, a proxy's,
    an HTTP library's) to be handed on, or replayed after the key is revoked. Errors too:
    they say what exists and what the key may do."""

    @wraps(view)
    def private(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if "Cache-Control" not in response:
            response["Cache-Control"] = "no-store"
        return response

    return private


def _guarded(view):
    @csrf_exempt
    @_private
    @wraps(view)
    def guarded(request, *args, **kwargs):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return error_response(400, INVALID, "Content-Length is not a number.")
        if any("\x00" in value for value in kwargs.values()):
            # No id or slug contains NUL, and PostgreSQL refuses it even in a lookup.
            return error_response(404, NOT_FOUND, "Not found.")
        if length > MAX_BODY_BYTES:
            return error_response(400, INVALID, f"Request bodies are at most {MAX_BODY_BYTES // 1024} KiB.")
        if not length and "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
            # Django reads a body only as far as its Content-Length: sent chunked, without one,
            # it would be taken for no body at all.
            return error_response(400, INVALID, "Send the body with a Content-Length header; chunked bodies are not read.")
        try:
            response = view(request, *args, **kwargs)
        except Http404:  # ninja's bare root answers by raising it
            return no_such_endpoint(request)
        if response.status_code == 405 and not response.get("Content-Type", "").startswith("application/json"):
            allowed = response.get("Allow", "")
            response = error_response(405, METHOD_NOT_ALLOWED, f"Allowed methods: {allowed}.", headers={"Allow": allowed})
        return response

    return guarded


@csrf_exempt
@_private
def no_such_endpoint(request, rest=""):
    return error_response(404, NOT_FOUND, "No such endpoint; see /api/v1/openapi.json.")


def _public(view):
    @wraps(view)
    def public(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if response.status_code == 200:
            response["Cache-Control"] = "public, max-age=300"
        return response

    return public


_patterns, _app_name, _namespace = api.urls
for _pattern in _patterns:
    view = _pattern.callback
    if str(_pattern.pattern) == "workspaces/<slug>/documents":
        view = hot.route(view)
    elif _pattern.name == "openapi-json":
        # ninja serves the schema to any method. Public and the same for everyone: it may be cached.
        view = require_safe(view)
        view = _public(view)
    _pattern.callback = _guarded(view)

urlpatterns = [
    *_patterns,
    re_path(r"^(?P<rest>.*)$", no_such_endpoint),
]
app_name = _namespace  # "api": ninja reverses its own routes under this namespace
