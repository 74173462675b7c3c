"""Service accounts: the org's own automations, run by org owners and admins only.

Every page here answers 404 to anyone else. Each control is a POST that answers htmx
with the swapped service card, and a plain form with a redirect to the account's page;
a key is shown once, in that answer or on the page right after the redirect.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from dock.htmx import wants_fragment
from dock.middleware import no_store
from dock.workspaces import services as workspace_services

from .. import access
from .. import capabilities as caps
from .. import selectors_services as selectors
from ..errors import ServiceError
from ..forms import add_service_error, focus_first_error
from ..forms_services import AdoptForm, GrantForm, OrgRotationForm, ServiceCreateForm
from ..models import Principal, Status
from ..selectors import key_of
from ..services import keys as key_services
from ..services import service_accounts as service_services
from ._common import fragment, grace_minutes, me, page
from .once import carry_key, drop_pad, take_key

PER_PAGE = 20


# Who may be here -------------------------------------------------------------------------


def _admin(request) -> Principal:
    viewer = me(request)
    if not access.is_org_admin(viewer):
        raise Http404("No such page.")
    return viewer


def _service(request, public_id: str) -> tuple[Principal, Principal]:
    viewer = _admin(request)
    service = selectors.service_for_admin(viewer, public_id)
    if service is None:
        raise Http404("No such service account here.")
    return viewer, service


# The cards -------------------------------------------------------------------------------


def _grant_form(row, data=None) -> GrantForm:
    return GrantForm(data, workspaces=row.grantable, auto_id=f"id_{row.service.public_id}_%s")


def _card(row, *, new_key=None, done="", error="", grant_form=None, confirm_revoke=False, confirm_key=None) -> dict:
    row.new_key = new_key
    row.done = done
    row.error = error
    row.grant_form = grant_form or _grant_form(row)
    row.confirm_revoke = confirm_revoke
    # The live key (one of the card's) whose revocation the card asks about.
    row.confirm_key = next((k for k in row.keys if k.prefix == confirm_key), None) if confirm_key else None
    if grant_form is not None and grant_form.errors:
        focus_first_error(grant_form, fallback="workspace")  # the card replaces the form that was sent
    return row


def _base_context(viewer) -> dict:
    return {"viewer": viewer, "grace_minutes": grace_minutes()}


def _respond(request, viewer, service, *, done="", error="", new_key=None, grant_form=None, confirm_revoke=False,
             confirm_key=None, status=200):
    """htmx: the card, refusals included (htmx swaps 2xx only). Plain POST: the account's
    page, with the message (and key) carried across one redirect; a refusal renders it.
    A question (confirm_revoke, confirm_key) is the card, or without htmx the page."""
    service = selectors.service_for_admin(viewer, service.public_id) or service
    row = selectors.service_rows(viewer, [service])[0]
    asks = {"confirm_revoke": confirm_revoke, "confirm_key": confirm_key}
    if request.htmx:
        context = _base_context(viewer) | {
            "row": _card(row, new_key=new_key, done=done, error=error, grant_form=grant_form, **asks)
        }
        response = fragment(request, "identity/services/_card.html", context)
        return no_store(response) if new_key else response
    if error or grant_form is not None or confirm_revoke or confirm_key:
        context = _base_context(viewer) | {"row": _card(row, error=error, grant_form=grant_form, **asks)}
        return render(request, "identity/services/one.html", context, status=status)
    if done:
        messages.success(request, done)
    response = redirect("service-admin", service.public_id)
    return carry_key(request, response, service, new_key) if new_key else response


# Pages -----------------------------------------------------------------------------------


@login_required
@require_GET
def services(request):
    """The org's service accounts with their grants, keys and tells."""
    viewer = _admin(request)
    paginator = Paginator(selectors.org_services(viewer), PER_PAGE)
    current = paginator.get_page(request.GET.get("page"))
    rows = selectors.service_rows(viewer, current.object_list)
    shown = take_key(request, [r.service for r in rows])
    for row in rows:
        _card(row, new_key=shown.get(row.service.public_id))
    context = _base_context(viewer) | {
        "page": current, "rows": rows, "told": sum(1 for r in rows if r.tells),
    }
    response = page(request, "identity/services/index.html", context, partial="services-body")
    return drop_pad(no_store(response)) if shown else response


@login_required
@require_GET
def service_admin(request, public_id):
    """One service account's card, on its own page (where plain forms land)."""
    viewer, service = _service(request, public_id)
    row = selectors.service_rows(viewer, [service])[0]
    shown = take_key(request, [service])
    context = _base_context(viewer) | {"row": _card(row, new_key=shown.get(service.public_id))}
    if request.htmx:  # "Cancel" inside a card: the card as it is
        response = fragment(request, "identity/services/_card.html", context)
    else:
        response = page(request, "identity/services/one.html", context)
    return drop_pad(no_store(response)) if shown else response


