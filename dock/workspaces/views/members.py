"""Members, invitations, roles, removal with its impact preview, and elevations.
Every write: in one transaction (services.managing), lock the workspace, require MANAGE
(locked), then the service."""

from django.contrib import messages
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from identity import access, throttle
from identity import capabilities as caps
from identity.errors import InvalidTransition, ServiceError

from .. import mail, selectors, services
from ..forms import InviteForm, RoleForm, add_service_error
from ..models import Role
from .common import acting, invalid_status, need, page, workspace_view

MEMBER_ROW = "workspaces/members.html#member"


def _members_context(request, me, workspace, **extra) -> dict:
    manage = workspace.decision.allows(caps.MANAGE)
    context = {
        "workspace": workspace,
        "decision": workspace.decision,
        "manage": manage,
        "members": selectors.member_page(principal=me, workspace=workspace, page=request.GET.get("page")),
        "services": selectors.service_grants(principal=me, workspace=workspace),
        "roles": Role.choices,
        "tab": "members",
    }
    context.update(_invitations_context(me, workspace, manage=manage))
    context.update(extra)
    return context


def _invitations_context(me, workspace, *, manage: bool, form=None, link=None, invited=None, replaced=0) -> dict:
    if not manage:
        return {"invitations": [], "invite_form": None}
    return {
        "invitations": selectors.invitations_open(principal=me, workspace=workspace),
        "invite_form": form or InviteForm(),
        "new_link": link,
        "invited": invited,
        "replaced": replaced,
    }


def _members_url(workspace) -> str:
    return reverse("workspace-members", args=[workspace.slug])


@workspace_view
@require_http_methods(["GET"])
def members(request, workspace):
    me = acting(request)
    return page(request, "workspaces/members.html", _members_context(request, me, workspace), fragment="member-list")


def _invitation_buckets(me, email: str) -> list:
    """Where an invitation from `me` to `email` is counted (identity.throttle)."""
    address = email.lower()
    return [
        (throttle.INVITE_SENDER, me.public_id),
        (throttle.INVITE_ADDRESS, f"{me.public_id}:{address}"),
        (throttle.INVITE_RECIPIENT, address),
    ]


def _invitations_throttled(me, email: str) -> str | None:
    """Count an invitation about to be sent; the refusal to show, or None."""
    wait, full = throttle.take_each(_invitation_buckets(me, email))
    if not wait:
        return None
    address = email.lower()
    if full is throttle.INVITE_SENDER:
        reason = f"You have sent {full.limit} invitations in the last hour."
    elif full is throttle.INVITE_ADDRESS:
        reason = f"You have invited {address} {full.limit} times in the last hour."
    else:
        reason = f"{address} has been sent many invitations in the last hour."
    return f"{reason} {throttle.try_again(wait)}"


def _invitation_not_sent(me, email: str) -> None:
    """Uncount what _invitations_throttled counted: the invitation was refused, no email went."""
    throttle.give_back_each(_invitation_buckets(me, email))


