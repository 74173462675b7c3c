from . import chain
from .models import AuditEvent, ChainHead

CHAIN_FIELDS = ("id", *chain.HASHED, "hash")


def chain_rows(chunk_size: int = 5000):
    """Every event as a dict of its columns, in chain order, without building models."""
    return AuditEvent.objects.order_by("id").values(*CHAIN_FIELDS).iterator(chunk_size=chunk_size)


def chain_head() -> dict:
    head = ChainHead.objects.filter(pk=1).first()
    if head is None:
        return {"hash": chain.GENESIS, "count": 0, "last_event_id": None}
    return {"hash": head.hash, "count": head.count, "last_event_id": head.last_event_id}


def verify_chain() -> chain.VerifyResult:
    head = chain_head()
    return chain.verify(chain_rows(), expected_count=head["count"], expected_head=head["hash"])


def filtered_events(
    *,
    actor_id: str | None = None,
    actor_kind: str | None = None,
    owner_id: str | None = None,
    workspace: str | None = None,
    action: str | None = None,
    since=None,
    until=None,
    org: str | None = None,
):
    """Events matching every given filter (ids are public ids; `org` scopes to what an
    org's auditors may see: its workspaces' events and its principals' events)."""
    from django.db.models import Q

    qs = AuditEvent.objects.all()
    if org:
        qs = qs.filter(Q(org=org) | Q(actor_org=org))
    if actor_id:
        qs = qs.filter(actor_id=actor_id)
    if actor_kind:
        qs = qs.filter(actor_kind=actor_kind)
    if owner_id:
        qs = qs.filter(owner_id=owner_id)
    if workspace:
        qs = qs.filter(workspace=workspace)
    if action:
        qs = qs.filter(action__startswith=action[:-1]) if action.endswith("*") else qs.filter(action=action)
    if since:
        qs = qs.filter(occurred_at__gte=since)
    if until:
        qs = qs.filter(occurred_at__lt=until)
    return qs


def export_rows(qs, chunk_size: int = 2000):
    """Rows of `qs` as dicts, in chain order, streamed in chunks."""
    return qs.order_by("id").values(*CHAIN_FIELDS).iterator(chunk_size=chunk_size)
