"""The workspace domain: workspaces, memberships, invitations, documents, comments, proposals.

It knows principals only as the rows it records as members and authors.
"""

from django.db import models
from django.utils import timezone

from audit.refs import TargetRef, WorkspaceRef
from identity import capabilities as caps
from identity.models import Org, Principal


class Visibility(models.TextChoices):
    MEMBERS = "members", "Members only"
    ORG = "org", "Everyone in the org can read"


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    EDITOR = "editor", "Editor"
    ADMIN = "admin", "Admin"


ROLE_CAPS = {
    Role.VIEWER: caps.READ,
    Role.EDITOR: caps.READ | caps.COMMENT | caps.WRITE | caps.DELETE,
    Role.ADMIN: caps.READ | caps.COMMENT | caps.WRITE | caps.DELETE | caps.MANAGE,
}
ROLE_RANK = {Role.VIEWER: 1, Role.EDITOR: 2, Role.ADMIN: 3}


class Workspace(models.Model):
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    org = models.ForeignKey(Org, on_delete=models.PROTECT, related_name="workspaces")
    visibility = models.CharField(max_length=16, choices=Visibility.choices, default=Visibility.MEMBERS)
    # Restricted: an owner's membership alone does not let their agents in; a workspace
    # admin must elevate each agent.
    restricted = models.BooleanField(default=False)
    description = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(Principal, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["org", "visibility"], name="workspace_org_visibility")]

    def __str__(self):
        return self.name

    def audit_workspace(self) -> WorkspaceRef:
        return WorkspaceRef(self.slug, self.org.slug)

    def audit_target(self) -> TargetRef:
        return TargetRef("workspace", self.slug, self.name)


class Membership(models.Model):
    """A human's role in a workspace, or a service account's explicit grant."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    principal = models.ForeignKey(Principal, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "principal"], name="membership_unique")]
        indexes = [models.Index(fields=["principal", "workspace"], name="membership_by_principal")]

    def __str__(self):
        return f"{self.principal} in {self.workspace} as {self.role}"


class Elevation(models.Model):
    """An agent let into a restricted workspace by a workspace admin."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="elevations")
    agent = models.ForeignKey(Principal, on_delete=models.CASCADE, related_name="elevations")
    granted_by = models.ForeignKey(Principal, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "agent"], name="elevation_unique")]
        indexes = [models.Index(fields=["agent"], name="elevation_by_agent")]

    def __str__(self):
        return f"{self.agent} elevated in {self.workspace}"


class InvitationQuerySet(models.QuerySet):
    def open(self):
        """Those whose link still works (Invitation.is_open): not accepted, withdrawn or run out."""
        return self.filter(accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now())


class Invitation(models.Model):
    public_id = models.CharField(max_length=40, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    token_digest = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(Principal, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(Principal, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["workspace", "accepted_at"], name="invitation_open")]

    def __str__(self):
        return f"{self.email} → {self.workspace}"

    @property
    def is_open(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None and self.expires_at > timezone.now()

    def joining_org(self):
        """The org a new person joins by signing up through this invitation: the
        inviter's. An admin of a workspace in another org brings in people of their own
        org, as guests of the workspace; joining the workspace's org would make them its
        members, who read every org-wide workspace there. (An invitation whose sender was
        deleted, and so has no inviter, cannot be used at all.)"""
        return self.invited_by.org

    def audit_target(self) -> TargetRef:
        return TargetRef("invitation", self.public_id, self.email)


class Document(models.Model):
    public_id = models.CharField(max_length=40, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="documents")
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    author = models.ForeignKey(Principal, null=True, on_delete=models.SET_NULL, related_name="documents")
    updated_by = models.ForeignKey(Principal, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["workspace", "-created_at", "-id"], name="document_newest")]

    def __str__(self):
        return self.title

    def audit_target(self) -> TargetRef:
        return TargetRef("document", self.public_id, self.title)


class Revision(models.Model):
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    author = models.ForeignKey(Principal, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["document", "number"], name="revision_unique")]
        ordering = ["-number"]

    def __str__(self):
        return f"{self.document} r{self.number}"


class Comment(models.Model):
    public_id = models.CharField(max_length=40, unique=True, editable=False)
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="comments")
    body = models.TextField()
    author = models.ForeignKey(Principal, null=True, on_delete=models.SET_NULL, related_name="comments")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["document", "created_at"], name="comment_by_document")]

    def __str__(self):
        return self.body[:60]

    def audit_target(self) -> TargetRef:
        return TargetRef("comment", self.public_id, self.body[:60])


class ProposalStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Expired"


class Proposal(models.Model):
    """An irreversible operation an agent asked for, waiting for a human or second agent."""

    OPERATIONS = {"document.delete": "Delete document"}

    public_id = models.CharField(max_length=40, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="proposals")
    proposer = models.ForeignKey(Principal, on_delete=models.CASCADE, related_name="proposals")
    # The proposer's owner when it asked (none for a service account): who answered for it
    # then, as its audit event says. An agent handed to another owner (transferred, or a
    # service account adopted) keeps what it asked for before, where its new owner may
    # never have been: those stay with the owner they were asked under.
    # No constraint in the database (Django still sets it null when that human is
    # deleted): a constraint's check locks the owner's row (KEY SHARE) whenever an approval
    # updates the proposal a second time, after the deactivation of that owner has locked
    # it and waits for the proposer's row, which the approval holds: a deadlock.
    owner = models.ForeignKey(Principal, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_constraint=False)
    operation = models.CharField(max_length=32)
    document = models.ForeignKey(Document, null=True, blank=True, on_delete=models.SET_NULL, related_name="proposals")
    target_id = models.CharField(max_length=64)
    target_name = models.CharField(max_length=200)
    reason = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=16, choices=ProposalStatus.choices, default=ProposalStatus.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    decided_by = models.ForeignKey(Principal, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    # Why a cancelled proposal was (services.proposals_cancel): "owner left the workspace".
    cancelled_because = models.CharField(max_length=100, blank=True, default="")

    class Meta:
        indexes = [
            models.Index(fields=["workspace", "status"], name="proposal_by_workspace"),
            models.Index(fields=["proposer", "status"], name="proposal_by_proposer"),
        ]

    def __str__(self):
        return f"{self.operation} {self.target_name} ({self.status})"

    @property
    def operation_label(self) -> str:
        return self.OPERATIONS.get(self.operation, self.operation)

    @property
    def current_target_name(self) -> str:
        """What approving would delete, as it is now (the title may have changed since)."""
        document = self.document if self.document_id else None
        return document.title if document is not None else self.target_name

    @property
    def edited_since_asked(self) -> bool:
        document = self.document if self.document_id else None
        return document is not None and document.updated_at > self.created_at

    @property
    def is_pending(self) -> bool:
        return self.status == ProposalStatus.PENDING and self.expires_at > timezone.now()

    def audit_target(self) -> TargetRef:
        return TargetRef("proposal", self.public_id, f"{self.operation_label}: {self.target_name}")
