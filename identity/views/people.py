from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.views.decorators.http import require_GET

from .. import selectors
from ..models import Kind
from ._common import me, page

PER_PAGE = 60
CHART_PER_PAGE = 25
KIND_FILTERS = [("", "All"), (Kind.HUMAN, "Humans"), (Kind.AGENT, "Agents"), (Kind.SERVICE, "Services")]


@login_required
@require_GET
def people(request):
    """The org directory: humans, agents and service accounts in one list with one card;
    `?kind=` narrows it, `?view=chart` draws agents under their owners."""
    viewer = me(request)
    view = "chart" if request.GET.get("view") == "chart" else "list"
    kind = request.GET.get("kind", "")
    if kind not in Kind.values:
        kind = ""
    context = {"viewer": viewer, "view": view, "kind": kind, "counts": selectors.org_kind_counts(viewer)}
    if view == "chart":
        paginator = Paginator(selectors.org_chart_humans(viewer), CHART_PER_PAGE)
        context["page"] = paginator.get_page(request.GET.get("page"))
        context["services"] = selectors.org_services(viewer) if context["page"].number == 1 else []
    else:
        paginator = Paginator(selectors.org_people(viewer, kind=kind or None), PER_PAGE)
        context["page"] = paginator.get_page(request.GET.get("page"))
    context["filters"] = KIND_FILTERS
    return page(request, "identity/people.html", context, partial="people-body")
