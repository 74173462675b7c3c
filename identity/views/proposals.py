"""The consent gate's inbox: proposals waiting for me, and what my agents asked for."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_POST

from .. import consent, selectors
from ..errors import Forbidden, ServiceError
from ._common import fragment, me, page

WAITING_SHOWN = 100  # the newest (decidable_proposals lists newest first)


@login_required
@require_GET
def proposals(request):
    viewer = me(request)
    waiting = list(selectors.decidable_proposals(viewer)[:WAITING_SHOWN])
    shown = {p.pk for p in waiting}
    context = {
        "viewer": viewer,
        "waiting": waiting,
        # The heading counts them all, as the top bar does, when the list stops short.
        "waiting_total": len(waiting) if len(waiting) < WAITING_SHOWN else selectors.pending_count(viewer),
        # The rest of what my agents asked for: decided, cancelled or expired ones.
        "mine": [p for p in selectors.agents_proposals(viewer) if p.pk not in shown],
    }
    return page(request, "proposals/index.html", context, partial="proposals-body")


def _decide(request, public_id: str, approve: bool):
    viewer = me(request)
    proposal = selectors.proposal_for(viewer, public_id)
    if proposal is None:
        raise Http404("No such proposal here.")
    decide = consent.proposal_approve if approve else consent.proposal_reject
    error = None
    try:
        proposal = decide(actor=viewer, proposal=proposal)
    except Forbidden as exc:
        raise PermissionDenied(exc.detail) from None
    except ServiceError as exc:
        error = exc.detail
        proposal = selectors.proposal_for(viewer, public_id) or proposal
    if request.htmx:
        return fragment(request, "proposals/_decided.html", {
            "proposal": proposal, "viewer": viewer, "row_error": error, "decided_now": not error,
            # For a human, what waits for them is what they may decide (decidable_proposals).
            "pending_total": selectors.pending_count(viewer),
            # Approving deleted the document: the other requests to delete it on this page
            # were cancelled with it, and their rows go out with this one.
            "cancelled_with": selectors.proposals_cancelled_with(viewer, proposal) if approve and not error else [],
        })
    if error:
        messages.error(request, error)
    else:
        verb = "approved" if approve else "rejected"
        messages.success(request, f"Proposal {verb}: {proposal.operation_label.lower()} “{proposal.current_target_name}”.")
    return redirect(request.POST.get("back") if request.POST.get("back") in ("/", "/proposals/") else "proposals")


@login_required
@require_POST
def proposal_approve(request, public_id):
    return _decide(request, public_id, approve=True)


@login_required
@require_POST
def proposal_reject(request, public_id):
    return _decide(request, public_id, approve=False)
