"""The consent gate through the API: DELETE proposes, a second agent (or a human) decides."""

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from conftest import audit_mark
from dock.workspaces.models import Document, Proposal
from identity import consent
from identity.api.testing import ApiClient

pytestmark = pytest.mark.django_db
FULL = "read,comment,write,delete"


@pytest.fixture(autouse=True)
def fresh_cache(hermetic_api):
    """A private cache and a pinned rate-limit window (see the root conftest)."""


@pytest.fixture
def team(make):
    org = make.org()
    olive = make.human(org, "Olive Owner")
    paul = make.human(org, "Paul Peer")
    outsider = make.human(org, "Otto Outsider")
    ws = make.workspace(org, "team")
    make.member(ws, olive, "editor")
    make.member(ws, paul, "editor")
    proposer, proposer_key = make.agent(olive, "Proposer", scope=FULL)
    sibling, sibling_key = make.agent(olive, "Sibling", scope=FULL)
    second, second_key = make.agent(paul, "Second", scope=FULL)
    reader, reader_key = make.agent(paul, "Reader", scope="read")
    stranger, stranger_key = make.agent(outsider, "Stranger", scope=FULL)
    doc = make.document(ws, olive, title="Quarterly plan")
    return type("Team", (), dict(locals()))


def _propose(team):
    r = ApiClient(team.proposer_key).delete(f"/api/v1/documents/{team.doc.public_id}")
    assert r.status_code == 202, r.data
    return r.data["proposal"]


def test_delete_creates_a_pending_proposal_and_deletes_nothing(team):
    mark = audit_mark()
    proposal = _propose(team)
    assert set(proposal) == {"id", "status", "operation", "workspace", "target", "proposer", "created", "expires",
                             "decided_by", "decided_at"}
    assert proposal["status"] == "pending" and proposal["operation"] == "document.delete"
    assert proposal["target"] == {"kind": "document", "id": team.doc.public_id, "name": "Quarterly plan"}
    assert proposal["proposer"]["id"] == team.proposer.public_id and proposal["decided_by"] is None
    assert Document.objects.filter(pk=team.doc.pk).exists()
    (event,) = AuditEvent.objects.filter(id__gt=mark)
    assert event.action == "proposal.created"
    assert (event.actor_id, event.owner_id) == (team.proposer.public_id, team.olive.public_id)
    # Asking again returns the same pending proposal.
    assert _propose(team)["id"] == proposal["id"]
    assert Proposal.objects.count() == 1


def test_second_agent_owned_by_someone_else_approves(team):
    proposal = _propose(team)
    listed = ApiClient(team.second_key).get("/api/v1/proposals").data["items"]
    assert [p["id"] for p in listed] == [proposal["id"]]
    mark = audit_mark()
    r = ApiClient(team.second_key).post(f"/api/v1/proposals/{proposal['id']}/approve")
    assert r.status_code == 200, r.data
    assert r.data["proposal"]["status"] == "approved"
    assert r.data["proposal"]["decided_by"]["id"] == team.second.public_id
    assert not Document.objects.filter(pk=team.doc.pk).exists()
    events = {e.action: e for e in AuditEvent.objects.filter(id__gt=mark)}
    approved, deleted = events["proposal.approved"], events["document.deleted"]
    assert (approved.actor_id, approved.owner_id) == (team.second.public_id, team.paul.public_id)
    # The delete is the proposer's act, accountable to its owner, with the approver recorded.
    assert (deleted.actor_id, deleted.owner_id) == (team.proposer.public_id, team.olive.public_id)
    assert deleted.details["approved_by"] == team.second.public_id
    assert deleted.details["proposal"] == proposal["id"]
    # Decided once: a second decision conflicts.
    r = ApiClient(team.second_key).post(f"/api/v1/proposals/{proposal['id']}/reject")
    assert r.status_code == 409 and r.data["error"] == "invalid_transition"


def test_reject_keeps_the_document(team):
    proposal = _propose(team)
    r = ApiClient(team.second_key).post(f"/api/v1/proposals/{proposal['id']}/reject")
    assert r.status_code == 200 and r.data["proposal"]["status"] == "rejected"
    assert Document.objects.filter(pk=team.doc.pk).exists()
    assert AuditEvent.objects.filter(action="proposal.rejected", actor_id=team.second.public_id).exists()


