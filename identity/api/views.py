"""The endpoints (SPEC "Agent JSON API"). Thin: authenticate, check access through
identity.access, call the service, present.

Writes run `access.require(..., lock=True)` and the service in one transaction; the
services record the audit events (actor: the agent; owner: its owner).
"""

from django.db import transaction
from django.db.models import Q
from ninja import Query, Router

from dock.workspaces import services as ws
from dock.workspaces.models import Document, Proposal, Workspace

from .. import access, consent
from .. import capabilities as caps
from ..access import NotVisible
from ..errors import Forbidden, ProposalExpired
from ..models import Kind
from . import cursors, presenters, queries, schemas
from .api import AgentKey, api
from .auth import reconfirm_key
from .errors import FORBIDDEN, NOT_FOUND, ApiError
from .rendering import json_response

router = Router(tags=["agents"])

ERRORS = {code: schemas.Error for code in (400, 401, 403, 404, 429)}
WRITE_ERRORS = {**ERRORS, 409: schemas.Error}
PAGE_MAX = 100
PAGE_DEFAULT = 50


def _not_found() -> ApiError:
    return ApiError(404, NOT_FOUND, "Not found.")


def _forbidden(capability: int) -> ApiError:
    return ApiError(403, FORBIDDEN, f"This needs the {', '.join(caps.names(capability))} capability here.")


def _require(request, principal, workspace: Workspace, capability: int) -> access.Decision:
    """access.require, inside the caller's transaction, with row locks (on the key too)."""
    request.dock_denied_workspace = workspace
    try:
        decision = access.require(principal, workspace, capability, lock=True)
    except NotVisible:
        request.dock_denied_workspace = None  # a workspace the caller cannot see is not named
        raise
    reconfirm_key(request.auth)
    return decision


def _document(public_id: str) -> Document:
    document = Document.objects.select_related("workspace", "workspace__org", "author").filter(public_id=public_id).first()
    if document is None:
        raise _not_found()
    return document


# Who am I, and where may I work ------------------------------------------------------------


@router.get("/me", response={200: schemas.Me, **ERRORS}, summary="The calling principal")
def me(request):
    return json_response(presenters.me(request.auth.principal))


@router.get("/workspaces", response={200: schemas.WorkspaceList, **ERRORS}, summary="Workspaces visible to the caller")
def workspaces(request, cursor: str | None = None, limit: int = Query(PAGE_DEFAULT, ge=1, le=PAGE_MAX)):
    caller = request.auth
    qs = access.visible_workspaces(caller.principal).order_by("slug")
    if cursor:
        qs = qs.filter(slug__gt=cursors.single(cursor, "w", caller.principal_id))
    rows = list(qs.values("slug", "name", "caps")[: limit + 1])
    items = [{"slug": w["slug"], "name": w["name"], "capabilities": caps.names(w["caps"])} for w in rows[:limit]]
    next_cursor = cursors.encode("w", caller.principal_id, rows[limit - 1]["slug"]) if len(rows) > limit else None
    return json_response({"items": items, "next": next_cursor})


# Documents ------------------------------------------------------------------------------------


def documents_position(cursor: str | None, slug: str):
    """The keyset position a documents cursor names (None for the first page)."""
    return cursors.time_position(cursor, "d", slug) if cursor else None


def documents_page(request, caller, slug: str, limit: int, after=None):
    """The hot read, once authenticated: the caller's access facts in the workspace came
    with the key. The page itself did too when `caller.page` is set (identity.api.hot: one
    query in all); otherwise it is one more query, over raw rows."""
    decision = caller.decision_in_workspace()
    if decision is None or not decision.visible:
        raise _not_found()
    workspace_id = caller.workspace_id
    if not decision.allows(caps.READ):
        request.dock_denied_workspace = Workspace.objects.select_related("org").get(pk=workspace_id)
        raise _forbidden(caps.READ)
    rows = caller.page
    if rows is None:
        rows = queries.documents_page(workspace_id, limit=limit + 1, after=after)
    items = presenters.documents_from_rows(rows[:limit], slug)
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = cursors.encode("d", slug, cursors.micros(queries.created_at(last)), last[0])
    return json_response({"items": items, "next": next_cursor})


@router.get(
    "/workspaces/{slug}/documents",
    auth=AgentKey(workspace_param="slug"),
    response={200: schemas.DocumentList, **ERRORS},
    summary="Documents of a workspace, newest first",
)
def documents(request, slug: str, cursor: str | None = None, limit: int = Query(PAGE_DEFAULT, ge=1, le=PAGE_MAX)):
    # Requests are routed to identity.api.hot, which skips ninja's per-request parameter
    # models on this path; this operation describes it and answers identically.
    return documents_page(request, request.auth, slug, limit, documents_position(cursor, slug))


@router.post(
    "/workspaces/{slug}/documents",
    response={201: schemas.DocumentOut, **WRITE_ERRORS},
    summary="Create a document",
)
def document_create(request, slug: str, payload: schemas.DocumentIn):
    principal = request.auth.principal
    with transaction.atomic():
        workspace = Workspace.objects.select_related("org").filter(slug=slug).first()
        if workspace is None:
            raise _not_found()
        _require(request, principal, workspace, caps.WRITE)
        document = ws.document_create(actor=principal, workspace=workspace, title=payload.title, body=payload.body)
    return json_response(presenters.document(document), status=201)


