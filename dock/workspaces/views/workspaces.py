from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.shortcuts import redirect
from django.views.decorators.http import require_http_methods

from identity import access
from identity import capabilities as caps
from identity.errors import Conflict, ServiceError
from identity.forms import focus_first_error

from .. import selectors, services
from ..forms import NewDocumentForm, WorkspaceForm, WorkspaceSettingsForm, add_service_error
from .common import acting, invalid_status, need, page, with_profile_links, workspace_view


def _show_derived_slug(form, slug: str) -> None:
    """The slug left blank was made from the name and refused: put it in the field and
    name it, so the error is about something on screen."""
    form.data = form.data.copy()
    form.data["slug"] = slug
    form.errors["slug"] = form.error_class([f"“{slug}”, made from the name, is taken: choose another slug."])


@login_required
@require_http_methods(["GET", "POST"])
def workspace_new(request):
    me = acting(request)
    form = WorkspaceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            # The creator becomes the first admin (the service does that for a human actor).
            workspace = services.workspace_create(
                actor=me, org=me.org, slug=data["slug"], name=data["name"], visibility=data["visibility"],
                restricted=data["restricted"], description=data["description"],
            )
        except ServiceError as exc:
            slug = data["slug"]  # before add_service_error takes a refused field out of cleaned_data
            add_service_error(form, exc)
            if isinstance(exc, Conflict) and form.has_error("slug") and not (form.data.get("slug") or "").strip():
                _show_derived_slug(form, slug)
        else:
            messages.success(request, f"{workspace.name} is ready. Invite your team from Members.")
            return redirect("workspace", slug=workspace.slug)
    status = invalid_status(request) if form.is_bound else 200
    if form.is_bound:
        focus_first_error(form)
    return page(request, "workspaces/workspace_new.html", {"form": form}, status=status)


@workspace_view
@require_http_methods(["GET", "POST"])
def workspace(request, workspace):
    """The documents, newest first; POST writes a new one."""
    me = acting(request)
    decision = workspace.decision
    form = NewDocumentForm(request.POST or None) if decision.allows(caps.WRITE) or request.method == "POST" else None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                with transaction.atomic():
                    access.require(me, workspace, caps.WRITE, lock=True)
                    document = services.document_create(
                        actor=me, workspace=workspace, title=form.cleaned_data["title"], body=form.cleaned_data["body"],
                    )
            except ServiceError as exc:
                if exc.fields:
                    add_service_error(form, exc)
                else:
                    raise
            else:
                return redirect("document", slug=workspace.slug, doc_id=document.public_id)
        status = invalid_status(request)
        focus_first_error(form)
    documents = selectors.document_page(principal=me, workspace=workspace, page=request.GET.get("page"))
    with_profile_links(me, [p for doc in documents for p in (doc.author, doc.updated_by)])
    return page(
        request, "workspaces/workspace.html",
        {"workspace": workspace, "decision": decision, "documents": documents, "form": form, "tab": "documents"},
        fragment="documents" if request.method == "GET" else None, status=status,
    )


def _settings_notice(result: services.Updated) -> str:
    """What a saved change did, in a sentence or two."""
    if not result.changed:
        return "Nothing changed."
    parts = [f"Saved {result.workspace.name}'s settings."]
    if result.elevations_removed:
        n = result.elevations_removed
        parts.append(f"{n} elevation{'s' if n != 1 else ''} removed: members' agents work here by their owner's role again.")
    if result.proposals_cancelled:
        n = result.proposals_cancelled
        asked = "the agent that asked" if n == 1 else "the agents that asked"
        parts.append(f"{n} pending proposal{'s' if n != 1 else ''} cancelled: {asked} can no longer delete here.")
    return " ".join(parts)


def _described_by(bound_field, *ids: str) -> None:
    """Read out `ids` (what changing the field takes away) after the field's own help and
    errors; once the form is validated, so that an error is among them."""
    own = bound_field.aria_describedby or ""
    bound_field.field.widget.attrs["aria-describedby"] = " ".join(filter(None, [own, *ids]))


@workspace_view
@require_http_methods(["GET", "POST"])
def workspace_settings(request, workspace):
    """Name, description, visibility and restriction, for those who manage the workspace.
    The page says beforehand who would lose access; saving takes it at once (the service
    removes or cancels what rested on the old setting, in the same transaction)."""
    me = acting(request)
    need(workspace, caps.MANAGE)
    initial = {name: getattr(workspace, name) for name in ("name", "visibility", "restricted", "description")}
    form = WorkspaceSettingsForm(request.POST if request.method == "POST" else None, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                with services.managing(actor=me, workspace=workspace):
                    result = services.workspace_update(actor=me, workspace=workspace, **form.cleaned_data)
            except ServiceError as exc:
                if not exc.fields:
                    raise
                add_service_error(form, exc)
            else:
                messages.success(request, _settings_notice(result))
                return redirect("workspace-settings", slug=workspace.slug)
        status = invalid_status(request)
    _described_by(form["visibility"], "visibility-impact")
    _described_by(form["restricted"], "restriction-impact-summary")
    impact = selectors.settings_impact(principal=me, workspace=workspace)
    context = {
        "workspace": workspace, "decision": workspace.decision, "form": form, "tab": "settings",
        "restriction_impact": impact.restriction,
        "restriction_dormant": sum(1 for item in impact.restriction if item.dormant),
        "visibility_impact": impact.visibility,
        "elevations": selectors.elevation_count(principal=me, workspace=workspace),
        # A guest admin from another org is not told how many people the host org has.
        "org_readers": selectors.org_readers(principal=me, workspace=workspace) if me.org_id == workspace.org_id else None,
    }
    return page(request, "workspaces/settings.html", context, status=status)
