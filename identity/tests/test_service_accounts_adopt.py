"""Adopting a service account as an agent: the confirmation page shows what the new
owner's inheritance gives and which grants go; confirming keeps the id and history,
drops the grants, revokes the old keys and shows one new key once."""

import re

import pytest
from django.urls import reverse

from audit import events
from audit.models import AuditEvent
from audit.refs import SYSTEM
from conftest import actions_since, audit_mark, refresh
from dock.workspaces import services as ws_services
from dock.workspaces.models import Membership, Workspace
from identity import access, capabilities
from identity.api.testing import ApiClient
from identity.errors import InvalidInput
from identity.models import ApiKey, Kind, Status
from identity.services import service_accounts
from identity.services.users import user_deactivate

from . import services_support as support
from .services_support import KEY_RE, url, usable
from .views_support import HTMX, logged_in

pytestmark = pytest.mark.django_db
acme = support.acme
fresh_cache = support.fresh_cache

R, C, W, D = capabilities.READ, capabilities.COMMENT, capabilities.WRITE, capabilities.DELETE


def preview_rows(html: str, css: str) -> dict[str, str]:
    block = html[html.index(f'class="rows {css}"'):]
    block = block[: block.index("</ul>")]
    return dict(re.findall(r'<li data-workspace="([a-z-]+)" data-caps="([a-z,]*)"', block))


def lost_rows(html: str) -> dict[str, list[str]]:
    block = html[html.index('class="rows lost-grants"'):]
    block = block[: block.index("</ul>")]
    out = {}
    for item in block.split("<li ")[1:]:
        slug = re.search(r'data-workspace="([a-z-]+)"', item).group(1)
        out[slug] = re.findall(r'chip-danger chip-plain">([a-z]+)<', item)
    return out


def checked_scope(html: str) -> list[str]:
    return re.findall(r'<input type="checkbox" name="scope" value="([a-z]+)"[^>]*checked', html)


def state(service):
    return (
        refresh(service).kind,
        sorted(Membership.objects.filter(principal=service).values_list("workspace__slug", "role")),
        sorted(ApiKey.objects.filter(principal=service).values_list("prefix", "digest", "revoked_at")),
    )


# The confirmation page ---------------------------------------------------------------------


def test_scope_starts_with_what_its_grants_allowed_without_manage(acme, make):
    client = logged_in(acme.admin)
    assert checked_scope(client.get(url("service-adopt", acme.service)).content.decode()) == ["read", "comment", "write", "delete"]
    viewer_only, _ = make.service(acme.org, "Reader")
    make.member(acme.ops, viewer_only, "viewer")
    assert checked_scope(client.get(url("service-adopt", viewer_only)).content.decode()) == ["read"]
    nothing, _ = make.service(acme.org, "Idle")
    assert checked_scope(client.get(url("service-adopt", nothing)).content.decode()) == ["read"]


def test_preview_shows_where_it_would_work_and_which_grants_go_and_changes_nothing(acme):
    before, mark = state(acme.service), audit_mark()
    response = logged_in(acme.admin).get(url("service-adopt", acme.service), {"owner": acme.bob.public_id})
    assert response.status_code == 200
    html = response.content.decode()
    # Bob is a viewer of Roadmap; Handbook is readable by all of Acme; nothing else.
    assert preview_rows(html, "inherited") == {"handbook": "read", "roadmap": "read"}
    # The editor grant in Roadmap goes: through Bob it keeps read only.
    assert lost_rows(html) == {"roadmap": ["comment", "write", "delete"]}
    assert "Adopt as Bob Brown's agent" in html
    assert "1 working key stops working at once" in html
    assert state(acme.service) == before and actions_since(mark) == []


def test_preview_for_an_owner_with_more_access_keeps_the_grant_and_gains_more(acme):
    html = logged_in(acme.admin).get(url("service-adopt", acme.service), {"owner": acme.alice.public_id}).content.decode()
    full = "read,comment,write,delete"
    assert preview_rows(html, "inherited") == {"handbook": "read", "roadmap": full, "vault": full}
    assert lost_rows(html) == {"roadmap": []} and "Nothing lost" in html


def test_preview_flags_a_restricted_workspace_that_needs_an_elevation(acme, make):
    lab = make.workspace(acme.org, "lab", name="Lab", restricted=True)
    make.member(lab, acme.alice, "editor")
    html = logged_in(acme.admin).get(url("service-adopt", acme.service), {"owner": acme.alice.public_id}).content.decode()
    assert preview_rows(html, "inherited")["lab"] == ""
    assert "an agent needs a workspace admin's elevation" in html


