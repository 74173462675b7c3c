"""Request and response schemas: they validate what comes in and describe, in the OpenAPI
document, exactly the shapes the presenters send out."""

from datetime import datetime
from typing import Literal

from ninja import Field, Schema
from pydantic import ConfigDict

from dock.workspaces.services import BODY_MAX, COMMENT_MAX, TITLE_MAX


class Strict(Schema):
    model_config = ConfigDict(extra="forbid")


# In ------------------------------------------------------------------------------------


class DocumentIn(Strict):
    title: str = Field(..., min_length=1, max_length=TITLE_MAX)
    body: str = Field("", max_length=BODY_MAX)


class DocumentPatch(Strict):
    title: str | None = Field(None, min_length=1, max_length=TITLE_MAX)
    body: str | None = Field(None, max_length=BODY_MAX)


class CommentIn(Strict):
    body: str = Field(..., min_length=1, max_length=COMMENT_MAX)


# Out -----------------------------------------------------------------------------------

Kind = Literal["human", "agent", "service"]
Capability = Literal["read", "comment", "write", "delete", "manage"]


class Error(Schema):
    error: str = Field(..., description="invalid_key | agent_inactive | forbidden | not_found | invalid | rate_limited | …")
    detail: str
    fields: dict[str, str] | None = Field(None, description="Per-field messages (400 invalid only).")


class PrincipalRef(Schema):
    id: str
    handle: str
    kind: Kind
    display_name: str
    avatar_url: str


class OwnerRef(Schema):
    id: str
    handle: str
    display_name: str


class Me(Schema):
    id: str
    handle: str
    kind: Kind
    display_name: str
    status: Literal["active", "paused", "suspended", "revoked", "deactivated"]
    scope: list[Capability]
    owner: OwnerRef | None


class WorkspaceOut(Schema):
    slug: str
    name: str
    capabilities: list[Capability]


class WorkspaceList(Schema):
    items: list[WorkspaceOut]
    next: str | None


class DocumentOut(Schema):
    id: str
    workspace: str
    title: str
    body: str
    author: PrincipalRef | None
    created: datetime
    updated: datetime


class DocumentList(Schema):
    items: list[DocumentOut]
    next: str | None


class CommentOut(Schema):
    id: str
    document: str
    body: str
    author: PrincipalRef | None
    created: datetime


class ProposalTarget(Schema):
    kind: str
    id: str
    name: str = Field(description="The document's title; empty for a caller that may not read the workspace.")


class ProposalOut(Schema):
    id: str
    status: Literal["pending", "approved", "rejected", "cancelled", "expired"]
    operation: str
    workspace: str
    target: ProposalTarget
    proposer: PrincipalRef
    created: datetime
    expires: datetime
    decided_by: PrincipalRef | None
    decided_at: datetime | None


class ProposalEnvelope(Schema):
    proposal: ProposalOut


class ProposalList(Schema):
    items: list[ProposalOut]
    next: str | None
