from django.contrib import messages
from django.db import transaction
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from identity import access, consent
from identity import capabilities as caps
from identity.errors import ServiceError
from identity.forms import focus_first_error

from .. import selectors, services
from ..forms import CommentForm, DocumentEditForm, add_service_error
from .common import acting, invalid_status, need, page, with_profile_links, workspace_view


def _document_context(me, workspace, document, **extra) -> dict:
    comments = selectors.comments_of(principal=me, document=document)
    revisions = selectors.revisions_of(principal=me, document=document)
    with_profile_links(me, [document.author, document.updated_by, *(c.author for c in comments), *(r.author for r in revisions)])
    return {
        "workspace": workspace,
        "decision": workspace.decision,
        "document": document,
        "comments": comments,
        "revisions": revisions,
        "tab": "documents",
        **extra,
    }


@workspace_view
@require_http_methods(["GET"])
def document(request, workspace, doc_id: str):
    me = acting(request)
    doc = selectors.document_get(principal=me, workspace=workspace, public_id=doc_id)
    comment_form = CommentForm() if workspace.decision.allows(caps.COMMENT) else None
    return page(request, "workspaces/document.html", _document_context(me, workspace, doc, comment_form=comment_form))


@workspace_view
@require_http_methods(["GET", "POST"])
def document_edit(request, workspace, doc_id: str):
    me = acting(request)
    doc = selectors.document_get(principal=me, workspace=workspace, public_id=doc_id)
    # Seeing the form needs write too: a reader is told so rather than shown a form that fails.
    need(workspace, caps.WRITE)
    form = DocumentEditForm(request.POST or None, document=doc)
    status, newer = 200, None
    if request.method == "POST":
        if form.is_valid():
            try:
                with transaction.atomic():
                    access.require(me, workspace, caps.WRITE, lock=True)
                    services.document_update(actor=me, document=doc, title=form.cleaned_data["title"],
                                             body=form.cleaned_data["body"], unchanged_since=form.cleaned_data["seen"])
            except services.EditConflict as exc:
                # Their text stays saved and this one stays in the form: saving again
                # replaces theirs, now knowingly (a revision keeps it either way).
                form.add_error(None, exc.detail)
                form.saw(exc.document)
                newer = exc.document
            except ServiceError as exc:
                if not exc.fields:
                    raise
                add_service_error(form, exc)
            else:
                messages.success(request, "Saved.")
                return redirect("document", slug=workspace.slug, doc_id=doc.public_id)
        status = 409 if newer else invalid_status(request)
        focus_first_error(form)
    return page(request, "workspaces/document_edit.html",
                {"workspace": workspace, "decision": workspace.decision, "document": doc, "form": form, "tab": "documents",
                 "newer": newer},
                status=status)


@workspace_view
@require_http_methods(["GET", "POST"])
def document_delete(request, workspace, doc_id: str):
    """GET asks for confirmation; POST deletes through the consent gate (a human's delete
    runs at once; the gate checks `delete` in the same transaction)."""
    me = acting(request)
    doc = selectors.document_get(principal=me, workspace=workspace, public_id=doc_id)
    need(workspace, caps.DELETE)
    if request.method == "POST":
        consent.document_delete_request(actor=me, document=doc)
        messages.success(request, f"Deleted “{doc.title}”.")
        return redirect("workspace", slug=workspace.slug)
    return page(request, "workspaces/document_delete.html",
                {"workspace": workspace, "decision": workspace.decision, "document": doc, "tab": "documents"})


@workspace_view
@require_http_methods(["POST"])
def document_comment(request, workspace, doc_id: str):
    me = acting(request)
    doc = selectors.document_get(principal=me, workspace=workspace, public_id=doc_id)
    form = CommentForm(request.POST)
    status, posted = 200, None
    if form.is_valid():
        try:
            with transaction.atomic():
                access.require(me, workspace, caps.COMMENT, lock=True)
                posted = services.comment_create(actor=me, document=doc, body=form.cleaned_data["body"])
        except ServiceError as exc:
            if not exc.fields:
                raise
            add_service_error(form, exc)
            status = invalid_status(request)
        else:
            if not request.htmx:
                return redirect(reverse("document", args=[workspace.slug, doc.public_id]) + f"#{posted.public_id}")
            form = CommentForm()
    else:
        status = invalid_status(request)
    if form.errors:  # back to the text, to mend it
        form.fields["body"].widget.attrs["autofocus"] = True
    # The comments are swapped in whole, the form with them: keyboard focus goes to the
    # comment just posted (which a screen reader then reads out), or back to the text.
    context = _document_context(me, workspace, doc, comment_form=form, posted=posted and posted.public_id)
    return page(request, "workspaces/document.html", context, fragment="comments", status=status)