@pytest.mark.parametrize("who", ["proposer_key", "sibling_key", "reader_key"])
def test_proposer_sibling_and_agents_without_delete_may_not_decide(team, who):
    proposal = _propose(team)
    mark = audit_mark()
    for verb in ("approve", "reject"):
        r = ApiClient(getattr(team, who)).post(f"/api/v1/proposals/{proposal['id']}/{verb}")
        assert r.status_code == 403 and r.data["error"] == "forbidden", r.data
    assert Proposal.objects.get(public_id=proposal["id"]).status == "pending"
    denied = AuditEvent.objects.filter(id__gt=mark)
    assert [e.action for e in denied] == ["api.denied", "api.denied"]
    assert all(e.workspace == "team" for e in denied)


def test_agent_that_cannot_see_the_workspace_gets_404(team):
    proposal = _propose(team)
    c = ApiClient(team.stranger_key)
    assert c.get("/api/v1/proposals").data["items"] == []
    r = c.post(f"/api/v1/proposals/{proposal['id']}/approve")
    assert r.status_code == 404 and r.data["error"] == "not_found"


def test_proposals_list_shows_own_and_decidable_only(team, make):
    proposal = _propose(team)
    assert [p["id"] for p in ApiClient(team.proposer_key).get("/api/v1/proposals").data["items"]] == [proposal["id"]]
    assert ApiClient(team.sibling_key).get("/api/v1/proposals").data["items"] == []
    # Readers cannot decide, so the proposal is not theirs to list.
    assert ApiClient(team.reader_key).get("/api/v1/proposals").data["items"] == []


def test_proposals_pending_filter_and_pagination(team, make):
    ids = []
    for i in range(3):
        doc = make.document(team.ws, team.olive, title=f"Doc {i}")
        r = ApiClient(team.proposer_key).delete(f"/api/v1/documents/{doc.public_id}")
        ids.append(r.data["proposal"]["id"])
    ApiClient(team.second_key).post(f"/api/v1/proposals/{ids[0]}/reject")
    c = ApiClient(team.second_key)
    pending = [p["id"] for p in c.get("/api/v1/proposals?pending=true").data["items"]]
    assert pending == [ids[2], ids[1]]
    seen, cursor = [], None
    while True:
        r = c.get("/api/v1/proposals?limit=1" + (f"&cursor={cursor}" if cursor else ""))
        seen += [p["id"] for p in r.data["items"]]
        cursor = r.data["next"]
        if not cursor:
            break
    assert seen == list(reversed(ids))
    # A cursor is the caller's own.
    first_cursor = c.get("/api/v1/proposals?limit=1").data["next"]
    r = ApiClient(team.proposer_key).get(f"/api/v1/proposals?cursor={first_cursor}")
    assert r.status_code == 400 and r.data["error"] == "invalid"