@router.get("/documents/{id}", response={200: schemas.DocumentOut, **ERRORS}, summary="Read a document")
def document_read(request, id: str):
    caller = request.auth
    row = queries.document_with_access(id, member_id=caller.member_id, principal_id=caller.principal_id)
    if row is None:
        raise _not_found()
    w_id, w_org, visibility, restricted, w_slug, role, elevation_id = row[11:18]
    decision = caller.decide(workspace_org=w_org, visibility=visibility, restricted=restricted, role=role, elevation_id=elevation_id)
    if not decision.visible:
        raise _not_found()
    if not decision.allows(caps.READ):
        request.dock_denied_workspace = Workspace.objects.select_related("org").get(pk=w_id)
        raise _forbidden(caps.READ)
    return json_response(presenters.documents_from_rows([row[:11]], w_slug)[0])


@router.patch(
    "/documents/{id}",
    response={200: schemas.DocumentOut, **WRITE_ERRORS},
    summary="Update a document",
    description="Needs the read and write capabilities: the reply is the document.",
)
def document_update(request, id: str, payload: schemas.DocumentPatch):
    principal = request.auth.principal
    with transaction.atomic():
        document = _document(id)
        # The reply is the whole document: changing it takes reading it too.
        _require(request, principal, document.workspace, caps.READ | caps.WRITE)
        author = document.author
        document = ws.document_update(actor=principal, document=document, title=payload.title, body=payload.body)
        document.author = author
    return json_response(presenters.document(document))


@router.delete(
    "/documents/{id}",
    response={202: schemas.ProposalEnvelope, **WRITE_ERRORS},
    summary="Ask to delete a document (the consent gate)",
    description="Deleting is irreversible: an agent's request becomes a pending proposal that its owner, "
    "a workspace admin, or a second agent owned by someone else approves or rejects.",
)
def document_delete(request, id: str):
    principal = request.auth.principal
    with transaction.atomic():
        document = _document(id)
        decision = _require(request, principal, document.workspace, caps.DELETE)  # locks, then the key, before any write
        proposal = consent.document_delete_request(actor=principal, document=document, checked=decision)
    # Only humans delete outright, and humans do not hold API keys.
    assert proposal is not None
    return json_response({"proposal": presenters.proposal(proposal, named=decision.allows(caps.READ))}, status=202)


@router.post(
    "/documents/{id}/comments",
    response={201: schemas.CommentOut, **WRITE_ERRORS},
    summary="Comment on a document",
)
def comment_create(request, id: str, payload: schemas.CommentIn):
    principal = request.auth.principal
    with transaction.atomic():
        document = _document(id)
        _require(request, principal, document.workspace, caps.COMMENT)
        comment = ws.comment_create(actor=principal, document=document, body=payload.body)
    return json_response(presenters.comment(comment, document_id=document.public_id), status=201)


# Proposals (the consent gate) --------------------------------------------------------------------


@router.get("/proposals", response={200: schemas.ProposalList, **ERRORS}, summary="Proposals the caller made or may decide")
def proposals(request, cursor: str | None = None, pending: bool = False, limit: int = Query(PAGE_DEFAULT, ge=1, le=PAGE_MAX)):
    caller = request.auth
    qs = consent.proposals_for(caller.principal, pending_only=pending)
    if cursor:
        at, pk = cursors.time_position(cursor, "p", caller.principal_id)
        qs = qs.filter(Q(created_at__lt=at) | Q(created_at=at, id__lt=pk))
    rows = list(qs[: limit + 1])
    readable = {w.pk for w in access.visible_workspaces(caller.principal) if w.caps & caps.READ}
    items = [presenters.proposal(p, named=p.workspace_id in readable) for p in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = cursors.encode("p", caller.principal_id, cursors.micros(last.created_at), last.pk)
    return json_response({"items": items, "next": next_cursor})


def _why_not_decider(principal) -> str:
    if principal.kind == Kind.SERVICE:
        # None of an agent's reasons is its case: it is not one of the deciders at all.
        return ("Service accounts never decide proposals: a workspace admin, the owner of the agent that asked, "
                "or an agent with the read and delete capabilities here that someone else owns does.")
    return ("You cannot decide this proposal: never your own, nor one by an agent of your owner; agents need the "
            "read and delete capabilities in the workspace.")


def _decide(request, public_id: str, *, approve: bool):
    principal = request.auth.principal
    proposal = (
        Proposal.objects.select_related("workspace", "workspace__org", "proposer", "proposer__owner", "proposer__org", "decided_by")
        .filter(public_id=public_id)
        .first()
    )
    if proposal is None:
        raise _not_found()
    try:
        with transaction.atomic():
            # Seeing the workspace is what makes a proposal visible: 404 otherwise, never 403.
            _require(request, principal, proposal.workspace, caps.READ)
            decide = consent.proposal_approve if approve else consent.proposal_reject
            try:
                proposal = decide(actor=principal, proposal=proposal)
            except Forbidden:
                raise ApiError(403, FORBIDDEN, _why_not_decider(principal)) from None
    except ProposalExpired:
        ws.proposal_expire_if_due(proposal)  # refused (409); the expiry itself is stored
        raise
    proposal = Proposal.objects.select_related("workspace", "proposer", "decided_by", "document").get(pk=proposal.pk)
    return json_response({"proposal": presenters.proposal(proposal)})


@router.post(
    "/proposals/{id}/approve",
    response={200: schemas.ProposalEnvelope, **WRITE_ERRORS},
    summary="Approve a proposal (a second agent, never the proposer)",
)
def proposal_approve(request, id: str):
    return _decide(request, id, approve=True)


@router.post(
    "/proposals/{id}/reject",
    response={200: schemas.ProposalEnvelope, **WRITE_ERRORS},
    summary="Reject a proposal (a second agent, never the proposer)",
)
def proposal_reject(request, id: str):
    return _decide(request, id, approve=False)


api.add_router("/", router)
