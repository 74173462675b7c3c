"""What every workspace view shares: who is acting, one URL for page and fragment, and
turning refusals into 404s, 403 pages or messages."""

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import render

from dock.htmx import vary, wants_fragment
from identity import capabilities as caps
from identity.errors import Forbidden, NotFound, ServiceError
from identity.models import Principal
from identity.selectors import openable_profiles

from .. import selectors


def acting(request) -> Principal:
    """The principal behind the session: the dashboard is for humans."""
    return request.user.principal


def with_profile_links(me: Principal, principals) -> None:
    """Mark each of `principals` (None skipped) `profile_open`: whether `me` may open its
    profile. Bylines link only there: another org's author who has since left the
    workspace has a profile that answers 404 to those still in it."""
    principals = [p for p in principals if p is not None]
    openable = openable_profiles(me, {p.pk: p for p in principals}.values()) if principals else set()
    for principal in principals:
        principal.profile_open = principal.pk in openable


def page(request, template: str, context: dict, *, fragment: str | None = None, status: int = 200) -> HttpResponse:
    """The full page, or just `fragment` of it when htmx asked (one URL, both answers).
    `fragment` names a partial of `template`, or of another one as "other.html#name"."""
    name = template
    if fragment and wants_fragment(request):
        name = fragment if "#" in fragment else f"{template}#{fragment}"
    return vary(render(request, name, context, status=status))


def invalid_status(request) -> int:
    """Form errors: htmx only swaps 2xx answers, a full page says 400."""
    return 200 if request.htmx else 400


def refused(request, exc: ServiceError, *, status: int | None = None) -> HttpResponse:
    """A refusal the page did not expect (a lost race, a stale button): say so plainly."""
    if isinstance(exc, NotFound):
        raise Http404(exc.detail)
    if request.htmx:
        # The fragment the user clicked is stale; reload the page around the message.
        messages.error(request, exc.detail)
        response = HttpResponse(status=200)
        response["HX-Refresh"] = "true"
        return vary(response)
    return page(request, "403.html", {"exception": exc.detail},
                status=status or (403 if isinstance(exc, Forbidden) else exc.status))


def need(workspace, capability: int) -> None:
    """Refuse early (403) from the decision made for this request; writes still check
    again, locked, inside their transaction."""
    if not workspace.decision.allows(capability):
        raise Forbidden(f"This needs the {', '.join(caps.names(capability))} capability here.")


def workspace_view(view):
    """Log in required; resolve `slug` to a workspace the acting principal can see (else
    404) and pass it on with its access decision attached as `workspace.decision`."""

    @login_required
    @wraps(view)
    def wrapper(request, slug: str, *args, **kwargs):
        me = acting(request)
        try:
            workspace = selectors.workspace_get(principal=me, slug=slug)
            return view(request, workspace, *args, **kwargs)
        except ServiceError as exc:
            return refused(request, exc)

    return wrapper
