from django.contrib.auth.views import redirect_to_login
from django.db import connection
from django.http import Http404, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views import defaults
from django.views.decorators.http import require_GET

from dock.middleware import on_api


@require_GET
def healthz(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return JsonResponse({"status": "ok"})


def admin_login(request, extra_context=None):
    """The admin's log-in (admin.site.login): operators log in on /login/, like everyone.

    Django's admin has a form of its own, which was a second way to try passwords: with
    no lock per account or address (identity.throttle) and no audit event, failed or
    not. It checks no password now; it sends the browser to the site's log-in, which
    returns to the admin page asked for. Someone signed in who is no operator has no
    admin to log in to (404)."""
    from identity.views._common import local_next

    wanted = local_next(request, request.GET.get("next")) or reverse("admin:index")
    if request.user.is_authenticated:
        if request.user.is_active and request.user.is_staff:
            return redirect(wanted)
        raise Http404("No such page.")
    return redirect_to_login(wanted)


def admin_logout(request, extra_context=None):
    """The admin's log-out (admin.site.logout): the site's, which records it."""
    from identity.views.auth import logout_view

    return logout_view(request)


def admin_password_change(request, extra_context=None):
    """The admin's password change (admin.site.password_change): the site's page, which
    locks the account against guessing the current password and records the change."""
    return redirect("password-change")


# What Django answers itself, before any view (a Host header not in ALLOWED_HOSTS, a
# request it cannot read) or after one failed: in the API's shape on the API's paths,
# where the caller is a program that parses JSON, and a page everywhere else.


def bad_request(request, exception):
    if on_api(request):
        from identity.api.errors import INVALID, error_response

        return error_response(400, INVALID, "Bad request.")
    return defaults.bad_request(request, exception)


def server_error(request):
    if on_api(request):
        from identity.api.errors import SERVER_ERROR, SERVER_ERROR_DETAIL, error_response

        # As the API's own (identity.api.api): a failure outside the view may come after
        # its transaction committed, so nothing is said of what was done. The request id
        # is promised only where the request got one (not in the outermost middleware).
        detail = SERVER_ERROR_DETAIL if hasattr(request, "request_id") else "Something went wrong on our side."
        return error_response(500, SERVER_ERROR, detail)
    return defaults.server_error(request)
