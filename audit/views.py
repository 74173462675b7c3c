"""The audit log for compliance staff: filter, read, export, verify.

A face (like the API and the CLI): it may read identity to know who is asking and to
draw faces. Everything it shows comes through `audit.selectors`, scoped to the reader's
org. Reading is not a state change, so nothing here records an audit event.
"""

import re
from datetime import UTC, datetime
from urllib.parse import urlencode

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import TooManyFieldsSent
from django.http import Http404, HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from dock.htmx import vary, wants_fragment
from identity.avatars import ORB_SIZES, orb_png

from . import charts
from .export import CONTENT_TYPES, stream
from .filters import AuditFilterSet
from .integrity import check as integrity_check
from .selectors import InvalidCursor, chain_head, daily_counts, events_page

# Verify the chain as soon as the panel shows when it is this short (well under a
# second); past it, verification (minutes at tens of millions of events) waits for a click.
AUTO_VERIFY_MAX = 50_000
_ORB_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class _Login(Exception):
    pass


def _auditor_org(request):
    """The org whose log the reader may see; 404 for people who may not read any."""
    user = request.user
    if not user.is_authenticated:
        raise _Login
    if not getattr(user, "can_audit", False):
        raise Http404
    return user.principal.org


def _guarded(view):
    def wrapper(request, *args, **kwargs):
        try:
            org = _auditor_org(request)
        except _Login:
            return redirect_to_login(request.get_full_path())  # a swap's: see LoginForSwapsMiddleware
        return vary(view(request, org, *args, **kwargs))

    wrapper.__name__ = view.__name__
    wrapper.__doc__ = view.__doc__
    return wrapper


def _query_without(data, *names) -> str:
    query = data.copy()
    for name in names:
        query.pop(name, None)
    for name in list(query):
        if not any(query.getlist(name)):
            query.pop(name)
    return query.urlencode()


def _page_context(request, org, filterset) -> dict:
    # From the filter set's data, not the request's: a preset has dropped the dates.
    query = _query_without(filterset.data, "after", "before")
    page = error = filters = None
    if filterset.is_valid():
        filters = filterset.event_filter()
        try:
            page = events_page(filters, org=org.slug, cursor=request.GET.get("after") or None,
                               before=request.GET.get("before") or None)
        except InvalidCursor as exc:
            error = str(exc)
    chart = None
    if page is not None:
        for event in page.events:  # a workspace links to its events in this log, by name where listed
            event.workspace_name = filterset.workspace_names.get(event.workspace) or event.workspace
        daily = daily_counts(filters, org=org.slug)
        chart = charts.activity_chart(daily, title=f"{org.name}: events per day by actor kind")
    head = chain_head()
    base = reverse("audit")
    more = f"{base}?{query}{'&' if query else ''}"
    return {
        "org": org,
        "filterset": filterset,
        "form": filterset.form,
        "page": page,
        "events": page.events if page else [],
        "cursor_error": error,
        "query": query,
        "first_url": f"{base}?{query}" if query else base,
        "next_url": f"{more}after={page.next_cursor}" if page and page.next_cursor else "",
        "prev_url": f"{more}before={page.prev_cursor}" if page and page.prev_cursor else "",
        "export_csv": reverse("audit-export", args=["csv"]) + (f"?{query}" if query else ""),
        "export_jsonl": reverse("audit-export", args=["jsonl"]) + (f"?{query}" if query else ""),
        "chart": chart,
        "head": head,
        "auto_verify": head["count"] <= AUTO_VERIFY_MAX,
        "custom_range": filterset.form.data.get("range") == "custom",
        "active": filterset.active,
    }


@require_GET
@_guarded
def audit(request, org):
    """The log: filters, chart, a page of events. With HTMX, just the part that changes."""
    filterset = AuditFilterSet(request.GET, org=org.slug)
    context = _page_context(request, org, filterset)
    if not wants_fragment(request):
        return render(request, "audit/index.html", context)
    response = render(request, "audit/index.html#view", {**context, "fragment": True})
    # The URL htmx pushes is the filter as applied, in its own words (no empty fields, no
    # dates a preset replaced), with the page's position.
    position = next((urlencode({name: request.GET[name]}) for name in ("after", "before") if request.GET.get(name)), "")
    first = context["first_url"]
    response["HX-Push-Url"] = f"{first}{'&' if '?' in first else '?'}{position}" if position else first
    return response


@require_GET
@_guarded
def export(request, org, fmt: str):
    """Exactly the filtered set, oldest first, streamed as CSV or JSON Lines."""
    filterset = AuditFilterSet(request.GET, org=org.slug)
    if not filterset.is_valid():
        context = _page_context(request, org, filterset)
        return render(request, "audit/index.html", context, status=400)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    response = StreamingHttpResponse(stream(filterset.qs, fmt), content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="audit-{org.slug}-{stamp}.{fmt}"'
    response["Cache-Control"] = "no-store"
    return response


def _log_query(text: str) -> str:
    """The audit log's filter from `back` (the log the reader came from, sent along by the
    Verify form without JavaScript), keeping only the filter's own fields."""
    try:
        query = QueryDict(text[:2000], mutable=True)
    except TooManyFieldsSent:  # not a filter the log wrote: back to the whole log
        return ""
    for name in list(query):
        if name not in AuditFilterSet.base_filters:
            query.pop(name)
    return _query_without(query)


@require_GET
@_guarded
def integrity(request, org):
    """Recompute the whole hash chain (paced: see audit.integrity) and show the head to
    copy off the machine."""
    back = _log_query(request.GET.get("back", ""))
    checked = integrity_check()
    context = {
        "org": org,
        "check": checked,
        "result": checked.result if checked else None,
        "head": checked.head if checked else chain_head(),
        "verified": checked is not None,
        "check_running": checked is None,  # the first check, still running elsewhere
        # Pressed Verify again (htmx names the element that asked): a new result is marked
        # as new, since in the same second it reads exactly as before.
        "again": request.htmx.trigger == "verify-chain",
        "query": back,  # the log's filter, as on the log's page: the Verify form carries it on
        "log_url": reverse("audit") + (f"?{back}" if back else ""),
    }
    template = "audit/integrity.html#panel" if wants_fragment(request) else "audit/integrity.html"
    return render(request, template, context)


@require_GET
def orb(request, public_id: str):
    """The generated face of a principal that no longer exists (audit rows keep its id)."""
    if not request.user.is_authenticated or not _ORB_ID.match(public_id):
        raise Http404
    try:
        size = int(request.GET.get("s", "128"))
    except ValueError:
        size = 128
    response = HttpResponse(orb_png(public_id, size if size in ORB_SIZES else 128), content_type="image/png")
    response["Cache-Control"] = "private, max-age=86400"
    return response
