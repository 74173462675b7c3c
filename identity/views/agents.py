"""Creating agents, and the owner's and org admins' controls on an agent's profile.

Every control is a POST that answers htmx with the swapped agent card (and the profile
header and access list out of band), and a plain form with a redirect to the profile.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from dock.middleware import no_store

from .. import access, capabilities, selectors
from ..errors import Forbidden, ServiceError
from ..forms import AgentForm, AgentScopeForm, TransferForm, add_service_error, focus_first_error
from ..models import Status
from ..services import agents as agent_services
from ..services import keys as key_services
from ._common import fragment, me, page
from .once import carry_key
from .profiles import profile_context


@login_required
@require_http_methods(["GET", "POST"])
def agent_new(request):
    viewer = me(request)
    form = AgentForm(request.POST or None, request.FILES or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            try:
                agent, plaintext = agent_services.agent_create(
                    actor=viewer, owner=viewer, name=data["name"], scope=data["scope"], avatar=data["avatar"]
                )
            except ServiceError as exc:
                add_service_error(form, exc)
                status = exc.status
            else:
                messages.success(request, f"{agent.display_name} is ready. Copy its key now: it is shown only once.")
                return carry_key(request, redirect(agent.get_absolute_url()), agent, plaintext)
        focus_first_error(form)
    return render(request, "identity/agent_new.html", {"form": form, "viewer": viewer}, status=status)


def _agent_or_404(request, handle):
    viewer = me(request)
    agent = selectors.managed_agent(viewer, handle)
    if agent is None:
        raise Http404("No such agent here.")
    return viewer, agent


def _respond(request, viewer, agent, *, done: str = "", new_key=None, error=None, transfer_form=None, status=200,
             focus_done: bool = False, confirm_revoke: bool = False, confirm_stop=None, scope_error=None):
    """`focus_done`: the control pressed is gone from the card, so keyboard focus goes to
    what was done. `confirm_revoke`, `confirm_stop` (a key): the card asks before revoking
    the agent or stopping the key (a page without htmx)."""
    agent = selectors.managed_agent(viewer, agent.handle) or agent
    card = {"error": error, "transfer_form": transfer_form, "confirm_revoke": confirm_revoke, "confirm_stop": confirm_stop,
            "scope_error": scope_error}
    if request.htmx:
        context = profile_context(request, viewer, agent, with_activity=False, new_key=new_key, **card)
        context["done"] = done
        context["focus_done"] = focus_done
        # htmx swaps 2xx answers only: a refusal is shown inside the card, with a 200.
        response = fragment(request, "identity/_agent_swap.html", context)
        return no_store(response) if new_key else response
    if error or scope_error or transfer_form is not None or confirm_revoke or confirm_stop:
        return render(request, "identity/profile.html", profile_context(request, viewer, agent, **card), status=status)
    if done:
        messages.success(request, done)
    response = redirect(agent.get_absolute_url())
    return carry_key(request, response, agent, new_key) if new_key else response


def _manager(request, handle):
    viewer, agent = _agent_or_404(request, handle)
    try:
        agent_services.require_manager(viewer, agent)
    except Forbidden as exc:
        raise PermissionDenied(exc.detail) from None
    return viewer, agent


def _managed(request, handle, act, done):
    viewer, agent = _manager(request, handle)
    try:
        result = act(viewer, agent)
    except ServiceError as exc:
        return _respond(request, viewer, agent, error=exc.detail, status=exc.status)
    return _respond(request, viewer, agent, done=done.format(name=agent.display_name), new_key=result)


@login_required
@require_POST
def agent_pause(request, handle):
    def act(viewer, agent):
        agent_services.agent_pause(actor=viewer, agent=agent)

    # What pausing means is the status line just under it: the message only says it is done.
    return _managed(request, handle, act, "{name} is paused.")


@login_required
@require_POST
def agent_resume(request, handle):
    def act(viewer, agent):
        agent_services.agent_resume(actor=viewer, agent=agent)

    return _managed(request, handle, act, "{name} is active again.")


@login_required
@require_POST
def agent_rotate(request, handle):
    """A new key, shown once. The current key keeps working for the grace window; an
    agent without a current key (restored after a suspension) is simply issued one."""

    def act(viewer, agent):
        if not agent_services.may_hold_keys(viewer, agent):
            raise Forbidden(f"Only its owner, {agent.owner.display_name}, is handed {agent.display_name}'s keys. "
                            "As an org admin you can pause, revoke or transfer it.")
        with transaction.atomic():
            current = key_services.current_key(agent)
            if current is None:
                _, plaintext = key_services.key_issue(actor=viewer, principal=agent)
            else:
                _, plaintext = key_services.key_rotate(actor=viewer, key=current)
        return plaintext

    return _managed(request, handle, act, "New key issued for {name}. Copy it now: it is shown only once.")


@login_required
@require_http_methods(["GET", "POST"])
def agent_key_stop(request, handle, prefix):
    """A rotated-away key stopped before its grace window ends: after a leak, its owner (or
    an org admin) need not wait the window out, nor pause the agent, which a resume undoes.
    GET asks, in the card (a page without htmx): the agent may still be on that key."""
    viewer, agent = _manager(request, handle)
    key = selectors.key_of(agent, prefix)
    if key is None:
        raise Http404("No such key.")
    try:
        if request.method == "GET":
            key_services.require_stoppable(key)  # else nothing to ask about, and the card says why
            return _respond(request, viewer, agent, confirm_stop=key)
        key_services.key_stop(actor=viewer, key=key)
    except ServiceError as exc:
        # Asked (GET) of a key with nothing to ask about, the page says why: no conflict yet.
        return _respond(request, viewer, agent, error=exc.detail, status=exc.status if request.method == "POST" else 200)
    return _respond(request, viewer, agent, done=f"Key {key.display} is revoked: it no longer works.", focus_done=True)


@login_required
@require_http_methods(["GET", "POST"])
def agent_revoke(request, handle):
    """GET asks, inside the agent card (swapped in place for htmx, the profile as a page
    otherwise): revoking cannot be undone, so it never rests on a script's dialog alone.
    POST revokes for good."""
    if request.method == "GET":
        viewer, agent = _manager(request, handle)
        if agent.status == Status.REVOKED:
            return redirect(agent.get_absolute_url())
        return _respond(request, viewer, agent, confirm_revoke=True)

    def act(viewer, agent):
        agent_services.agent_revoke(actor=viewer, agent=agent)

    return _managed(request, handle, act, "{name} is revoked. Its keys are destroyed.")


@login_required
@require_POST
def agent_scope(request, handle):
    """The owner widens or narrows what the agent may do, keeping its name, face, keys and
    history; its access follows at once."""
    viewer, agent = _agent_or_404(request, handle)
    if not agent_services.may_set_scope(viewer, agent):
        raise PermissionDenied(f"Only its owner, {agent.owner.display_name}, sets {agent.display_name}'s scope.")
    form = AgentScopeForm(request.POST)
    if not form.is_valid():
        return _respond(request, viewer, agent, scope_error=form.errors["scope"][0], status=400)
    try:
        agent = agent_services.agent_set_scope(actor=viewer, agent=agent, scope=form.cleaned_data["scope"])
    except ServiceError as exc:
        return _respond(request, viewer, agent, error=exc.detail, status=exc.status)
    names = ", ".join(capabilities.names(agent.scope))
    return _respond(request, viewer, agent, done=f"{agent.display_name}'s scope is now {names}.")


def _admin_only(request, handle):
    viewer, agent = _agent_or_404(request, handle)
    if not access.is_org_admin(viewer, agent.org_id):
        raise PermissionDenied("Only an org admin can do that.")
    return viewer, agent


@login_required
@require_POST
def agent_restore(request, handle):
    viewer, agent = _admin_only(request, handle)
    try:
        restored = agent_services.agent_restore(actor=viewer, agent=agent)
    except ServiceError as exc:
        return _respond(request, viewer, agent, error=exc.detail, status=exc.status)
    done = f"{agent.display_name} is restored" + (", and paused as it was." if restored.status == Status.PAUSED else ".")
    return _respond(request, viewer, agent, done=done, focus_done=True)


@login_required
@require_http_methods(["GET", "POST"])
def agent_transfer(request, handle):
    """GET: the transfer form (a page, or for htmx the form alone, fetched on demand
    because it lists every active human of the org). POST: transfer."""
    viewer, agent = _admin_only(request, handle)
    if request.method == "GET":
        form = TransferForm(candidates=selectors.transfer_candidates(agent), auto_id="id_transfer_%s")
        return page(request, "identity/agent_transfer.html", {"agent": agent, "transfer_form": form}, partial="transfer-form")
    form = TransferForm(request.POST, candidates=selectors.transfer_candidates(agent), auto_id="id_transfer_%s")
    form.fields["owner"].widget.attrs["autofocus"] = True  # drawn again only when refused: back to the choice
    if not form.is_valid():
        return _respond(request, viewer, agent, transfer_form=form, status=400)
    new_owner = form.cleaned_data["owner"]
    try:
        agent_services.agent_transfer(actor=viewer, agent=agent, new_owner=new_owner)
    except ServiceError as exc:
        add_service_error(form, exc)
        return _respond(request, viewer, agent, transfer_form=form, status=exc.status)
    return _respond(request, viewer, agent, done=f"{agent.display_name} now belongs to {new_owner.display_name}.", focus_done=True)