@workspace_view
@require_http_methods(["GET", "POST"])
def invitation_create(request, workspace):
    """POST an email and role; the answer shows the link once (only its hash is kept) and
    the email goes out after the commit. Inviting an address again withdraws its earlier
    link, so only the newest one works."""
    if request.method == "GET":
        return redirect(_members_url(workspace) + "#invite")
    me = acting(request)
    need(workspace, caps.MANAGE)
    form = InviteForm(request.POST)
    status, link, invitation, replaced = 200, None, None, []
    refusal = _invitations_throttled(me, form.cleaned_data["email"]) if form.is_valid() else None
    if refusal:
        form.add_error("email", refusal)
        status = 429 if not request.htmx else 200  # htmx swaps only 2xx answers
    elif form.is_valid():
        try:
            with services.managing(actor=me, workspace=workspace):
                replaced = selectors.invitations_open_to(principal=me, workspace=workspace, email=form.cleaned_data["email"])
                for earlier in replaced:
                    services.invitation_revoke(actor=me, invitation=earlier)
                invitation, token = services.invitation_create(
                    actor=me, workspace=workspace, email=form.cleaned_data["email"], role=form.cleaned_data["role"],
                )
                link = request.build_absolute_uri(reverse("invite-accept", args=[token]))
                mail.invitation_send(invitation=invitation, link=link)
        except ServiceError as exc:
            _invitation_not_sent(me, form.cleaned_data["email"])
            if not exc.fields:
                raise
            add_service_error(form, exc)
            status = invalid_status(request)
        else:
            form = InviteForm(initial={"role": form.cleaned_data["role"]})
    else:
        status = invalid_status(request)
    if form.errors:  # back to the address, to mend it (after a sent one, focus is on its Copy)
        form.fields["email"].widget.attrs["autofocus"] = True
    if request.htmx:
        context = {"workspace": workspace, "decision": workspace.decision, "manage": True}
        context.update(_invitations_context(me, workspace, manage=True, form=form, link=link, invited=invitation,
                                            replaced=len(replaced)))
        response = page(request, "workspaces/members.html", context, fragment="invitations", status=status)
    else:
        # A full page answers the POST itself: the link exists only in this response.
        context = _members_context(request, me, workspace)
        context.update(_invitations_context(me, workspace, manage=True, form=form, link=link, invited=invitation,
                                            replaced=len(replaced)))
        response = page(request, "workspaces/members.html", context, status=status)
    # The link is a credential shown once: never cached, never replayed from history.
    patch_cache_control(response, no_store=True, private=True, max_age=0)
    return response


@workspace_view
@require_http_methods(["POST"])
def invitation_revoke(request, workspace, public_id: str):
    me = acting(request)
    invitation = selectors.invitation_get(principal=me, workspace=workspace, public_id=public_id)
    done, notice = True, f"Withdrew the invitation to {invitation.email}."
    try:
        with services.managing(actor=me, workspace=workspace):
            services.invitation_revoke(actor=me, invitation=invitation)
    except InvalidTransition as exc:
        # Accepted or withdrawn since the page was loaded: nothing was withdrawn now.
        done, notice = False, exc.detail
    if request.htmx:
        # Said in place, focused: the Withdraw pressed is gone with its row.
        context = {"workspace": workspace, "decision": workspace.decision, "manage": True,
                   "invite_notice": notice, "invite_done": done}
        context.update(_invitations_context(me, workspace, manage=True))
        return page(request, "workspaces/members.html", context, fragment="invitations")
    (messages.success if done else messages.info)(request, notice)
    return redirect(_members_url(workspace))


def _member_response(request, me, workspace, handle: str, *, error: str | None = None, done: str | None = None,
                     status: int = 200):
    row = selectors.member_get(principal=me, workspace=workspace, handle=handle)
    context = {
        "workspace": workspace, "decision": workspace.decision, "row": row, "roles": Role.choices,
        "manage": workspace.decision.allows(caps.MANAGE), "row_error": error, "row_done": done, "tab": "members",
    }
    return page(request, "workspaces/member.html", context, fragment=MEMBER_ROW, status=status)


@workspace_view
@require_http_methods(["GET"])
def member(request, workspace, handle: str):
    """One member and their agents: the row the members page swaps in place."""
    return _member_response(request, acting(request), workspace, handle)


@workspace_view
@require_http_methods(["POST"])
def member_role(request, workspace, handle: str):
    me = acting(request)
    need(workspace, caps.MANAGE)
    row = selectors.member_get(principal=me, workspace=workspace, handle=handle)
    form = RoleForm(request.POST)
    error = done = None
    if not form.is_valid():
        error = "Choose one of the roles: " + ", ".join(Role.values) + "."
    else:
        try:
            with services.managing(actor=me, workspace=workspace):
                services.membership_set_role(actor=me, membership=row.membership, role=form.cleaned_data["role"])
        except ServiceError as exc:
            if exc.status == 403:
                raise
            error = exc.detail
        else:
            role = form.cleaned_data["role"]
            done = f"{row.principal.display_name} is now {'an' if role[0] in 'aeiou' else 'a'} {role} here."
    if request.htmx:
        # The acting admin may just have lowered themselves: the row then shows no controls.
        workspace.decision = access.check(me.pk, workspace.pk)
        if not workspace.decision.visible:
            return HttpResponseClientRedirect(reverse("home"))
        # Said in the row, as a status: the select already showed the role chosen.
        return _member_response(request, me, workspace, handle, error=error, done=done, status=200)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, done)
    return redirect(_members_url(workspace))


