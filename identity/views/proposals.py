"""The consent gate's inbox: proposals waiting for me, and what my agents asked for."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from dock.htmx import wants_fragment

from .. import consent, selectors
from ..errors import Forbidden, ServiceError
from ._common import fragment, me, page

WAITING_SHOWN = 100  # the newest (decidable_proposals lists newest first)
BACK = ("/", "/proposals/")  # the pages a row sits on, where a plain form comes back to


def _back(data) -> str:
    back = data.get("back")
    return back if back in BACK else BACK[1]


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


def _proposal_or_404(viewer, public_id: str):
    proposal = selectors.proposal_for(viewer, public_id)
    if proposal is None:
        raise Http404("No such proposal here.")
    return proposal


def _one(request, viewer, proposal, *, confirm_approve: bool = False):
    """One proposal's row: alone for htmx, on a page of its own otherwise. `back` is the
    page the row was on (home or /proposals/), where Cancel and the decision lead."""
    context = {"viewer": viewer, "proposal": proposal, "back": _back(request.GET), "confirm_approve": confirm_approve}
    if wants_fragment(request):
        return fragment(request, "proposals/_row.html", context)
    return page(request, "proposals/one.html", context)


@login_required
@require_GET
def proposal(request, public_id):
    """One proposal (where Cancel under Approve's question leads back to, for htmx)."""
    viewer = me(request)
    return _one(request, viewer, _proposal_or_404(viewer, public_id))


def _decide(request, public_id: str, approve: bool):
    viewer = me(request)
    proposal = _proposal_or_404(viewer, public_id)
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
            "back": _back(request.POST),  # a row still pending (refused) keeps leading back there
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
    return redirect(_back(request.POST))


@login_required
@require_http_methods(["GET", "POST"])
def proposal_approve(request, public_id):
    """GET asks, naming the document that approving deletes for good (in the row, swapped
    in place for htmx; a page otherwise): it never rests on a script's dialog alone. A
    proposal no longer pending is shown as decided. POST approves."""
    if request.method == "GET":
        viewer = me(request)
        proposal = _proposal_or_404(viewer, public_id)
        return _one(request, viewer, proposal, confirm_approve=proposal.is_pending)
    return _decide(request, public_id, approve=True)


@login_required
@require_POST
def proposal_reject(request, public_id):
    return _decide(request, public_id, approve=False)
