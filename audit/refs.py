"""Plain snapshots of who did what, where: the audit app's whole view of the other apps.

Other apps hand `record` objects that know how to describe themselves
(`audit_actor()`, `audit_target()`, `audit_workspace()`), or these refs directly.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class ActorRef:
    id: str
    kind: str  # human | agent | service | system
    name: str
    owner_id: str = ""
    owner_name: str = ""
    org: str = ""


@dataclass(frozen=True)
class TargetRef:
    kind: str
    id: str
    name: str = ""
    org: str = ""


@dataclass(frozen=True)
class WorkspaceRef:
    slug: str
    org: str


SYSTEM = ActorRef(id="system", kind="system", name="Dock")


def as_actor(actor) -> ActorRef:
    return actor if isinstance(actor, ActorRef) else actor.audit_actor()


def as_target(target) -> TargetRef | None:
    if target is None or isinstance(target, TargetRef):
        return target
    return target.audit_target()


def as_workspace(workspace) -> WorkspaceRef | None:
    if workspace is None or isinstance(workspace, WorkspaceRef):
        return workspace
    return workspace.audit_workspace()
