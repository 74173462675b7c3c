"""Each endpoint × each principal state × each way a workspace can (not) be visible."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from audit.models import AuditEvent
from audit.refs import SYSTEM
from conftest import audit_mark
from dock.workspaces import services as ws_services
from dock.workspaces.models import Comment, Document, Proposal, Revision
from identity.api.testing import ApiClient
from identity.models import ApiKey
from identity.services import agents
from identity.services import keys as key_services

pytestmark = pytest.mark.django_db

FULL = "read,comment,write,delete"


@pytest.fixture(autouse=True)
def fresh_cache(hermetic_api):
    """A private cache and a pinned rate-limit window (see the root conftest)."""


class World:
    """An owner with an all-scope agent, and workspaces for every visibility case."""

    def __init__(self, make):
        self.make = make
        self.org = make.org(slug="acme")
        self.other_org = make.org(slug="globex")
        self.owner = make.human(self.org, "Olive Owner")
        self.colleague = make.human(self.org, "Carl Colleague")
        self.foreigner = make.human(self.other_org, "Fay Foreign")
        self.agent, self.key = make.agent(self.owner, "Scout", scope=FULL)

        def workspace(slug, org, *, visibility="members", restricted=False, owner_role=None, author=None):
            w = make.workspace(org, slug, visibility=visibility, restricted=restricted)
            author = author or (self.colleague if org == self.org else self.foreigner)
            make.member(w, author, "admin")
            if owner_role:
                make.member(w, self.owner, owner_role)
            return w, make.document(w, author, title=f"Doc in {slug}")

        self.spaces = {
            "member": workspace("member", self.org, owner_role="editor"),
            "org_visible": workspace("org-visible", self.org, visibility="org"),
            "restricted": workspace("restricted", self.org, restricted=True, owner_role="editor"),
            "restricted_elevated": workspace("restricted-elevated", self.org, restricted=True, owner_role="editor"),
            "other_org": workspace("other-org", self.other_org),
            "other_org_visible": workspace("other-org-visible", self.other_org, visibility="org"),
            "cross_org_via_owner": workspace("cross-org", self.other_org, owner_role="editor"),
            "viewer": workspace("viewer", self.org, owner_role="viewer"),
        }
        ws_services.elevation_grant(actor=SYSTEM, workspace=self.spaces["restricted_elevated"][0], agent=self.agent)


@pytest.fixture
def world(make):
    return World(make)


# What each endpoint does, as a function of (client, workspace, document) → response.
ENDPOINTS = {
    "list": lambda c, w, d: c.get(f"/api/v1/workspaces/{w.slug}/documents"),
    "create": lambda c, w, d: c.post(f"/api/v1/workspaces/{w.slug}/documents", {"title": "New", "body": "b"}),
    "read": lambda c, w, d: c.get(f"/api/v1/documents/{d.public_id}"),
    "update": lambda c, w, d: c.patch(f"/api/v1/documents/{d.public_id}", {"body": "changed"}),
    "comment": lambda c, w, d: c.post(f"/api/v1/documents/{d.public_id}/comments", {"body": "Nice"}),
    "delete": lambda c, w, d: c.delete(f"/api/v1/documents/{d.public_id}"),
}
OK = {"list": 200, "create": 201, "read": 200, "update": 200, "comment": 201, "delete": 202}
READ_ONLY = {"list": 200, "create": 403, "read": 200, "update": 403, "comment": 403, "delete": 403}
HIDDEN = dict.fromkeys(ENDPOINTS, 404)

EXPECTED = {
    "member": (OK, ["read", "comment", "write", "delete"]),
    "org_visible": (READ_ONLY, ["read"]),
    "restricted": (HIDDEN, None),
    "restricted_elevated": (OK, ["read", "comment", "write", "delete"]),
    "other_org": (HIDDEN, None),
    "other_org_visible": (HIDDEN, None),
    "cross_org_via_owner": (OK, ["read", "comment", "write", "delete"]),
    "viewer": (READ_ONLY, ["read"]),
}


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
@pytest.mark.parametrize("space", list(EXPECTED))
def test_visibility_matrix(world, space, endpoint):
    w, d = world.spaces[space]
    expected = EXPECTED[space][0][endpoint]
    mark = audit_mark()
    r = ENDPOINTS[endpoint](ApiClient(world.key), w, d)
    assert r.status_code == expected, (space, endpoint, r.data)
    events = list(AuditEvent.objects.filter(id__gt=mark).order_by("id"))
    if expected in (403, 404):
        assert r.data["error"] == {403: "forbidden", 404: "not_found"}[expected]
        (event,) = events
        assert event.action == "api.denied"
        assert (event.actor_id, event.owner_id) == (world.agent.public_id, world.owner.public_id)
        assert event.details["status"] == expected
        # A refusal in a workspace the agent can see names it; a hidden one is never named.
        assert event.workspace == (w.slug if expected == 403 else "")
    elif endpoint in ("list", "read"):
        assert events == []
    else:
        assert events, "every write is audited"
        assert all(e.actor_id == world.agent.public_id and e.owner_id == world.owner.public_id for e in events)
        assert all(e.request_id and e.ip == "127.0.0.1" for e in events)


def test_delete_checks_access_once(world, monkeypatch):
    """The API's own check (access rows locked, then the key) is the one the consent gate
    uses: the delete does not ask the database the same question twice."""
    from identity import access

    calls = []
    real = access.check
    monkeypatch.setattr(access, "check", lambda *a, **kw: calls.append((a, kw)) or real(*a, **kw))
    w, d = world.spaces["member"]
    r = ENDPOINTS["delete"](ApiClient(world.key), w, d)
    assert r.status_code == 202 and r.data["proposal"]["status"] == "pending"
    assert calls == [((world.agent.pk, w.pk), {"lock": True})]


def test_a_checked_delete_still_needs_the_delete_capability(world):
    from identity import access, consent
    from identity.errors import Forbidden

    w, d = world.spaces["viewer"]
    read_only = access.check(world.agent.pk, w.pk)
    with transaction.atomic(), pytest.raises(Forbidden):
        consent.document_delete_request(actor=world.agent, document=d, checked=read_only)
    assert not Proposal.objects.filter(document=d).exists()


@pytest.mark.parametrize("space", list(EXPECTED))
def test_workspaces_list_matches_visibility(world, space):
    r = ApiClient(world.key).get("/api/v1/workspaces")
    assert r.status_code == 200
    listed = {item["slug"]: item for item in r.data["items"]}
    w, _ = world.spaces[space]
    caps = EXPECTED[space][1]
    if caps is None:
        assert w.slug not in listed
    else:
        assert listed[w.slug] == {"slug": w.slug, "name": w.name, "capabilities": caps}


def test_scope_caps_the_owners_role(world, make):
    reader, key = make.agent(world.owner, "Reader", scope="read")
    w, d = world.spaces["member"]
    c = ApiClient(key)
    assert ENDPOINTS["read"](c, w, d).status_code == 200
    assert ENDPOINTS["create"](c, w, d).status_code == 403
    assert ENDPOINTS["comment"](c, w, d).status_code == 403
    assert ENDPOINTS["delete"](c, w, d).status_code == 403
    commenter, key = make.agent(world.owner, "Commenter", scope="comment")
    c = ApiClient(key)
    assert ENDPOINTS["comment"](c, w, d).status_code == 201
    # Visible (it may comment) but not readable: 403, not 404.
    assert ENDPOINTS["read"](c, w, d).status_code == 403
    assert ENDPOINTS["list"](c, w, d).status_code == 403


def test_an_agent_that_may_not_read_cannot_read_through_an_update(world, make):
    """PATCH answers with the whole document: an empty one, from an agent with write but
    not read, handed it over. Changing a document takes reading it too; creating one
    (the agent's own words) does not."""
    w, d = world.spaces["member"]
    before = (d.title, d.body)
    writer, key = make.agent(world.owner, "Blind writer", scope="write")
    c = ApiClient(key)
    for body in ({}, {"body": "overwritten"}):
        response = c.patch(f"/api/v1/documents/{d.public_id}", body)
        assert response.status_code == 403 and response.data == {
            "error": "forbidden", "detail": "This needs the read capability here."}
        assert d.title not in response.content.decode()
    d.refresh_from_db()
    assert (d.title, d.body) == before
    assert ENDPOINTS["create"](c, w, d).status_code == 201
    _, key = make.agent(world.owner, "Reader writer", scope="read,write")
    assert ApiClient(key).patch(f"/api/v1/documents/{d.public_id}", {}).data["body"] == d.body


def test_an_agent_that_may_delete_but_not_read_is_not_told_the_title(world, make):
    """It may ask to delete a document (the consent gate needs only delete), and no more:
    the proposal it got back, and its list, named the document, as it is now."""
    w, d = world.spaces["member"]
    _, key = make.agent(world.owner, "Blind deleter", scope="delete")
    c = ApiClient(key)
    assert ENDPOINTS["read"](c, w, d).status_code == 403
    asked = c.delete(f"/api/v1/documents/{d.public_id}")
    assert asked.status_code == 202 and asked.data["proposal"]["target"] == {"kind": "document", "id": d.public_id, "name": ""}
    assert [p["target"]["name"] for p in c.get("/api/v1/proposals").data["items"]] == [""]
    assert d.title not in asked.content.decode() + c.get("/api/v1/proposals").content.decode()
    # A decider, who reads there, is told it.
    _, sighted = make.agent(world.colleague, "Sighted decider", scope="read,delete")
    assert [p["target"]["name"] for p in ApiClient(sighted).get("/api/v1/proposals").data["items"]] == [d.title]


def test_an_agent_is_offered_only_proposals_it_could_decide(world, make):
    """Deciding takes read as well as delete (a decider looks at what it deletes): a
    delete-only agent was listed the others' proposals, titles and all, that it was then
    refused."""
    w, d = world.spaces["member"]
    proposal = ApiClient(world.key).delete(f"/api/v1/documents/{d.public_id}").data["proposal"]
    _, blind = make.agent(world.colleague, "Blind decider", scope="delete")
    _, sighted = make.agent(world.colleague, "Sighted decider", scope="read,delete")
    assert ApiClient(blind).get("/api/v1/proposals").data["items"] == []
    assert ApiClient(blind).post(f"/api/v1/proposals/{proposal['id']}/approve").status_code == 403
    assert [p["id"] for p in ApiClient(sighted).get("/api/v1/proposals").data["items"]] == [proposal["id"]]


def test_owner_removed_takes_the_agent_out_at_once(world):
    w, d = world.spaces["member"]
    c = ApiClient(world.key)
    assert ENDPOINTS["read"](c, w, d).status_code == 200
    membership = w.memberships.get(principal=world.owner)
    ws_services.membership_remove(actor=SYSTEM, membership=membership)
    assert ENDPOINTS["read"](c, w, d).status_code == 404
    assert ENDPOINTS["list"](c, w, d).status_code == 404


# Principal states × endpoints ------------------------------------------------------------------

ALL_ENDPOINTS = [*ENDPOINTS, "me", "workspaces", "proposals", "approve", "reject"]


def _call(name, client, world, proposal):
    w, d = world.spaces["member"]
    if name in ENDPOINTS:
        return ENDPOINTS[name](client, w, d)
    if name == "me":
        return client.get("/api/v1/me")
    if name == "workspaces":
        return client.get("/api/v1/workspaces")
    if name == "proposals":
        return client.get("/api/v1/proposals")
    return client.post(f"/api/v1/proposals/{proposal.public_id}/{name}")


def _make_state(world, state):
    key_row = ApiKey.objects.get(principal=world.agent)
    if state == "paused":
        agents.agent_pause(actor=world.owner, agent=world.agent)
    elif state == "suspended":
        agents.agent_suspend(actor=SYSTEM, agent=world.agent, reason="test")
    elif state == "revoked":
        agents.agent_revoke(actor=world.owner, agent=world.agent)
    elif state in ("rotated_in_grace", "rotated_after_grace"):
        key_services.key_rotate(actor=world.owner, key=key_row)
        if state == "rotated_after_grace":
            ApiKey.objects.filter(pk=key_row.pk).update(expires_at=timezone.now() - timedelta(seconds=1))


STATES = {
    "active": None,
    "rotated_in_grace": None,
    "paused": (403, "agent_inactive"),
    "suspended": (403, "agent_inactive"),
    "revoked": (401, "invalid_key"),
    "rotated_after_grace": (401, "invalid_key"),
}
SUCCESS = {**OK, "me": 200, "workspaces": 200, "proposals": 200, "approve": 200, "reject": 200}


@pytest.mark.parametrize("endpoint", ALL_ENDPOINTS)
@pytest.mark.parametrize("state", list(STATES))
def test_state_matrix(world, make, state, endpoint):
    # A proposal by another owner's agent, for the decide endpoints to act on.
    w, _ = world.spaces["member"]
    make.member(w, world.colleague, "editor") if not w.memberships.filter(principal=world.colleague).exists() else None
    proposer, _ = make.agent(world.colleague, "Proposer", scope=FULL)
    target = make.document(w, world.colleague, title="To delete")
    from identity import consent

    proposal = consent.document_delete_request(actor=proposer, document=target)
    _make_state(world, state)
    mark = audit_mark()
    r = _call(endpoint, ApiClient(world.key), world, proposal)
    if STATES[state] is None:
        assert r.status_code == SUCCESS[endpoint], r.data
    else:
        status, code = STATES[state]
        assert (r.status_code, r.data["error"]) == (status, code)
        (event,) = AuditEvent.objects.filter(id__gt=mark)
        assert event.action == "api.denied" and event.details["status"] == status
        # Nothing happened besides the refusal's own record.
        assert Proposal.objects.get(pk=proposal.pk).status == "pending"


# Shapes ------------------------------------------------------------------------------------


def test_document_and_comment_shapes_carry_the_agent_as_author(world):
    w, _ = world.spaces["member"]
    c = ApiClient(world.key)
    r = c.post(f"/api/v1/workspaces/{w.slug}/documents", {"title": "Agent notes", "body": "Hello"})
    assert r.status_code == 201
    doc = r.data
    assert set(doc) == {"id", "workspace", "title", "body", "author", "created", "updated"}
    assert doc["workspace"] == w.slug and doc["title"] == "Agent notes" and doc["body"] == "Hello"
    assert doc["author"] == {
        "id": world.agent.public_id, "handle": world.agent.handle, "kind": "agent", "display_name": "Scout",
        "avatar_url": f"/a/{world.agent.public_id}.png",
    }
    stored = Document.objects.get(public_id=doc["id"])
    assert stored.author_id == world.agent.pk
    assert Revision.objects.get(document=stored).author_id == world.agent.pk

    assert c.get(f"/api/v1/documents/{doc['id']}").data == doc

    r = c.patch(f"/api/v1/documents/{doc['id']}", {"title": "Agent notes, v2"})
    assert r.status_code == 200 and r.data["title"] == "Agent notes, v2" and r.data["body"] == "Hello"
    assert r.data["author"]["id"] == world.agent.public_id
    assert list(Revision.objects.filter(document=stored).values_list("number", "author_id")) == [
        (2, world.agent.pk), (1, world.agent.pk)
    ]

    r = c.post(f"/api/v1/documents/{doc['id']}/comments", {"body": "Looks right"})
    assert r.status_code == 201
    assert set(r.data) == {"id", "document", "body", "author", "created"}
    assert r.data["document"] == doc["id"] and r.data["author"]["kind"] == "agent"
    assert Comment.objects.get(public_id=r.data["id"]).author_id == world.agent.pk


def test_documents_newest_first_with_keyset_cursor(world, make):
    w, first = world.spaces["member"]
    now = timezone.now()
    docs = [first]
    for i in range(5):
        docs.append(make.document(w, world.colleague, title=f"D{i}"))
    # Same timestamp for two of them: the id breaks the tie.
    Document.objects.filter(pk__in=[docs[2].pk, docs[3].pk]).update(created_at=now)
    expected = [d.public_id for d in Document.objects.filter(workspace=w).order_by("-created_at", "-id")]
    c = ApiClient(world.key)
    seen, cursor = [], None
    while True:
        path = f"/api/v1/workspaces/{w.slug}/documents?limit=2" + (f"&cursor={cursor}" if cursor else "")
        r = c.get(path)
        assert r.status_code == 200
        seen += [item["id"] for item in r.data["items"]]
        cursor = r.data["next"]
        if cursor is None:
            break
    assert seen == expected


def test_cursor_from_another_workspace_or_tampered_is_400(world):
    c = ApiClient(world.key)
    w, _ = world.spaces["member"]
    for i in range(3):
        world.make.document(w, world.colleague, title=f"X{i}")
    cursor = c.get(f"/api/v1/workspaces/{w.slug}/documents?limit=1").data["next"]
    assert cursor
    other, _ = world.spaces["cross_org_via_owner"]
    r = c.get(f"/api/v1/workspaces/{other.slug}/documents?cursor={cursor}")
    assert r.status_code == 400 and r.data["error"] == "invalid" and "cursor" in r.data["fields"]
    tampered = cursor[:-2] + ("AA" if cursor[-2:] != "AA" else "BB")
    for bad in (tampered, "nonsense", "x" * 400, cursor + "x"):
        r = c.get(f"/api/v1/workspaces/{w.slug}/documents?cursor={bad}")
        assert r.status_code == 400 and r.data["error"] == "invalid"


def test_workspaces_paginate(world):
    c = ApiClient(world.key)
    slugs, cursor = [], None
    while True:
        r = c.get("/api/v1/workspaces?limit=2" + (f"&cursor={cursor}" if cursor else ""))
        slugs += [item["slug"] for item in r.data["items"]]
        cursor = r.data["next"]
        if not cursor:
            break
    assert slugs == sorted(s for s, (_, caps) in ((world.spaces[k][0].slug, EXPECTED[k]) for k in EXPECTED) if caps)


def test_service_account_uses_the_same_endpoints(world, make):
    service, key = make.service(world.org, "Importer")
    w, d = world.spaces["member"]
    c = ApiClient(key)
    assert ENDPOINTS["list"](c, w, d).status_code == 404
    make.member(w, service, "editor")
    for name, status in OK.items():
        r = ENDPOINTS[name](c, w, d)
        assert r.status_code == status, (name, r.data)
    assert c.get("/api/v1/workspaces").data["items"] == [
        {"slug": w.slug, "name": w.name, "capabilities": ["read", "comment", "write", "delete"]}
    ]
    created = Document.objects.filter(workspace=w, author=service)
    assert created.exists()
    # Service accounts see only explicit grants: not the org-visible workspace.
    ow, od = world.spaces["org_visible"]
    assert ENDPOINTS["read"](c, ow, od).status_code == 404


def test_timestamps_read_the_same_whichever_code_formats_them(world):
    """The hot reads let the database format timestamps; writes format them in Python."""
    from datetime import UTC, datetime

    w, d = world.spaces["member"]
    Document.objects.filter(pk=d.pk).update(
        created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), updated_at=datetime(2026, 1, 2, 3, 4, 5, 60, tzinfo=UTC)
    )
    c = ApiClient(world.key)
    listed = next(item for item in c.get(f"/api/v1/workspaces/{w.slug}/documents").data["items"] if item["id"] == d.public_id)
    read = c.get(f"/api/v1/documents/{d.public_id}").data
    assert listed == read
    assert (read["created"], read["updated"]) == ("2026-01-02T03:04:05.000000+00:00", "2026-01-02T03:04:05.000060+00:00")
    patched = c.patch(f"/api/v1/documents/{d.public_id}", {"title": "Renamed"}).data
    assert patched["created"] == read["created"]
    assert datetime.fromisoformat(patched["updated"]) > datetime.fromisoformat(read["updated"])
    assert c.get(f"/api/v1/documents/{d.public_id}").data["updated"] == patched["updated"]
