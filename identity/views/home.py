from django.contrib.auth.decorators import login_required
from django.views.decorators.http import require_GET

from .. import selectors
from ._common import me, page

HOME_PROPOSALS = 5
MAX_WORKSPACE_PAGE = 100_000


@login_required
@require_GET
def home(request):
    """My workspaces, my agents, proposals waiting for me, and what I and my agents did."""
    viewer = me(request)
    try:
        # Capped: past what anyone has, a page is empty; past what the database can
        # offset, it was a server error.
        workspace_page = min(max(1, int(request.GET.get("page", 1))), MAX_WORKSPACE_PAGE)
    except ValueError:
        workspace_page = 1
    workspaces, more_workspaces = selectors.home_workspaces(viewer, page=workspace_page)
    proposals = list(selectors.decidable_proposals(viewer)[: HOME_PROPOSALS + 1])
    context = {
        "viewer": viewer,
        "workspaces": workspaces,
        "workspace_page": workspace_page,
        "more_workspaces": more_workspaces,
        "agents": selectors.my_agents(viewer),
        "proposals": proposals[:HOME_PROPOSALS],
        "more_proposals": len(proposals) > HOME_PROPOSALS,
        "events": selectors.dashboard_activity(viewer, limit=10),
    }
    return page(request, "home.html", context)
