from django.contrib.auth.decorators import login_required
from django.views.decorators.http import require_GET

from .. import selectors
from ._common import me, page

HOME_PROPOSALS = 5


@login_required
@require_GET
def home(request):
    """My workspaces, my agents, proposals waiting for me, and what I and my agents did."""
    viewer = me(request)
    try:
        workspace_page = max(1, int(request.GET.get("page", 1)))
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