def test_expired_proposal_cannot_be_approved(team):
    proposal = _propose(team)
    Proposal.objects.filter(public_id=proposal["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    c = ApiClient(team.second_key)
    listed = c.get("/api/v1/proposals").data["items"]
    assert listed[0]["status"] == "expired"
    r = c.post(f"/api/v1/proposals/{proposal['id']}/approve")
    assert r.status_code == 409
    assert Document.objects.filter(pk=team.doc.pk).exists()
    # The refusal rolled back; the expiry itself is stored, and audited once.
    assert Proposal.objects.get(public_id=proposal["id"]).status == "expired"
    assert AuditEvent.objects.filter(action="proposal.expired", target_id=proposal["id"]).count() == 1
    assert c.post(f"/api/v1/proposals/{proposal['id']}/reject").status_code == 409
    assert AuditEvent.objects.filter(action="proposal.expired", target_id=proposal["id"]).count() == 1
    # Time ran out: nobody did it. Not the proposer (it would show as its own act, among
    # what its owner answers for), nor the agent whose approval found it expired.
    expired = AuditEvent.objects.get(action="proposal.expired", target_id=proposal["id"])
    assert (expired.actor_kind, expired.owner_id) == ("system", "")
    assert expired.details == {"proposer": team.proposer.public_id}


def test_delete_needs_the_delete_capability(team, make):
    writer, key = make.agent(team.olive, "Writer", scope="read,write")
    r = ApiClient(key).delete(f"/api/v1/documents/{team.doc.public_id}")
    assert r.status_code == 403 and r.data["error"] == "forbidden"
    assert not Proposal.objects.exists()


def test_owner_approves_through_the_consent_service(team):
    proposal = _propose(team)
    stored = Proposal.objects.get(public_id=proposal["id"])
    consent.proposal_approve(actor=team.olive, proposal=stored)
    assert not Document.objects.filter(pk=team.doc.pk).exists()
    r = ApiClient(team.proposer_key).get("/api/v1/proposals")
    assert r.data["items"][0]["status"] == "approved"
    assert r.data["items"][0]["decided_by"]["id"] == team.olive.public_id


def test_service_account_proposes_but_never_decides(team, make):
    service, key = make.service(team.org, "Janitor")
    make.member(team.ws, service, "editor")
    r = ApiClient(key).delete(f"/api/v1/documents/{team.doc.public_id}")
    assert r.status_code == 202 and r.data["proposal"]["proposer"]["kind"] == "service"
    own = _propose(team)
    r = ApiClient(key).post(f"/api/v1/proposals/{own['id']}/approve")
    assert r.status_code == 403
    r = ApiClient(team.second_key).post(f"/api/v1/proposals/{own['id']}/approve")
    assert r.status_code == 200


def test_a_proposal_names_its_document_by_its_current_title(team):
    """A second agent deciding sees what approving would delete, as it is now."""
    from dock.workspaces import services as workspace_services

    proposal = _propose(team)
    workspace_services.document_update(actor=team.olive, document=team.doc, title="Signed contract")
    listed = ApiClient(team.second_key).get("/api/v1/proposals").data["items"]
    assert [p["target"]["name"] for p in listed if p["id"] == proposal["id"]] == ["Signed contract"]
    decided = ApiClient(team.second_key).post(f"/api/v1/proposals/{proposal['id']}/reject")
    assert decided.status_code == 200 and decided.data["proposal"]["target"]["name"] == "Signed contract"


def test_an_approved_proposal_keeps_the_title_the_document_was_deleted_under(team):
    """Once deleted, the document is gone from the proposal; what it names from then on
    (the answer, lists, the audit row) is what was deleted, not the title it was asked under."""
    from dock.workspaces import services as workspace_services

    proposal = _propose(team)
    workspace_services.document_update(actor=team.olive, document=team.doc, title="Signed contract")
    mark = audit_mark()
    decided = ApiClient(team.second_key).post(f"/api/v1/proposals/{proposal['id']}/approve")
    assert decided.status_code == 200 and decided.data["proposal"]["target"]["name"] == "Signed contract"
    listed = ApiClient(team.proposer_key).get("/api/v1/proposals").data["items"]
    assert [p["target"]["name"] for p in listed if p["id"] == proposal["id"]] == ["Signed contract"]
    approved = AuditEvent.objects.get(id__gt=mark, action="proposal.approved")
    assert approved.target_name == "Delete document: Signed contract"


def test_a_service_account_is_told_it_never_decides(team, make):
    """A service account with delete in the workspace asking to approve was told the
    refusals an agent gets (its own, its owner's agent's, no delete): none of which was its
    case, so it read as a bug to retry. It is told what is so: service accounts never decide."""
    service, service_key = make.service(team.org, "CI")
    make.member(team.ws, service, "editor")
    proposal = _propose(team)
    r = ApiClient(service_key).post(f"/api/v1/proposals/{proposal['id']}/approve")
    assert r.status_code == 403 and r.data["error"] == "forbidden"
    assert r.data["detail"].startswith("Service accounts never decide proposals")
    assert Proposal.objects.get(public_id=proposal["id"]).status == "pending"
    # An agent still hears the agent's reasons.
    r = ApiClient(team.sibling_key).post(f"/api/v1/proposals/{proposal['id']}/approve")
    assert r.status_code == 403 and "nor one by an agent of your owner" in r.data["detail"]
