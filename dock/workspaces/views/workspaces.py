from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.shortcuts import redirect
from django.views.decorators.http import require_http_methods

from identity import access
from identity import capabilities as caps
from identity.errors import Conflict, ServiceError

from .. import selectors, services
from ..forms import NewDocumentForm, WorkspaceForm, add_service_error
from .common import acting, invalid_status, page, with_profile_links, workspace_view


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
    documents = selectors.document_page(principal=me, workspace=workspace, page=request.GET.get("page"))
    with_profile_links(me, [p for doc in documents for p in (doc.author, doc.updated_by)])
    return page(
        request, "workspaces/workspace.html",
        {"workspace": workspace, "decision": decision, "documents": documents, "form": form, "tab": "documents"},
        fragment="documents" if request.method == "GET" else None, status=status,
    )