def test_htmx_review_refreshes_only_the_preview(acme):
    client = logged_in(acme.admin)
    response = client.post(
        url("service-adopt", acme.service), {"owner": acme.bob.public_id, "scope": ["read"], "action": "review"}, headers=HTMX
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="adopt-owner-errors" hx-swap-oob="true"></div>') and "<form" not in html
    assert '<div id="adopt-preview"' in html
    assert preview_rows(html, "inherited") == {"handbook": "read", "roadmap": "read"}
    refused = client.post(url("service-adopt", acme.service), {"owner": acme.bob.public_id, "action": "review"}, headers=HTMX)
    assert refused.status_code == 200 and b"Choose at least one capability." in refused.content
    # The fields' errors follow the choice out of band (a fixed one lingered), and the
    # empty preview names what is missing: the owner is chosen, the scope is not.
    refused = refused.content.decode()
    assert '<div id="adopt-owner-errors" hx-swap-oob="true"></div>' in refused
    assert 'id="adopt-scope-errors" hx-swap-oob="true"><ul class="errorlist"' in refused
    assert "Choose what it may do" in refused and "Choose its new owner" not in refused
    # The back button asks for the whole page over htmx: one of each, not an out-of-band copy too.
    restored = client.get(url("service-adopt", acme.service), headers={**HTMX, "HX-History-Restore-Request": "true"})
    assert restored.content.decode().count('id="adopt-owner-errors"') == 1


# Confirming ----------------------------------------------------------------------------------


def adopt(client, service, owner, scope):
    names = capabilities.names(scope)
    return client.post(
        url("service-adopt", service),
        {"owner": owner.public_id, "scope": names, "action": "adopt", "reviewed": f"{owner.public_id}:{scope}"},
    )


def test_adoption_keeps_the_id_drops_grants_revokes_old_keys_and_the_owner_issues_the_new_key(acme, make):
    # History under its service name, before.
    old_doc = ApiClient(acme.key).post("/api/v1/workspaces/roadmap/documents", {"title": "Digest 1", "body": ""})
    assert old_doc.status_code == 201
    ws_services.membership_add(actor=SYSTEM, workspace=acme.ops, principal=acme.service, role="viewer")
    client = logged_in(acme.admin)
    mark = audit_mark()

    response = adopt(client, acme.service, acme.alice, R | C | W)
    agent = refresh(acme.service)
    assert response.status_code == 302 and response["Location"] == reverse("profile", args=[agent.handle])
    assert agent.public_id == acme.service.public_id and agent.pk == acme.service.pk and agent.handle == acme.service.handle
    assert agent.kind == Kind.AGENT and agent.owner == acme.alice and agent.scope == R | C | W
    assert agent.status == Status.ACTIVE
    assert not Membership.objects.filter(principal=agent).exists()
    assert actions_since(mark) == [events.MEMBER_REMOVED, events.MEMBER_REMOVED, events.KEY_REVOKED, events.SERVICE_ADOPTED]
    adopted = AuditEvent.objects.get(action=events.SERVICE_ADOPTED)
    assert adopted.actor_id == acme.admin.public_id and adopted.target_id == agent.public_id
    assert adopted.details["owner"] == acme.alice.public_id and adopted.details["scope"] == ["read", "comment", "write"]
    assert adopted.details["keys_revoked"] == 1 and adopted.details["key"] is None

    # No key for the admin: it would carry Alice's access (Vault is hers alone). Alice
    # issues it, once, on the agent's profile.
    profile = client.get(response["Location"]).content.decode()
    assert KEY_RE.search(profile) is None and "issues its new one from this page" in profile
    assert not ApiKey.objects.filter(principal=agent, revoked_at__isnull=True).exists()
    issued = logged_in(acme.alice).post(reverse("agent-rotate", args=[agent.handle]), headers=HTMX)
    new_key = KEY_RE.search(issued.content.decode()).group(0)
    assert "no-store" in issued["Cache-Control"]
    assert usable(new_key) and not usable(acme.key)
    assert ApiKey.objects.filter(principal=agent, revoked_at__isnull=True).count() == 1

    # The old key is refused like any unknown key; the new one is an agent's.
    old = ApiClient(acme.key).get("/api/v1/workspaces")
    assert old.status_code == 401 and old.data["error"] == "invalid_key"
    api = ApiClient(new_key)
    me = api.get("/api/v1/me").data
    assert me["id"] == acme.service.public_id and me["kind"] == "agent" and me["owner"]["id"] == acme.alice.public_id
    listed = {w["slug"]: w["capabilities"] for w in api.get("/api/v1/workspaces").data["items"]}
    assert listed == {"roadmap": ["read", "comment", "write"], "vault": ["read", "comment", "write"], "handbook": ["read"]}
    # Ops came only from the grant: gone. Vault comes from Alice: new.
    assert api.get("/api/v1/workspaces/ops/documents").status_code == 404
    written = api.post("/api/v1/workspaces/vault/documents", {"title": "Now Alice's", "body": ""})
    assert written.status_code == 201
    event = AuditEvent.objects.get(action=events.DOCUMENT_CREATED, target_id=written.data["id"])
    assert (event.actor_id, event.actor_kind, event.owner_id) == (agent.public_id, "agent", acme.alice.public_id)

    # Its history stays, under the same id.
    before = AuditEvent.objects.get(action=events.DOCUMENT_CREATED, target_id=old_doc.data["id"])
    assert before.actor_id == agent.public_id and before.actor_kind == "service" and before.owner_id == ""
    # It now follows Alice: her removal from Vault takes its access there at once.
    ws_services.membership_remove(actor=SYSTEM, membership=Membership.objects.get(workspace=acme.vault, principal=acme.alice),
                                  allow_last_admin=True)
    assert api.get("/api/v1/workspaces/vault/documents").status_code == 404


def test_an_admin_adopting_for_themselves_is_handed_the_key_once(acme):
    client = logged_in(acme.admin)
    response = adopt(client, acme.service, acme.admin, R)
    agent = refresh(acme.service)
    assert response.status_code == 302 and agent.owner == acme.admin
    found = KEY_RE.findall(client.get(response["Location"]).content.decode())
    assert len(found) == 1 and usable(found[0])
    assert AuditEvent.objects.get(action=events.SERVICE_ADOPTED).details["key"] == found[0][len("dock_"):len("dock_") + 8]


@pytest.mark.parametrize("owner_name, scope", [("alice", R | W), ("bob", R | C | W | D), ("admin", R)])
def test_the_preview_is_the_access_the_agent_gets(acme, make, owner_name, scope):
    lab = make.workspace(acme.org, "lab", name="Lab", restricted=True)
    make.member(lab, acme.alice, "editor")
    elsewhere = make.workspace(acme.other, "partner", name="Partner")  # another org's workspace Alice was invited to
    make.member(elsewhere, acme.alice, "viewer")
    owner = getattr(acme, owner_name)
    client = logged_in(acme.admin)
    html = client.get(url("service-adopt", acme.service), {"owner": owner.public_id, "scope": capabilities.names(scope)}).content.decode()
    shown = {slug: caps for slug, caps in preview_rows(html, "inherited").items() if caps}
    assert adopt(client, acme.service, owner, scope).status_code == 302
    agent = refresh(acme.service)
    actual = {w.slug: ",".join(capabilities.names(w.caps)) for w in access.visible_workspaces(agent)}
    assert shown == actual
    for w in Workspace.objects.all():
        assert access.check(agent.pk, w.pk).caps == (capabilities.parse(actual[w.slug]) if w.slug in actual else 0)


@pytest.mark.parametrize(
    "data, field, message",
    [
        ({"action": "adopt"}, "owner", "This field is required."),
        ({"owner": "", "action": "adopt", "scope": ["read"]}, "owner", "This field is required."),
        ({"owner": "usr_nobody", "action": "adopt", "scope": ["read"]}, "owner", "Choose an active person of this org."),
        ({"owner": "other_admin", "action": "adopt", "scope": ["read"]}, "owner", "Choose an active person of this org."),
        ({"owner": "agent", "action": "adopt", "scope": ["read"]}, "owner", "Choose an active person of this org."),
        ({"owner": "gone", "action": "adopt", "scope": ["read"]}, "owner", "Choose an active person of this org."),
        ({"owner": "alice", "action": "adopt"}, "scope", "Choose at least one capability."),
        ({"owner": "alice", "action": "adopt", "scope": ["manage"]}, "scope", "not one of the available choices"),
        ({"owner": "alice", "action": "adopt", "scope": ["read", "fly"]}, "scope", "not one of the available choices"),
    ],
)
def test_bad_input_is_refused_next_to_the_field_and_changes_nothing(acme, make, data, field, message):
    agent, _ = make.agent(acme.alice, "Scout")
    gone = make.human(acme.org, "Gone Person")
    user_deactivate(actor=SYSTEM, user=gone.user)
    refs = {"alice": acme.alice, "other_admin": acme.other_admin, "agent": agent, "gone": gone}
    data = dict(data)
    if data.get("owner") in refs:
        data["owner"] = refs[data["owner"]].public_id
    before, mark = state(acme.service), audit_mark()
    response = logged_in(acme.admin).post(url("service-adopt", acme.service), data)
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert field in errors and message in " ".join(errors[field])
    assert state(acme.service) == before and actions_since(mark) == [] and usable(acme.key)


def test_confirming_what_was_not_previewed_shows_the_preview_again(acme):
    before, mark = state(acme.service), audit_mark()
    response = logged_in(acme.admin).post(
        url("service-adopt", acme.service),
        {"owner": acme.bob.public_id, "scope": ["read"], "action": "adopt", "reviewed": f"{acme.alice.public_id}:{R}"},
    )
    assert response.status_code == 200 and b"changed since the preview" in response.content
    assert preview_rows(response.content.decode(), "inherited") == {"handbook": "read", "roadmap": "read"}
    assert state(acme.service) == before and actions_since(mark) == []


def test_owner_deactivated_after_the_preview_is_refused(acme):
    client = logged_in(acme.admin)
    user_deactivate(actor=SYSTEM, user=acme.bob.user)
    before = state(acme.service)
    assert adopt(client, acme.service, acme.bob, R).status_code == 400
    assert state(acme.service) == before


def test_a_revoked_account_cannot_be_adopted(acme):
    service_accounts.service_revoke(actor=SYSTEM, service=acme.service)
    client = logged_in(acme.admin)
    response = client.get(url("service-adopt", acme.service))
    assert response.status_code == 302 and response["Location"] == url("service-admin", acme.service)
    mark = audit_mark()
    assert adopt(client, acme.service, acme.alice, R).status_code == 302
    assert refresh(acme.service).kind == Kind.SERVICE and actions_since(mark) == []


def test_an_adopted_account_is_no_longer_on_the_service_pages(acme):
    client = logged_in(acme.admin)
    adopt(client, acme.service, acme.alice, R)
    assert client.get(url("service-admin", acme.service)).status_code == 404
    assert acme.service.public_id.encode() not in client.get(reverse("services")).content


# The service's scope parameter ---------------------------------------------------------------


def test_service_adopt_without_scope_keeps_todays_default(acme):
    agent, _ = service_accounts.service_adopt(actor=SYSTEM, service=acme.service, owner=acme.alice)
    assert refresh(agent).scope == R | C | W


def test_service_adopt_with_a_scope_sets_it(acme):
    agent, key = service_accounts.service_adopt(actor=acme.admin, service=acme.service, owner=acme.alice, scope=R | D)
    assert refresh(agent).scope == R | D and usable(key)


@pytest.mark.parametrize("scope", [0, capabilities.MANAGE, R | capabilities.MANAGE, 64])
def test_service_adopt_refuses_a_scope_no_agent_may_have(acme, scope):
    before, mark = state(acme.service), audit_mark()
    with pytest.raises(InvalidInput) as refused:
        service_accounts.service_adopt(actor=acme.admin, service=acme.service, owner=acme.alice, scope=scope)
    assert "scope" in refused.value.fields
    assert state(acme.service) == before and actions_since(mark) == []


def test_the_confirmation_page_reads_a_fixed_number_of_queries(acme, make, django_assert_max_num_queries):
    for n in range(6):
        w = make.workspace(acme.org, f"more-{n}", visibility="org" if n % 2 else "members")
        make.member(w, acme.alice, "editor")
    client = logged_in(acme.admin)
    client.get(reverse("services"))
    with django_assert_max_num_queries(20):
        assert client.get(url("service-adopt", acme.service), {"owner": acme.alice.public_id}).status_code == 200


def test_adopting_cancels_what_it_asked_for_under_its_grants(acme):
    """Its requests rested on grants that go, and no person stood behind them: the new
    owner does not inherit them waiting for a decision (as a transfer cancels an agent's)."""
    from dock.workspaces.models import Proposal, ProposalStatus

    asked = ApiClient(acme.key).delete(f"/api/v1/documents/{acme.doc.public_id}")
    assert asked.status_code == 202
    proposal = Proposal.objects.get(public_id=asked.data["proposal"]["id"])
    mark = audit_mark()
    service_accounts.service_adopt(actor=acme.admin, service=acme.service, owner=acme.alice, scope=R | C | W | D, issue_key=False)
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.CANCELLED
    cancelled = AuditEvent.objects.get(id__gt=mark, action=events.PROPOSAL_CANCELLED)
    assert cancelled.target_id == proposal.public_id and cancelled.details == {"reason": "service account adopted as agent"}
    page = logged_in(acme.alice).get(reverse("proposals")).content.decode()
    assert reverse("proposal-approve", args=[proposal.public_id]) not in page
