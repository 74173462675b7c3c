"""Done-when: an agent created on the CLI does everything in SPEC's API table with its key;
each action shows in the audit export with the agent as actor and its owner as owner,
and the delete goes through the consent gate."""

import io
import json

import pytest
from django.core.management import call_command

from dock.workspaces.models import Document, Proposal
from identity import consent
from identity.api.testing import ApiClient
from identity.models import Principal

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_cache(hermetic_api):
    """A private cache and a pinned rate-limit window (see the root conftest)."""


def dock(*args) -> dict:
    out = io.StringIO()
    call_command("dock", *args, stdout=out)
    return json.loads(out.getvalue())


def export(*args) -> list[dict]:
    out = io.StringIO()
    call_command("dock", "audit", "export", *args, stdout=out)
    return [json.loads(line) for line in out.getvalue().splitlines() if line]


def test_cli_agent_does_everything_and_the_audit_export_shows_it():
    dock("org", "create", "acme", "--name", "Acme")
    olive = dock("user", "create", "olive@acme.test", "--org", "acme", "--name", "Olive Owner")
    paul = dock("user", "create", "paul@acme.test", "--org", "acme", "--name", "Paul Peer")
    dock("workspace", "create", "team", "--org", "acme", "--name", "Team")
    dock("member", "add", "team", "olive@acme.test", "--role", "editor")
    dock("member", "add", "team", "paul@acme.test", "--role", "editor")
    scout = dock("agent", "create", "--owner", "olive@acme.test", "--name", "Scout", "--scope", "read,comment,write,delete")
    second = dock("agent", "create", "--owner", "paul@acme.test", "--name", "Second", "--scope", "read,delete")
    api, peer = ApiClient(scout["key"]), ApiClient(second["key"])

    me = api.get("/api/v1/me")
    assert me.status_code == 200
    assert me.data["id"] == scout["id"] and me.data["owner"]["id"] == olive["id"]

    spaces = api.get("/api/v1/workspaces")
    assert spaces.data["items"] == [{"slug": "team", "name": "Team", "capabilities": ["read", "comment", "write", "delete"]}]

    created = api.post("/api/v1/workspaces/team/documents", {"title": "Field notes", "body": "Day one."})
    assert created.status_code == 201
    doc_id = created.data["id"]
    listed = api.get("/api/v1/workspaces/team/documents")
    assert [d["id"] for d in listed.data["items"]] == [doc_id] and listed.data["next"] is None
    assert api.get(f"/api/v1/documents/{doc_id}").data["author"]["id"] == scout["id"]
    assert api.patch(f"/api/v1/documents/{doc_id}", {"body": "Day one, revised."}).status_code == 200
    comment = api.post(f"/api/v1/documents/{doc_id}/comments", {"body": "Reviewed."})
    assert comment.status_code == 201

    # The delete goes through the gate: a proposal, decided by a second agent owned by Paul.
    proposal = api.delete(f"/api/v1/documents/{doc_id}")
    assert proposal.status_code == 202 and proposal.data["proposal"]["status"] == "pending"
    proposal_id = proposal.data["proposal"]["id"]
    assert Document.objects.filter(public_id=doc_id).exists()
    assert [p["id"] for p in api.get("/api/v1/proposals").data["items"]] == [proposal_id]
    assert [p["id"] for p in peer.get("/api/v1/proposals").data["items"]] == [proposal_id]
    assert api.post(f"/api/v1/proposals/{proposal_id}/approve").status_code == 403  # never the proposer
    approved = peer.post(f"/api/v1/proposals/{proposal_id}/approve")
    assert approved.status_code == 200 and approved.data["proposal"]["status"] == "approved"
    assert not Document.objects.filter(public_id=doc_id).exists()

    # A second document: proposed again, rejected by the peer, then the owner approves a third.
    doc2 = api.post("/api/v1/workspaces/team/documents", {"title": "Draft", "body": ""}).data["id"]
    p2 = api.delete(f"/api/v1/documents/{doc2}").data["proposal"]["id"]
    assert peer.post(f"/api/v1/proposals/{p2}/reject").data["proposal"]["status"] == "rejected"
    assert Document.objects.filter(public_id=doc2).exists()
    p3 = api.delete(f"/api/v1/documents/{doc2}").data["proposal"]["id"]
    owner = Principal.objects.get(public_id=olive["id"])
    consent.proposal_approve(actor=owner, proposal=Proposal.objects.get(public_id=p3))
    assert not Document.objects.filter(public_id=doc2).exists()

    rows = export()
    by_scout = [r for r in rows if r["actor_id"] == scout["id"] and r["action"] != "api.denied"]
    actions = [r["action"] for r in by_scout]
    assert actions == [
        "document.created", "document.updated", "comment.created", "proposal.created", "document.deleted",
        "document.created", "proposal.created", "proposal.created", "document.deleted",
    ]
    for row in by_scout:
        assert row["actor_kind"] == "agent" and row["actor_name"] == "Scout"
        assert row["owner_id"] == olive["id"] and row["owner_name"] == "Olive Owner"
        assert row["workspace"] == "team"
        if row["details"].get("approved_by") != olive["id"]:  # (that one ran outside any request)
            # Every API write carries its request id and the client address.
            assert row["request_id"] and row["ip"] == "127.0.0.1"
    deletes = [r for r in by_scout if r["action"] == "document.deleted"]
    assert [d["details"]["approved_by"] for d in deletes] == [second["id"], olive["id"]]

    decided = [r for r in rows if r["action"] in ("proposal.approved", "proposal.rejected")]
    assert [(r["action"], r["actor_id"], r["owner_id"]) for r in decided] == [
        ("proposal.approved", second["id"], paul["id"]),
        ("proposal.rejected", second["id"], paul["id"]),
        ("proposal.approved", olive["id"], olive["id"]),
    ]
    denied = [r for r in rows if r["action"] == "api.denied"]
    assert [(r["actor_id"], r["details"]["status"]) for r in denied] == [(scout["id"], 403)]

    # The export's own filters find the same story.
    assert [r["action"] for r in export("--actor", scout["handle"]) if r["action"] != "api.denied"] == actions
    assert all(r["owner_id"] == olive["id"] for r in export("--actor", scout["handle"]))
    owned = export("--owner", "olive@acme.test", "--kind", "agent")
    assert {r["actor_id"] for r in owned} == {scout["id"]}
