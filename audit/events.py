"""The registry of audit event names.

Names are stable dotted verbs: once an event is written under a name, the name means the
same thing forever. `audit.record` refuses any name that is not registered here.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class EventType:
    name: str
    description: str

    @property
    def group(self) -> str:
        return self.name.split(".", 1)[0]


REGISTRY: dict[str, EventType] = {}


def register(name: str, description: str) -> str:
    if name in REGISTRY:
        raise ValueError(f"audit event {name!r} is registered twice")
    REGISTRY[name] = EventType(name, description)
    return name


def describe(name: str) -> str:
    """A name's registered description ("A comment was posted"), or the name itself."""
    registered = REGISTRY.get(name)
    return registered.description if registered else name


def grouped() -> dict[str, list[EventType]]:
    groups: dict[str, list[EventType]] = {}
    for event in sorted(REGISTRY.values(), key=lambda e: e.name):
        groups.setdefault(event.group, []).append(event)
    return groups


# Orgs and humans
ORG_CREATED = register("org.created", "An organisation was created")
HUMAN_CREATED = register("human.created", "A human joined an organisation")
HUMAN_ROLE_CHANGED = register("human.role_changed", "A human's organisation role changed")
HUMAN_DEACTIVATED = register("human.deactivated", "A human was deactivated")
HUMAN_REACTIVATED = register("human.reactivated", "A human was reactivated")
HUMAN_DELETED = register("human.deleted", "A human was deleted")
HUMAN_LOGGED_IN = register("human.logged_in", "A human signed in")
HUMAN_LOGIN_FAILED = register("human.login_failed", "A sign-in attempt failed")
HUMAN_LOGGED_OUT = register("human.logged_out", "A human signed out")
HUMAN_PASSWORD_CHANGED = register("human.password_changed", "A human changed their password")
PRINCIPAL_PROFILE_UPDATED = register("principal.profile_updated", "A profile's name or avatar changed")

# Agents
AGENT_CREATED = register("agent.created", "An agent was created")
AGENT_PAUSED = register("agent.paused", "An agent was paused by its owner")
AGENT_RESUMED = register("agent.resumed", "A paused agent was resumed")
AGENT_SUSPENDED = register("agent.suspended", "An agent was suspended because its owner was deactivated")
AGENT_RESTORED = register("agent.restored", "A suspended agent was restored by an org admin")
AGENT_REVOKED = register("agent.revoked", "An agent was revoked for good")
AGENT_TRANSFERRED = register("agent.transferred", "An agent was transferred to another owner")
AGENT_SCOPE_CHANGED = register("agent.scope_changed", "An agent's scope changed")
AGENT_DELETED = register("agent.deleted", "An agent was deleted with its owner")
AGENT_ELEVATED = register("agent.elevated", "An agent was elevated into a restricted workspace")
AGENT_ELEVATION_REMOVED = register("agent.elevation_removed", "An agent's elevation was removed")

# Keys
KEY_ISSUED = register("agent.key.issued", "An API key was issued")
KEY_ROTATED = register("agent.key.rotated", "An API key was rotated; the old one runs out after the grace window")
KEY_REVOKED = register("agent.key.revoked", "An API key was revoked")
KEY_RETIRED = register(
    "agent.key.retired",
    "An API key was set to run out with no successor: whoever looks after its agent or service account issues the next one",
)
ORG_KEYS_ROTATED = register(
    "org.keys.rotated",
    "Every API key of an organisation was rotated at once: service accounts' replaced, agents' retired for their owners to replace",
)

# Service accounts
SERVICE_CREATED = register("service.created", "A service account was created")
SERVICE_REVOKED = register("service.revoked", "A service account was revoked")
SERVICE_ADOPTED = register("service.adopted", "A service account was adopted as an agent")

# Workspaces
WORKSPACE_CREATED = register("workspace.created", "A workspace was created")
WORKSPACE_UPDATED = register("workspace.updated", "A workspace's settings changed")
MEMBER_ADDED = register("workspace.member.added", "Someone was added to a workspace")
MEMBER_REMOVED = register("workspace.member.removed", "Someone was removed from a workspace")
MEMBER_ROLE_CHANGED = register("workspace.member.role_changed", "A member's workspace role changed")
INVITATION_CREATED = register("workspace.invitation.created", "An invitation was sent")
INVITATION_ACCEPTED = register("workspace.invitation.accepted", "An invitation was accepted")
INVITATION_REVOKED = register("workspace.invitation.revoked", "An invitation was withdrawn")

# Documents
DOCUMENT_CREATED = register("document.created", "A document was created")
DOCUMENT_UPDATED = register("document.updated", "A document was edited")
DOCUMENT_DELETED = register("document.deleted", "A document was deleted")
COMMENT_CREATED = register("comment.created", "A comment was posted")

# Consent gate
PROPOSAL_CREATED = register("proposal.created", "An agent proposed an irreversible operation")
PROPOSAL_APPROVED = register("proposal.approved", "A proposal was approved and carried out")
PROPOSAL_REJECTED = register("proposal.rejected", "A proposal was rejected")
PROPOSAL_CANCELLED = register("proposal.cancelled", "A proposal was cancelled")
PROPOSAL_EXPIRED = register("proposal.expired", "A proposal expired undecided")

# API
API_DENIED = register("api.denied", "An API request with a well-formed key was refused")
