"""Sign-up, log-in, log-out and password change.

No account enumeration: log-in answers the same for an unknown address, a wrong password
and a deactivated account, and counts failures per address whether or not it is
registered. Sign-up checks every field first; only a submission that would otherwise
succeed learns anything, and for a registered address it is a "check your email" page
(the address's owner gets a mail pointing them to log-in) — see `signup`.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, login, logout, update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.hashers import make_password
from django.core.mail import send_mail
from django.db import transaction
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from audit.middleware import client_ip

from .. import selectors, throttle
from ..errors import Conflict, ServiceError
from ..forms import LoginForm, PasswordChangeForm, SignupForm, add_service_error, focus_first_error
from ..services import sessions, users
from ..services.signup import org_signup
from ._common import fragment, local_next, me

LOGIN_FAILED = "That email and password do not match an active account."


def _too_many(seconds: int) -> str:
    return f"Too many attempts. {throttle.try_again(seconds)}"


def _next_url(request) -> str:
    return local_next(request, request.POST.get("next") or request.GET.get("next")) or reverse("home")


@require_http_methods(["GET", "POST"])
def signup(request):
    if request.user.is_authenticated:
        return redirect("home")
    form = SignupForm(request.POST or None)
    status = 200
    if request.method == "POST":
        ip = client_ip(request) or ""
        valid = form.is_valid()
        # Only a submission that would create an account is counted, before it does.
        wait = throttle.take(throttle.SIGNUP_ADDRESS, ip) if valid else throttle.retry_after(throttle.SIGNUP_ADDRESS, ip)
        if wait:
            form.add_error(None, _too_many(wait))
            status = 429
        elif valid:
            data = form.cleaned_data
            try:
                user = org_signup(org_name=data["org_name"], name=data["name"], email=data["email"], password=data["password"])
            except Conflict as exc:
                if "email" not in exc.fields:
                    add_service_error(form, exc)
                    status = 409
                else:
                    return _already_registered(request, data)
            except ServiceError as exc:
                add_service_error(form, exc)
                status = 400
            else:
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
                sessions.session_login(actor=user.principal)
                messages.success(request, f"Welcome to Dock, {user.get_short_name()}. {user.principal.org.name} is ready.")
                return redirect("home")
        else:
            status = 400
        focus_first_error(form)
    return render(request, "identity/signup.html", {"form": form}, status=status)


def _already_registered(request, data):
    """The address has an account. Nothing is created; the page says to check the inbox
    (true: the owner of the address gets a mail), the same page a verification step
    would show, and the time spent hashing a password matches a real sign-up."""
    make_password(data["password"])
    email = data["email"]
    login_url = request.build_absolute_uri(reverse("login"))
    body = (
        "Someone, perhaps you, tried to create a Dock account with this address.\n\n"
        f"You already have one. Log in here: {login_url}\n\n"
        "If it was not you, you can ignore this message; nothing was changed."
    )
    transaction.on_commit(lambda: send_mail("Your Dock account", body, settings.DEFAULT_FROM_EMAIL, [email], fail_silently=True))
    return render(request, "identity/signup_check_email.html", {"email": email})


@require_http_methods(["GET", "POST"])
def login_view(request):
    if request.method == "GET" and request.user.is_authenticated:
        return redirect(_next_url(request))
    form = LoginForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            email, password = form.cleaned_data["email"], form.cleaned_data["password"]
            ip = client_ip(request) or ""
            # Counted before the password check, so that simultaneous guesses cannot all
            # pass the check before any of them is counted.
            wait = max(throttle.take(throttle.LOGIN_ACCOUNT, email), throttle.take(throttle.LOGIN_ADDRESS, ip))
            if wait:
                form.add_error(None, _too_many(wait))  # announced (role=alert), and no field is at fault
                status = 429
            else:
                user = authenticate(request, username=email, password=password)
                if user is not None:
                    throttle.clear(throttle.LOGIN_ACCOUNT, email)
                    throttle.give_back(throttle.LOGIN_ADDRESS, ip)
                    login(request, user)
                    sessions.session_login(actor=user.principal)
                    return redirect(_next_url(request))
                known = selectors.principal_by_email(email)
                sessions.session_login_failed(principal=known, email=email, reason="invalid_credentials")
                form.refuse(LOGIN_FAILED)
        else:
            focus_first_error(form)
    context = {"form": form, "next": request.POST.get("next") or request.GET.get("next", "")}
    return render(request, "identity/login.html", context, status=status)


@require_POST
def logout_view(request):
    if request.user.is_authenticated:
        sessions.session_logout(actor=request.user.principal)
    logout(request)
    messages.info(request, "You are logged out.")
    # Back to a page of this site that asked for it (an invitation sent to someone else's
    # address); anywhere else, the log-in page.
    return redirect(local_next(request, request.POST.get("next")) or "login")


@login_required
@require_http_methods(["GET", "POST"])
def password_change(request):
    """Changing the password rotates the session hash: every other session ends, this one stays.

    A wrong current password counts against the account as a failed log-in does (and the
    two add up), so that whoever holds a session cannot guess the password here without
    limit; the right one is given back."""
    form = PasswordChangeForm(request.user, request.POST or None)
    status, done = 200, False
    if request.method == "POST":
        status = 400
        account = request.user.email
        guess = bool(request.POST.get("old_password"))
        # Counted before the password check, as log-in counts its attempts.
        wait = throttle.take(throttle.LOGIN_ACCOUNT, account) if guess else 0
        if wait:
            form.lockout = _too_many(wait)
            status = 429
        valid = form.is_valid()
        if guess and not wait and not form.has_error("old_password"):
            throttle.give_back(throttle.LOGIN_ACCOUNT, account)
        if valid:
            try:
                users.user_set_password(actor=me(request), user=request.user, password=form.cleaned_data["new_password1"])
            except ServiceError as exc:
                add_service_error(form, exc)
            else:
                update_session_auth_hash(request, request.user)
                if not request.htmx:
                    messages.success(request, "Password changed. Your other sessions have been logged out.")
                    return redirect(me(request).get_absolute_url())
                form, status, done = PasswordChangeForm(request.user), 200, True
    context = {"form": form, "done": done}
    if request.htmx:
        # Errors are shown in place: htmx swaps 2xx answers only. The button pressed is
        # swapped out with the form: focus goes to the first field to mend (or the result).
        focus_first_error(form)
        return fragment(request, "identity/password.html#password-form", context)
    return render(request, "identity/password.html", context, status=status)
