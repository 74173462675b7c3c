"""JSON shapes of principals, shared by the agent API and the operator CLI."""

from . import capabilities
from .models import Kind, Principal


def principal_ref(p: Principal | None) -> dict | None:
    if p is None:
        return None
    return {"id": p.public_id, "handle": p.handle, "kind": p.kind, "display_name": p.display_name, "avatar_url": p.avatar_url}


def principal_detail(p: Principal) -> dict:
    data = {
        "id": p.public_id,
        "handle": p.handle,
        "kind": p.kind,
        "display_name": p.display_name,
        "status": p.status,
        "org": p.org.slug,
        "created": p.created_at.isoformat(),
    }
    if p.kind == Kind.AGENT:
        data["scope"] = capabilities.names(p.scope)
        data["owner"] = {"id": p.owner.public_id, "handle": p.owner.handle, "display_name": p.owner.display_name}
    return data
