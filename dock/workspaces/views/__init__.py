"""The workspace pages: thin views over selectors (reads) and services (writes)."""

from .documents import document, document_comment, document_delete, document_edit
from .invitations import invite_accept
from .members import (
    elevation_grant,
    elevation_remove,
    invitation_create,
    invitation_revoke,
    member,
    member_remove,
    member_role,
    members,
)
from .workspaces import workspace, workspace_new, workspace_settings

__all__ = [
    "document", "document_comment", "document_delete", "document_edit", "elevation_grant", "elevation_remove",
    "invitation_create", "invitation_revoke", "invite_accept", "member", "member_remove", "member_role", "members",
    "workspace", "workspace_new", "workspace_settings",
]
