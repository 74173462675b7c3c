"""/invites/<token>/: accept an invitation, signing up first if you are new.

The page looks the same whether or not the invited email already has an account, and a
sign-up that collides with an existing account gets the same generic answer (after the
same password-hashing work), so the page tells nobody who has an account.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from identity.errors import Conflict, InvalidTransition, NotFound, ServiceError
from identity.forms import focus_first_error
from identity.services.sessions import session_login
from identity.services.users import user_create

from .. import selectors, services
from ..forms import InviteSignupForm, add_service_error
from .common import page

INVITER_GONE = "The person who sent this invitation is no longer on Dock. Ask someone in the workspace for a new one."
SIGNUP_REFUSED = (
    "We could not create an account with this invitation. "
    "If you already have a Dock account, log in to accept it."
)


def _problem(request, invitation) -> tuple[str, int] | None:
    """Why this invitation cannot be used, or None."""
    if invitation is None:
        return "This invitation link is not valid. Check that you copied all of it, or ask for a new invitation.", 404
    if invitation.accepted_at is not None:
        return "This invitation has already been used. If it was you, open the workspace from your dashboard.", 410
    if invitation.expires_at <= timezone.now():
        return "This invitation has expired. Ask the person who invited you for a new one.", 410
    # Before "withdrawn": a sender's losing the right to invite withdraws their invitations
    # (identity.receivers), and that is the reason to give.
    if invitation.invited_by_id is None:
        return INVITER_GONE, 410
    if not services.invitation_sender_may_invite(invitation):
        return (f"{invitation.invited_by.display_name} can no longer invite people to {invitation.workspace.name}. "
                "Ask someone in the workspace for a new invitation."), 410
    if invitation.revoked_at is not None:
        if selectors.invitation_sent_again(invitation):
            # Sending again withdraws the earlier link: the newer one is in the same inbox.
            return ("A newer invitation to this workspace was sent to the same address since: "
                    "use the link in the latest email."), 410
        return "This invitation was withdrawn. Ask for a new one if you still need access.", 410
    return None


def _problem_page(request, detail: str, status: int):
    return page(request, "workspaces/invite_problem.html", {"detail": detail}, status=status)


def _after_accept(request, membership):
    workspace = membership.workspace
    messages.success(request, f"Welcome to {workspace.name}. You are {membership.get_role_display().lower()} here.")
    return redirect("workspace", slug=workspace.slug)


@never_cache
@require_http_methods(["GET", "POST"])
def invite_accept(request, token: str):
    invitation = services.invitation_lookup(token)
    problem = _problem(request, invitation)
    if problem:
        return _problem_page(request, *problem)
    user = request.user if request.user.is_authenticated else None
    login_url = f"{reverse('login')}?next={request.path}"
    workspace = invitation.workspace
    context = {
        "invitation": invitation, "workspace": workspace, "inviter": invitation.invited_by, "login_url": login_url,
        "invited_line": f"invited you as {invitation.get_role_display().lower()} · {workspace.org.name}",
    }

    if user is not None:
        context["email_matches"] = user.email.lower() == invitation.email.lower()
        if request.method == "POST":
            try:
                with transaction.atomic():
                    membership = services.invitation_accept(actor=user.principal, token=token)
            except (InvalidTransition, NotFound) as exc:
                # Someone else's invitation, or it was used/withdrawn a moment ago: nothing changed.
                return _problem_page(request, exc.detail, 404 if isinstance(exc, NotFound) else 409)
            return _after_accept(request, membership)
        return page(request, "workspaces/invite.html", context)

    form = InviteSignupForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                with transaction.atomic():
                    new_user = user_create(
                        actor=None, email=invitation.email, org=invitation.joining_org(),
                        display_name=form.cleaned_data["name"], password=form.cleaned_data["password"],
                    )
                    membership = services.invitation_accept(actor=new_user.principal, token=token)
            except Conflict:
                make_password(form.cleaned_data["password"])  # the same work as a real sign-up
                form.add_error(None, SIGNUP_REFUSED)
            except (InvalidTransition, NotFound) as exc:
                return _problem_page(request, exc.detail, 404 if isinstance(exc, NotFound) else 409)
            except ServiceError as exc:
                add_service_error(form, exc)
            else:
                login(request, new_user, backend=settings.AUTHENTICATION_BACKENDS[0])
                session_login(actor=new_user.principal)
                return _after_accept(request, membership)
        focus_first_error(form)
    context["form"] = form
    context["joining_org"] = invitation.joining_org()
    return page(request, "workspaces/invite.html", context, status=status)