@workspace_view
@require_http_methods(["GET", "POST"])
def member_remove(request, workspace, handle: str):
    """GET: the impact preview (the agents that will lose access), as a fragment in place
    or as a confirm page. POST: remove, and with the membership goes the agents' access.
    Every member may do this to themselves (leave); only an admin to others."""
    me = acting(request)
    row = selectors.member_get(principal=me, workspace=workspace, handle=handle)
    myself = row.principal.pk == me.pk
    if not myself:
        need(workspace, caps.MANAGE)
    impact = selectors.removal_impact(principal=me, workspace=workspace, row=row)
    context = {
        "workspace": workspace, "decision": workspace.decision, "row": row, "impact": impact,
        "manage": workspace.decision.allows(caps.MANAGE), "tab": "members", "myself": myself,
        "last_admin": selectors.is_last_admin(principal=me, workspace=workspace, membership=row.membership),
    }
    if request.method == "GET":
        return page(request, "workspaces/member_remove.html", context, fragment="impact")
    try:
        if myself:
            services.membership_leave(actor=me, membership=row.membership)
        else:
            with services.managing(actor=me, workspace=workspace):
                services.membership_remove(actor=me, membership=row.membership)
    except InvalidTransition as exc:
        context["error"] = exc.detail
        return page(request, "workspaces/member_remove.html", context, fragment="impact", status=invalid_status(request))
    name = row.principal.display_name
    lost = len([i for i in impact if i.loses_all])
    whose = "your" if context["myself"] else "their"
    agents = f"One of {whose} agents" if len(impact) == 1 else f"{len(impact)} of {whose} agents"
    done = f"You left {workspace.name}." if context["myself"] else f"Removed {name} from {workspace.name}."
    summary = done + (
        f" {agents} lost access." if lost == len(impact) and lost else
        f" {agents} lost some or all access." if impact else ""
    )
    if context["myself"]:
        messages.success(request, summary)
        home = reverse("home")
        return HttpResponseClientRedirect(home) if request.htmx else redirect(home)
    if request.htmx:  # the row says so, and the list's count follows (out of band)
        context |= {"summary": summary, "members_count": selectors.human_member_count(workspace)}
        return page(request, "workspaces/member_remove.html", context, fragment="removed")
    messages.success(request, summary)
    return redirect(_members_url(workspace))


def _elevation(request, workspace, handle: str, *, grant: bool):
    me = acting(request)
    here = selectors.agent_in_workspace(principal=me, workspace=workspace, handle=handle)
    try:
        with services.managing(actor=me, workspace=workspace):
            if grant:
                services.elevation_grant(actor=me, workspace=workspace, agent=here.agent)
            else:
                services.elevation_remove(actor=me, workspace=workspace, agent=here.agent)
    except ServiceError as exc:
        if exc.status == 403:
            raise
        if request.htmx:
            return _member_response(request, me, workspace, here.agent.owner.handle, error=exc.detail)
        messages.info(request, exc.detail)
        return redirect(_members_url(workspace))
    if request.htmx:
        return _member_response(request, me, workspace, here.agent.owner.handle)
    verb = "elevated in" if grant else "no longer elevated in"
    messages.success(request, f"{here.agent.display_name} is {verb} {workspace.name}.")
    return redirect(_members_url(workspace))


@workspace_view
@require_http_methods(["POST"])
def elevation_grant(request, workspace, handle: str):
    return _elevation(request, workspace, handle, grant=True)


@workspace_view
@require_http_methods(["POST"])
def elevation_remove(request, workspace, handle: str):
    return _elevation(request, workspace, handle, grant=False)
