"""The API's JSON shapes, as plain dicts (SPEC "Agent JSON API")."""

from functools import lru_cache

from django.urls import get_script_prefix

from dock.workspaces.models import ProposalStatus
from identity.presenters import principal_ref

from ..models import Principal
from .rendering import iso


@lru_cache(maxsize=8192)
def _avatar_url(public_id: str, avatar: str, script_prefix: str) -> str:
    # The model owns the rule (uploaded file, or the generated orb); its answer depends
    # only on these, so it is worked out once per process, not once per row.
    return Principal(public_id=public_id, avatar=avatar).avatar_url


def author_from_row(public_id, handle, kind, display_name, avatar, cache: dict) -> dict | None:
    """A principal ref from raw columns; one per distinct author per response."""
    if public_id is None:
        return None
    ref = cache.get(public_id)
    if ref is None:
        avatar_url = _avatar_url(public_id, avatar or "", get_script_prefix())
        ref = cache[public_id] = {
            "id": public_id, "handle": handle, "kind": kind, "display_name": display_name, "avatar_url": avatar_url,
        }
    return ref


def documents_from_rows(rows, workspace_slug: str) -> list[dict]:
    """Rows as selected by queries.DOCUMENT_ROW → SPEC's document shape. The hot path:
    a tight loop over tuples, one author ref per distinct author."""
    authors: dict = {}
    out = []
    append = out.append
    for _pk, public_id, title, body, created, updated, a_id, a_handle, a_kind, a_name, a_avatar in rows:
        author = authors.get(a_id)
        if author is None and a_id is not None:
            author = author_from_row(a_id, a_handle, a_kind, a_name, a_avatar, authors)
        append({
            "id": public_id,
            "workspace": workspace_slug,
            "title": title,
            "body": body,
            "author": author,
            "created": created,  # formatted by the database (queries.iso_column)
            "updated": updated,
        })
    return out


def document(doc) -> dict:
    return {
        "id": doc.public_id,
        "workspace": doc.workspace.slug,
        "title": doc.title,
        "body": doc.body,
        "author": principal_ref(doc.author),
        "created": iso(doc.created_at),
        "updated": iso(doc.updated_at),
    }


def comment(c, *, document_id: str) -> dict:
    return {"id": c.public_id, "document": document_id, "body": c.body, "author": principal_ref(c.author), "created": iso(c.created_at)}


def proposal(p, *, named: bool = True) -> dict:
    """`named`: whether the caller may read the workspace, and so see the document's title
    (an agent with delete but not read may ask to delete a document, and no more)."""
    status = p.status
    if status == ProposalStatus.PENDING and not p.is_pending:
        status = ProposalStatus.EXPIRED  # past its expiry, not yet swept
    return {
        "id": p.public_id,
        "status": status,
        "operation": p.operation,
        "workspace": p.workspace.slug,
        "target": {"kind": "document", "id": p.target_id, "name": p.current_target_name if named else ""},
        "proposer": principal_ref(p.proposer),
        "created": iso(p.created_at),
        "expires": iso(p.expires_at),
        "decided_by": principal_ref(p.decided_by),
        "decided_at": iso(p.decided_at),
    }


def me(p) -> dict:
    from .. import capabilities

    owner = p.owner if p.owner_id else None
    return {
        "id": p.public_id,
        "handle": p.handle,
        "kind": p.kind,
        "display_name": p.display_name,
        "status": p.status,
        "scope": capabilities.names(p.scope),
        "owner": {"id": owner.public_id, "handle": owner.handle, "display_name": owner.display_name} if owner else None,
    }