@login_required
@require_http_methods(["GET", "POST"])
def service_new(request):
    viewer = _admin(request)
    form = ServiceCreateForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                service, plaintext = service_services.service_create(
                    actor=viewer, org=viewer.org, name=form.cleaned_data["name"], handle=form.cleaned_data["handle"]
                )
            except ServiceError as exc:
                add_service_error(form, exc)
                status = exc.status
            else:
                messages.success(request, f"{service.display_name} is ready. Copy its key now: it is shown only once.")
                return carry_key(request, redirect("service-admin", service.public_id), service, plaintext)
        focus_first_error(form)
    return render(request, "identity/services/new.html", {"viewer": viewer, "form": form}, status=status)


@login_required
@require_GET
def service_tells(request):
    """Service accounts that look like one person's agent, and why."""
    viewer = _admin(request)
    return page(request, "identity/services/tells.html", {"viewer": viewer, "rows": selectors.org_tells(viewer)})


# Keys ------------------------------------------------------------------------------------


@login_required
@require_POST
def service_rotate(request, public_id):
    """A new key, shown once; the current one keeps working for the grace window. An
    account without a current key is simply issued one."""
    viewer, service = _service(request, public_id)
    try:
        with transaction.atomic():
            current = key_services.current_key(service)
            if current is None:
                _, plaintext = key_services.key_issue(actor=viewer, principal=service)
            else:
                _, plaintext = key_services.key_rotate(actor=viewer, key=current)
    except ServiceError as exc:
        return _respond(request, viewer, service, error=exc.detail, status=exc.status)
    return _respond(request, viewer, service, new_key=plaintext,
                    done=f"New key issued for {service.display_name}. Copy it now: it is shown only once.")


@login_required
@require_http_methods(["GET", "POST"])
def service_key_revoke(request, public_id, prefix):
    """GET asks (inside the card for htmx, as a page otherwise): a revoked key never works
    again, so it never rests on a script's dialog alone. POST revokes it at once."""
    viewer, service = _service(request, public_id)
    key = key_of(service, prefix)
    if key is None:
        raise Http404("No such key.")
    if request.method == "GET":
        if not key.is_usable():  # revoked, or run out: nothing left to ask about
            return redirect("service-admin", service.public_id)
        return _respond(request, viewer, service, confirm_key=key.prefix)
    if key.revoked_at is not None:
        return _respond(request, viewer, service, error=f"Key {key.display} is already revoked.", status=409)
    key_services.key_revoke(actor=viewer, key=key)
    return _respond(request, viewer, service, done=f"Key {key.display} is revoked: it stops working now.")


@login_required
@require_http_methods(["GET", "POST"])
def org_keys_rotate(request):
    """Incident response: every key of the org's agents and service accounts at once. GET
    says what will happen; POST does it and answers with the service accounts' new keys,
    shown once, right there (nothing waits in the session for a redirect). The agents'
    new keys are their owners' to issue: this page never sees them. The form carries the
    newest rotation it was drawn after, so sending it twice does not rotate twice."""
    viewer = _admin(request)
    form = OrgRotationForm(request.POST if request.method == "POST" else None)
    context = _base_context(viewer) | {"form": form}
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            grace = 0 if form.cleaned_data["when"] == "now" else settings.DOCK_KEY_GRACE_SECONDS
            try:
                result = key_services.org_keys_rotate(
                    actor=viewer, org=viewer.org, grace_seconds=grace, unless_since=form.cleaned_data["seen"]
                )
            except ServiceError as exc:
                add_service_error(form, exc)
                status = exc.status
            else:
                context["result"] = result
                return no_store(render(request, "identity/services/rotate_all.html", context))
    last = key_services.last_org_rotation(viewer.org)
    context |= {"preview": key_services.org_keys_preview(viewer.org), "last": last, "seen": last.id if last else 0}
    return render(request, "identity/services/rotate_all.html", context, status=status)


# The account -----------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def service_revoke(request, public_id):
    """GET asks (inside the card for htmx, as a page otherwise); POST revokes for good."""
    viewer, service = _service(request, public_id)
    if request.method == "GET":
        if service.status == Status.REVOKED:
            return redirect("service-admin", service.public_id)
        return _respond(request, viewer, service, confirm_revoke=True)
    try:
        service_services.service_revoke(actor=viewer, service=service)
    except ServiceError as exc:
        return _respond(request, viewer, service, error=exc.detail, status=exc.status)
    return _respond(request, viewer, service, done=f"{service.display_name} is revoked. Its keys are destroyed.")


# Grants ----------------------------------------------------------------------------------


