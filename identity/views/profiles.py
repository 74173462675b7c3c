from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.views.decorators.http import require_GET

from audit.selectors import InvalidCursor
from dock.htmx import wants_fragment
from dock.middleware import no_store

from .. import access, selectors
from ..forms import SCOPE_CHOICES, PasswordChangeForm
from ..models import Kind, Principal, Status
from ..services.agents import may_hold_keys, may_manage_agent, may_set_scope
from ._common import grace_minutes, me, page
from .once import drop_pad, take_key


def agent_card_context(viewer: Principal, agent: Principal, *, new_key=None, error=None, transfer_form=None,
                       confirm_revoke=False, confirm_stop=None, scope_error=None) -> dict:
    manage = may_manage_agent(viewer, agent)
    admin = access.is_org_admin(viewer, agent.org_id)
    keys = selectors.keys_of(agent) if manage else []
    has_current = any(k.state == "current" for k in keys)
    return {
        "agent": agent,
        "may_manage": manage,
        "may_rotate": may_hold_keys(viewer, agent),
        "may_set_scope": may_set_scope(viewer, agent) and agent.status != Status.REVOKED,
        "scope_choices": SCOPE_CHOICES,
        "is_org_admin": admin,
        "keys": keys,
        "has_current_key": has_current,
        "has_working_key": any(k.state in ("current", "grace") for k in keys),
        "has_grace_key": any(k.state == "grace" for k in keys),
        # Its newest key was retired with no successor (an org-wide rotation): the owner issues one.
        "retired_key": None if has_current else next(
            (k for k in keys if k.state != "revoked" and k.expires_at and not k.replaced_by_id), None
        ),
        "grace_minutes": grace_minutes(),
        "new_key": new_key,
        "card_error": error,
        "scope_error": scope_error,  # said beside the boxes, where it is mended
        "can_transfer": admin and agent.status != Status.REVOKED,
        # Only a submitted form with errors is drawn in the card; the empty one (a list of
        # everyone in the org) is fetched when the admin asks for it.
        "transfer_form": transfer_form if admin and agent.status != Status.REVOKED else None,
        # Revoke… was pressed: the card asks before anything is destroyed.
        "confirm_revoke": confirm_revoke and manage and agent.status != Status.REVOKED,
        # Stop now was pressed beside a rotated-away key: the card asks first, saying what
        # the agent is left with (another key in its window is not stopped with this one).
        "confirm_stop": confirm_stop if manage else None,
        "stop_leaves_grace": confirm_stop is not None and any(
            k.state == "grace" and k.prefix != confirm_stop.prefix for k in keys),
    }


def profile_context(request, viewer: Principal, principal: Principal, *, with_activity: bool = True, **card) -> dict:
    context = {
        "viewer": viewer,
        "principal": principal,
        "is_self": viewer.pk == principal.pk,
        "access": selectors.access_explainer(viewer, principal),
    }
    if with_activity and selectors.may_see_activity(viewer, principal):
        context.update(_activity(request, viewer, principal))
        context["chart"] = selectors.profile_activity_chart(principal, viewer=viewer)
    if principal.kind == Kind.AGENT:
        context.update(agent_card_context(viewer, principal, **card))
    elif principal.kind == Kind.HUMAN:
        context["agents"] = selectors.agents_of(principal)
        if context["is_self"]:
            context["password_form"] = PasswordChangeForm(request.user)
    else:
        context["grants"] = selectors.service_grants(viewer, principal)
    return context


def _activity(request, viewer: Principal, principal: Principal) -> dict:
    """A page of the profile's activity (ten events, `?after=` a cursor for older ones),
    and the links that page back through all of it."""
    after = request.GET.get("after") or None
    error = ""
    try:
        page = selectors.profile_activity_page(principal, after=after, viewer=viewer)
    except InvalidCursor as exc:
        error, after = str(exc), None
        page = selectors.profile_activity_page(principal, viewer=viewer)
    base = principal.get_absolute_url()
    return {
        "events": page.events,
        "activity_error": error,
        "activity_older": f"{base}?{urlencode({'after': page.next_cursor})}#activity-title" if page.has_next else "",
        "activity_newest": f"{base}#activity-title" if after else "",
    }


@login_required
@require_GET
def profile(request, handle: str):
    """One template for every kind of principal."""
    viewer = me(request)
    principal = selectors.profile_principal(viewer, handle)
    if principal is None:
        raise Http404("No such person here.")
    agent = principal.kind == Kind.AGENT
    new_key = take_key(request, [principal]).get(principal.public_id) if agent else None
    # htmx asks an agent's profile for its card alone (Cancel under Revoke's question).
    card_only = agent and wants_fragment(request)
    context = profile_context(request, viewer, principal, with_activity=not card_only, new_key=new_key)
    response = page(request, "identity/profile.html", context, partial="agent-card" if agent else None)
    return drop_pad(no_store(response)) if new_key else response