@login_required
@require_POST
def service_grant(request, public_id):
    """Grant in a workspace of the org where the admin holds manage (checked again, locked,
    in the transaction of the grant)."""
    viewer, service = _service(request, public_id)
    row = selectors.service_rows(viewer, [service])[0]
    form = _grant_form(row, request.POST)
    if not form.is_valid():
        return _respond(request, viewer, service, grant_form=form, status=400)
    workspace, role = form.cleaned_data["workspace"], form.cleaned_data["role"]
    try:
        with workspace_services.managing(actor=viewer, workspace=workspace):
            workspace_services.membership_add(actor=viewer, workspace=workspace, principal=service, role=role)
    except ServiceError as exc:
        add_service_error(form, exc)
        return _respond(request, viewer, service, grant_form=form, status=exc.status)
    return _respond(request, viewer, service, done=f"{service.display_name} is now {role} in {workspace.name}.")


@login_required
@require_POST
def service_grant_remove(request, public_id, slug):
    """Org admins may take any grant of the org's accounts away (incident response), even
    where they could not grant it."""
    viewer, service = _service(request, public_id)
    grant = next((g for g in selectors.service_rows(viewer, [service])[0].grants if g.workspace.slug == slug), None)
    if grant is None:
        return _respond(request, viewer, service, error="That grant no longer exists.", status=404)
    try:
        workspace_services.membership_remove(actor=viewer, membership=grant)
    except ServiceError as exc:
        return _respond(request, viewer, service, error=exc.detail, status=exc.status)
    return _respond(request, viewer, service, done=f"{service.display_name} no longer has access to {grant.workspace.name}.")


# Adoption --------------------------------------------------------------------------------


def _reviewed_token(owner: Principal, scope: int) -> str:
    return f"{owner.public_id}:{scope}"


@login_required
@require_http_methods(["GET", "POST"])
def service_adopt(request, public_id):
    """Pick the owner and scope, see what inheritance gives and which grants go, confirm.

    GET ?owner=…[&scope=…] shows the preview (the tells page links here); POST with
    action=review refreshes it; POST with action=adopt adopts, but only the owner and
    scope whose preview was on the page (otherwise the preview is shown again)."""
    viewer, service = _service(request, public_id)
    if service.status == Status.REVOKED:
        messages.error(request, f"{service.display_name} is revoked: it cannot be adopted.")
        return redirect("service-admin", service.public_id)
    candidates = selectors.adoption_candidates(service)
    row = selectors.service_rows(viewer, [service])[0]
    default_scope = selectors.default_adoption_scope(row.grants)
    data = request.POST if request.method == "POST" else request.GET
    if request.method == "POST" or "owner" in data:
        if request.method == "GET" and "scope" not in data:
            data = data.copy()
            data.setlist("scope", caps.names(default_scope))
        form = AdoptForm(data, candidates=candidates)
        valid = form.is_valid()
    else:
        form = AdoptForm(candidates=candidates, initial={"scope": caps.names(default_scope)})
        valid = False
    preview = None
    status = 200
    notice = ""
    if valid:
        preview = selectors.adoption_preview(service, form.cleaned_data["owner"], form.cleaned_data["scope"])
    elif form.is_bound and not request.htmx:
        status = 400  # htmx swaps 2xx answers only: its refreshed preview shows the errors

    if request.method == "POST" and valid and data.get("action") == "adopt":
        owner, scope = form.cleaned_data["owner"], form.cleaned_data["scope"]
        if data.get("reviewed") != _reviewed_token(owner, scope):
            notice = "The owner or scope changed since the preview you saw: check this one, then confirm."
        else:
            # A key carries its owner's access: it is handed to the owner only (who may
            # be the admin adopting it).
            mine = owner.pk == viewer.pk
            try:
                agent, plaintext = service_services.service_adopt(
                    actor=viewer, service=service, owner=owner, scope=scope, issue_key=mine
                )
            except ServiceError as exc:
                add_service_error(form, exc)
                preview, status = None, exc.status
            else:
                response = redirect(agent.get_absolute_url())
                if not mine:
                    messages.success(request, f"{agent.display_name} is now {owner.display_name}'s agent. Its old keys "
                                              f"no longer work; {owner.display_name} issues its new one from this page.")
                    return response
                messages.success(request, f"{agent.display_name} is now your agent. Copy its new key now: it is shown only once.")
                return carry_key(request, response, agent, plaintext)

    context = {
        "viewer": viewer,
        "service": service,
        "row": row,
        "form": form,
        "preview": preview,
        "reviewed": _reviewed_token(preview.owner, preview.scope) if preview else "",
        "notice": notice,
        "adopt_url": reverse("service-adopt", args=[service.public_id]),
        "swapped": wants_fragment(request),  # only the preview is sent (not the back button's whole page)
    }
    return page(request, "identity/services/adopt.html", context, partial="adopt-preview", status=status)
