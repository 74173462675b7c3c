"""Service accounts on the org admins' pages: creation, keys, grants, revocation, who
may see the pages, isolation from people's membership changes, and the API they call."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit import events
from audit.models import AuditEvent
from audit.refs import SYSTEM
from conftest import actions_since, audit_mark, refresh
from dock.workspaces import services as ws_services
from dock.workspaces.models import Document, Membership, Proposal, ProposalStatus
from identity import keys
from identity.api.testing import ApiClient
from identity.models import ApiKey, Kind, Principal, Status
from identity.services import keys as key_services
from identity.services.users import user_deactivate
from identity.views.once import SESSION_KEY as ONCE

from . import services_support as support
from .services_support import KEY_RE, url, usable
from .views_support import HTMX, logged_in

pytestmark = pytest.mark.django_db
acme = support.acme
fresh_cache = support.fresh_cache

# The list --------------------------------------------------------------------------------


def test_admin_sees_each_account_with_status_grants_and_keys(acme, make, django_assert_max_num_queries):
    key_services.key_rotate(actor=acme.admin, key=key_services.current_key(acme.service))
    revoked, _ = make.service(acme.org, "Old Importer")
    from identity.services.service_accounts import service_revoke

    service_revoke(actor=SYSTEM, service=revoked)
    for n in range(4):
        make.service(acme.org, f"Filler {n}")
    client = logged_in(acme.admin)
    with django_assert_max_num_queries(20):
        response = client.get(reverse("services"))
    assert response.status_code == 200
    html = response.content.decode()
    card = html[html.index(f'id="svc-{acme.service.public_id}"'):]
    card = card[: card.index("</article>")]
    assert "Roadmap" in card and "Editor" in card
    old_prefix = keys.parse(acme.key)
    assert f'data-key="{old_prefix}" data-state="grace"' in card  # rotated: works for the grace window
    assert card.count('data-state="current"') == 1
    assert "never used" in card
    assert 'data-status="revoked"' in html  # revoked accounts are listed, after the live ones
    assert html.index("Nightly Digest") < html.index("Old Importer")
    assert KEY_RE.search(html) is None  # no key is ever shown on the list by itself


def test_list_query_count_does_not_grow_with_accounts(acme, make):
    def more(n):
        for _ in range(n):
            service, _key = make.service(acme.org, f"More {make.n}")
            make.member(acme.ops, service, "viewer")  # a tell: Ada is alone in Ops
            key_services.key_rotate(actor=acme.admin, key=key_services.current_key(service))

    more(1)
    client = logged_in(acme.admin)
    client.get(reverse("services"))  # warm the session
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("services"))
    more(8)
    with CaptureQueriesContext(connection) as many:
        client.get(reverse("services"))
    assert len(many) == len(few)


def test_one_accounts_page_reads_a_fixed_number_of_queries(acme, django_assert_max_num_queries):
    client = logged_in(acme.admin)
    client.get(reverse("services"))
    with django_assert_max_num_queries(16):
        assert client.get(url("service-admin", acme.service)).status_code == 200


def test_last_used_time_is_shown(acme):
    ApiClient(acme.key).get("/api/v1/me")
    html = logged_in(acme.admin).get(url("service-admin", acme.service)).content.decode()
    assert "last used" in html and "never used" not in html


# Who may see -----------------------------------------------------------------------------


def every_page(service, prefix="abcdefgh"):
    return [
        ("get", reverse("services")),
        ("get", reverse("service-new")),
        ("post", reverse("service-new")),
        ("get", reverse("service-tells")),
        ("get", url("service-admin", service)),
        ("post", url("service-rotate", service)),
        ("get", url("service-key-revoke", service, prefix)),
        ("post", url("service-key-revoke", service, prefix)),
        ("get", url("service-revoke", service)),
        ("post", url("service-revoke", service)),
        ("post", url("service-grant", service)),
        ("post", url("service-grant-remove", service, "roadmap")),
        ("get", url("service-adopt", service)),
        ("post", url("service-adopt", service)),
    ]


@pytest.mark.parametrize("who", ["alice", "auditor"])
def test_people_who_are_not_org_admins_get_404_everywhere(acme, who):
    client = logged_in(getattr(acme, who))
    mark = audit_mark()
    prefix = keys.parse(acme.key)
    for method, path in every_page(acme.service, prefix):
        response = getattr(client, method)(path, {"name": "X", "workspace": "ops", "role": "viewer", "owner": acme.alice.public_id, "action": "adopt"})
        assert response.status_code == 404, (method, path)
    assert actions_since(mark) == []
    assert refresh(acme.service).kind == Kind.SERVICE and usable(acme.key)


def test_another_orgs_admin_cannot_reach_this_orgs_accounts(acme):
    client = logged_in(acme.other_admin)
    assert client.get(reverse("services")).status_code == 200  # their own (empty) list
    assert b"Nightly Digest" not in client.get(reverse("services")).content
    mark = audit_mark()
    for method, path in every_page(acme.service, keys.parse(acme.key))[4:]:
        assert getattr(client, method)(path, {"workspace": "roadmap", "role": "viewer"}).status_code == 404, path
    assert actions_since(mark) == []


def test_deactivated_admin_is_logged_out_and_sent_to_log_in(acme):
    client = logged_in(acme.admin)
    user_deactivate(actor=SYSTEM, user=acme.admin.user)
    response = client.get(reverse("services"))
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_org_owner_is_an_admin_here(acme):
    assert logged_in(acme.owner).get(reverse("services")).status_code == 200


def test_unknown_account_and_key_answer_404(acme):
    client = logged_in(acme.admin)
    assert client.get("/services/svc_nothing/").status_code == 404
    assert client.post(url("service-key-revoke", acme.service, "zzzzzzzz")).status_code == 404


def test_an_agent_is_not_a_service_account_here(acme, make):
    agent, _ = make.agent(acme.alice, "Scout")
    assert logged_in(acme.admin).get(f"/services/{agent.public_id}/").status_code == 404


# Creating --------------------------------------------------------------------------------


def test_create_shows_the_key_once_then_never(acme):
    client = logged_in(acme.admin)
    mark = audit_mark()
    response = client.post(reverse("service-new"), {"name": "Backup Runner", "handle": ""})
    service = Principal.objects.get(display_name="Backup Runner")
    assert response.status_code == 302 and response["Location"] == url("service-admin", service)
    assert service.kind == Kind.SERVICE and service.owner is None and service.org == acme.org
    assert service.public_id.startswith("svc_") and service.handle == "backup-runner"
    page = client.get(response["Location"])
    plaintext = KEY_RE.search(page.content.decode()).group(0)
    assert "no-store" in page["Cache-Control"]
    assert usable(plaintext)
    assert KEY_RE.search(client.get(response["Location"]).content.decode()) is None
    assert KEY_RE.search(client.get(reverse("services")).content.decode()) is None
    assert ONCE not in client.session
    assert actions_since(mark) == [events.SERVICE_CREATED]
    created = AuditEvent.objects.get(action=events.SERVICE_CREATED, target_id=service.public_id)
    assert created.actor_id == acme.admin.public_id and created.details["key"] == keys.parse(plaintext)
    me = ApiClient(plaintext).get("/api/v1/me").data
    assert me["kind"] == "service" and me["id"] == service.public_id and me["owner"] is None


def test_create_with_a_chosen_handle(acme):
    logged_in(acme.admin).post(reverse("service-new"), {"name": "Backup Runner", "handle": "backups"})
    assert Principal.objects.get(handle="backups").display_name == "Backup Runner"


@pytest.mark.parametrize(
    "data, field, message",
    [
        ({}, "name", "This field is required."),
        ({"name": "", "handle": ""}, "name", "This field is required."),
        ({"name": "   ", "handle": ""}, "name", "This field is required."),
        ({"name": "x" * 121, "handle": ""}, "name", "at most 120 characters"),
        ({"name": "Runner", "handle": "No Way!"}, "handle", "Handles use lowercase letters"),
        ({"name": "Runner", "handle": "alice-adams"}, "handle", "That handle is taken."),
    ],
)
def test_create_refuses_bad_input_next_to_the_field_and_changes_nothing(acme, data, field, message):
    mark, count = audit_mark(), Principal.objects.count()
    response = logged_in(acme.admin).post(reverse("service-new"), data)
    assert response.status_code in (400, 409)
    errors = response.context["form"].errors
    assert field in errors and message in " ".join(errors[field])
    assert Principal.objects.count() == count and actions_since(mark) == []


# Keys ------------------------------------------------------------------------------------


def test_rotate_over_htmx_swaps_the_card_with_the_new_key_and_old_key_has_grace(acme):
    mark = audit_mark()
    response = logged_in(acme.admin).post(url("service-rotate", acme.service), headers=HTMX)
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    html = response.content.decode()
    assert html.lstrip().startswith("<article") and f'id="svc-{acme.service.public_id}"' in html
    new_key = KEY_RE.search(html).group(0)
    assert new_key != acme.key and usable(new_key) and usable(acme.key)
    old = ApiKey.objects.get(prefix=keys.parse(acme.key))
    assert old.expires_at is not None and old.replaced_by.prefix == keys.parse(new_key)
    assert actions_since(mark) == [events.KEY_ROTATED]
    event = AuditEvent.objects.get(action=events.KEY_ROTATED)
    assert event.actor_id == acme.admin.public_id and event.target_id == acme.service.public_id
    assert ApiClient(new_key).get("/api/v1/me").status_code == 200


def test_rotate_plain_post_redirects_and_the_key_is_shown_once(acme):
    client = logged_in(acme.admin)
    response = client.post(url("service-rotate", acme.service))
    assert response.status_code == 302 and response["Location"] == url("service-admin", acme.service)
    first = client.get(response["Location"]).content.decode()
    assert usable(KEY_RE.search(first).group(0))
    assert KEY_RE.search(client.get(response["Location"]).content.decode()) is None


def test_rotate_without_a_current_key_issues_one(acme):
    key_services.keys_revoke_all(actor=SYSTEM, principal=acme.service, reason="test")
    client = logged_in(acme.admin)
    assert b"Issue a key" in client.get(url("service-admin", acme.service)).content
    mark = audit_mark()
    html = client.post(url("service-rotate", acme.service), headers=HTMX).content.decode()
    assert usable(KEY_RE.search(html).group(0)) and actions_since(mark) == [events.KEY_ISSUED]


def test_revoking_a_key_is_immediate(acme):
    mark = audit_mark()
    response = logged_in(acme.admin).post(url("service-key-revoke", acme.service, keys.parse(acme.key)), headers=HTMX)
    assert response.status_code == 200 and b"is revoked" in response.content
    assert not usable(acme.key)
    assert actions_since(mark) == [events.KEY_REVOKED]
    denied = ApiClient(acme.key).get("/api/v1/workspaces")
    assert denied.status_code == 401 and denied.data["error"] == "invalid_key"
    again = logged_in(acme.admin).post(url("service-key-revoke", acme.service, keys.parse(acme.key)), headers=HTMX)
    assert again.status_code == 200 and b"already revoked" in again.content


def test_revoking_a_key_asks_first_inside_the_card(acme):
    """A key's Revoke asked only through JavaScript (hx-confirm on a POST form): without
    it, one press cut off whatever ran on the key, and a revoked key never works again.
    Now GET asks, in the card (a page of its own without JavaScript); the POST under it
    revokes."""
    client = logged_in(acme.admin)
    prefix = keys.parse(acme.key)
    revoke = url("service-key-revoke", acme.service, prefix)
    card = client.get(url("service-admin", acme.service)).content.decode()
    assert re.search(rf'<a [^>]*href="{revoke}"[^>]*hx-get="{revoke}"[^>]*>Revoke</a>', card)
    assert f'action="{revoke}"' not in card and "hx-confirm" not in card.split("Keys</h3>")[1]
    mark = audit_mark()

    ask = client.get(revoke)
    body = ask.content.decode()
    assert ask.status_code == 200 and "<html" in body
    region = body[body.index('role="region"'):]
    region = region[:region.index("</form>")]
    display = ApiKey.objects.get(prefix=prefix).display
    assert f'<p tabindex="-1" autofocus>Revoke key {display}?</p>' in region
    assert "stops working at once" in region and "cannot be undone" in region
    assert re.search(rf'<form [^>]*method="post" action="{revoke}"', region)
    assert re.search(r'<button type="submit"[^>]*>Revoke key</button>', region)
    assert f'href="{url("service-admin", acme.service)}"' in region and ">Cancel</a>" in region
    ask_htmx = client.get(revoke, headers=HTMX).content.decode()
    assert ask_htmx.lstrip().startswith("<article") and f"Revoke key {display}?" in ask_htmx
    assert actions_since(mark) == [] and usable(acme.key)

    done = client.post(revoke)
    assert done.status_code == 302 and not usable(acme.key)
    # Asking about a key already revoked leads back to the account.
    again = client.get(revoke)
    assert again.status_code == 302 and again["Location"] == url("service-admin", acme.service)
    assert client.get(url("service-key-revoke", acme.service, "zzzzzzzz")).status_code == 404


def test_one_accounts_key_cannot_be_revoked_through_another(acme, make):
    other, other_key = make.service(acme.org, "Other")
    response = logged_in(acme.admin).post(url("service-key-revoke", acme.service, keys.parse(other_key)))
    assert response.status_code == 404 and usable(other_key)


# Revoking the account --------------------------------------------------------------------


def test_revoke_asks_first_then_revokes_for_good(acme):
    client = logged_in(acme.admin)
    mark = audit_mark()
    ask = client.get(url("service-revoke", acme.service))
    assert ask.status_code == 200 and b"Revoke Nightly Digest for good?" in ask.content
    ask_htmx = client.get(url("service-revoke", acme.service), headers=HTMX)
    assert ask_htmx.content.decode().lstrip().startswith("<article") and b"for good?" in ask_htmx.content
    assert actions_since(mark) == [] and refresh(acme.service).status == Status.ACTIVE

    response = client.post(url("service-revoke", acme.service))
    assert response.status_code == 302
    service = refresh(acme.service)
    assert service.status == Status.REVOKED and not usable(acme.key)
    assert actions_since(mark) == [events.SERVICE_REVOKED, events.KEY_REVOKED]
    assert ApiClient(acme.key).get("/api/v1/me").status_code == 401
    page = client.get(url("service-admin", acme.service)).content.decode()
    assert "Rotate key" not in page and "Adopt as agent" not in page
    again = client.post(url("service-revoke", acme.service), headers=HTMX)
    assert again.status_code == 200 and b"already revoked" in again.content


# Grants ----------------------------------------------------------------------------------


def test_grant_in_a_workspace_the_admin_administers(acme):
    mark = audit_mark()
    response = logged_in(acme.admin).post(url("service-grant", acme.service), {"workspace": "ops", "role": "viewer"}, headers=HTMX)
    assert response.status_code == 200 and b"is now viewer in Ops" in response.content
    assert Membership.objects.get(principal=acme.service, workspace=acme.ops).role == "viewer"
    assert actions_since(mark) == [events.MEMBER_ADDED]
    added = AuditEvent.objects.get(action=events.MEMBER_ADDED, workspace="ops", target_id=acme.service.public_id)
    assert added.actor_id == acme.admin.public_id and added.details == {"role": "viewer", "via": "grant"}
    listed = ApiClient(acme.key).get("/api/v1/workspaces").data["items"]
    assert {w["slug"]: w["capabilities"] for w in listed} == {"roadmap": ["read", "comment", "write", "delete"], "ops": ["read"]}


def test_grant_choices_are_the_workspaces_the_admin_administers_not_yet_granted(acme):
    html = logged_in(acme.admin).get(url("service-admin", acme.service)).content.decode()
    form = html[html.index('class="stack-sm grant-form"'):]
    form = form[: form.index("</form>")]
    assert re.findall(r'<option value="([a-z-]+)"', form) == ["handbook", "ops", "viewer", "editor"]


@pytest.mark.parametrize(
    "data, field",
    [
        ({"workspace": "ops", "role": "admin"}, "role"),  # never admin
        ({"workspace": "ops", "role": "owner"}, "role"),
        ({"workspace": "vault", "role": "viewer"}, "workspace"),  # the admin does not administer it
        ({"workspace": "roadmap", "role": "viewer"}, "workspace"),  # already granted
        ({"workspace": "nowhere", "role": "viewer"}, "workspace"),
        ({"workspace": "", "role": "viewer"}, "workspace"),
    ],
)
def test_grant_refuses_bad_input_next_to_the_field_and_changes_nothing(acme, data, field):
    client = logged_in(acme.admin)
    before = sorted(Membership.objects.values_list("workspace__slug", "principal_id", "role"))
    mark = audit_mark()
    response = client.post(url("service-grant", acme.service), data)
    assert response.status_code == 400
    assert field in response.context["row"].grant_form.errors
    swapped = client.post(url("service-grant", acme.service), data, headers=HTMX)
    assert swapped.status_code == 200 and b'class="errorlist' in swapped.content
    assert sorted(Membership.objects.values_list("workspace__slug", "principal_id", "role")) == before
    assert actions_since(mark) == []


def test_grant_is_checked_again_against_the_admins_rights(acme, monkeypatch):
    """The choices come from a read; the write checks manage again, locked, in its
    transaction: an admin who lost it meanwhile is refused."""
    from identity.views import service_accounts as view

    real = view.selectors.service_rows

    def stale(viewer, services, **kw):
        rows = real(viewer, services, **kw)
        for row in rows:
            row.grantable = row.grantable + [acme.vault]
        return rows

    monkeypatch.setattr(view.selectors, "service_rows", stale)
    mark = audit_mark()
    response = logged_in(acme.admin).post(url("service-grant", acme.service), {"workspace": "vault", "role": "viewer"})
    assert response.status_code == 404
    assert not Membership.objects.filter(principal=acme.service, workspace=acme.vault).exists()
    assert actions_since(mark) == []


def test_remove_a_grant_over_htmx_and_plain_post(acme):
    client = logged_in(acme.admin)
    make_grant = ws_services.membership_add(actor=SYSTEM, workspace=acme.ops, principal=acme.service, role="viewer")
    mark = audit_mark()
    response = client.post(url("service-grant-remove", acme.service, "roadmap"), headers=HTMX)
    assert response.status_code == 200 and b"no longer has access to Roadmap" in response.content
    assert not Membership.objects.filter(principal=acme.service, workspace=acme.roadmap).exists()
    response = client.post(url("service-grant-remove", acme.service, "ops"))
    assert response.status_code == 302 and not Membership.objects.filter(pk=make_grant.pk).exists()
    assert actions_since(mark) == [events.MEMBER_REMOVED, events.MEMBER_REMOVED]
    assert ApiClient(acme.key).get("/api/v1/workspaces/roadmap/documents").status_code == 404
    gone = client.post(url("service-grant-remove", acme.service, "ops"), headers=HTMX)
    assert gone.status_code == 200 and b"no longer exists" in gone.content


def test_org_admin_may_remove_a_grant_where_they_are_not_workspace_admin(acme):
    ws_services.membership_add(actor=SYSTEM, workspace=acme.vault, principal=acme.service, role="viewer")
    response = logged_in(acme.admin).post(url("service-grant-remove", acme.service, "vault"))
    assert response.status_code == 302
    assert not Membership.objects.filter(principal=acme.service, workspace=acme.vault).exists()


# Isolation from people's membership changes -----------------------------------------------


def test_peoples_membership_changes_never_touch_a_service_account(acme, make):
    """Removing people, lowering roles, deactivating and deleting humans — even the admin
    who created, granted and rotated it — leave its grants and keys exactly as they were."""
    ws_services.membership_add(actor=acme.admin, workspace=acme.ops, principal=acme.service, role="viewer")
    client = logged_in(acme.admin)
    new_key = KEY_RE.search(client.post(url("service-rotate", acme.service), headers=HTMX).content.decode()).group(0)
    grants_before = sorted(Membership.objects.filter(principal=acme.service).values_list("workspace__slug", "role"))
    keys_before = sorted(ApiKey.objects.filter(principal=acme.service).values_list("prefix", "digest", "expires_at", "revoked_at"))
    mark = audit_mark()

    ws_services.membership_remove(actor=SYSTEM, membership=Membership.objects.get(workspace=acme.roadmap, principal=acme.alice))
    ws_services.membership_set_role(actor=SYSTEM, membership=Membership.objects.get(workspace=acme.roadmap, principal=acme.bob), role="editor")
    ws_services.membership_set_role(actor=SYSTEM, membership=Membership.objects.get(workspace=acme.roadmap, principal=acme.bob), role="viewer")
    ws_services.membership_remove(actor=SYSTEM, membership=Membership.objects.get(workspace=acme.roadmap, principal=acme.admin),
                                  allow_last_admin=True)
    user_deactivate(actor=SYSTEM, user=acme.admin.user)
    from identity.services.users import user_delete

    user_delete(actor=SYSTEM, user=acme.bob.user)
    user_delete(actor=SYSTEM, user=acme.admin.user)  # who created its grant and its current key

    assert not AuditEvent.objects.filter(id__gt=mark, target_id=acme.service.public_id).exists()
    assert sorted(Membership.objects.filter(principal=acme.service).values_list("workspace__slug", "role")) == grants_before
    assert sorted(ApiKey.objects.filter(principal=acme.service).values_list("prefix", "digest", "expires_at", "revoked_at")) == keys_before
    service = refresh(acme.service)
    assert service.status == Status.ACTIVE and service.kind == Kind.SERVICE
    api = ApiClient(new_key)
    assert {w["slug"] for w in api.get("/api/v1/workspaces").data["items"]} == {"roadmap", "ops"}
    assert api.post("/api/v1/workspaces/roadmap/documents", {"title": "Still here", "body": ""}).status_code == 201


# The API with a service key, and who the audit log holds to account --------------------------


def test_service_key_reads_and_writes_through_the_api_attributed_to_no_human(acme):
    api = ApiClient(acme.key)
    listed = api.get("/api/v1/workspaces")
    assert listed.status_code == 200
    assert listed.data["items"] == [{"slug": "roadmap", "name": "Roadmap", "capabilities": ["read", "comment", "write", "delete"]}]
    docs = api.get("/api/v1/workspaces/roadmap/documents")
    assert docs.status_code == 200 and [d["id"] for d in docs.data["items"]] == [acme.doc.public_id]
    # No inheritance, no org visibility: only the grant.
    assert api.get("/api/v1/workspaces/handbook/documents").status_code == 404
    assert api.get("/api/v1/workspaces/vault/documents").status_code == 404

    mark = audit_mark()
    created = api.post("/api/v1/workspaces/roadmap/documents", {"title": "Nightly digest", "body": "All quiet."})
    assert created.status_code == 201
    assert created.data["author"]["id"] == acme.service.public_id and created.data["author"]["kind"] == "service"
    assert Document.objects.get(public_id=created.data["id"]).author_id == acme.service.pk
    assert actions_since(mark) == [events.DOCUMENT_CREATED]
    event = AuditEvent.objects.get(action=events.DOCUMENT_CREATED, target_id=created.data["id"])
    assert (event.actor_id, event.actor_kind, event.actor_name) == (acme.service.public_id, "service", "Nightly Digest")
    assert event.owner_id == "" and event.owner_name == "" and event.org == "acme" and event.workspace == "roadmap"

    # The audit page's "no accountable human" filter finds it; a person's own event is not there.
    page = logged_in(acme.auditor).get("/audit/", {"kind": "unowned"}).content.decode()
    ids = {int(i) for i in re.findall(r'id="event-(\d+)"', page)}
    assert event.id in ids
    human_event = AuditEvent.objects.filter(owner_id=acme.alice.public_id).first()
    assert human_event.id not in ids
    assert all(e.owner_id == "" for e in AuditEvent.objects.filter(id__in=ids))


def test_service_key_write_needs_the_capability_and_answers_like_any_key(acme):
    ws_services.membership_add(actor=SYSTEM, workspace=acme.ops, principal=acme.service, role="viewer")
    api = ApiClient(acme.key)
    refused = api.post("/api/v1/workspaces/ops/documents", {"title": "No", "body": ""})
    assert refused.status_code == 403 and refused.data["error"] == "forbidden"
    bad = api.post("/api/v1/workspaces/roadmap/documents", {"title": "", "body": ""})
    assert bad.status_code == 400 and bad.data["error"] == "invalid"
    assert ApiClient(acme.key[:-1] + ("A" if acme.key[-1] != "A" else "B")).get("/api/v1/me").status_code == 401


# Ways in -----------------------------------------------------------------------------------


def test_profile_and_people_pages_lead_org_admins_here(acme):
    admin, member = logged_in(acme.admin), logged_in(acme.alice)
    manage = url("service-admin", acme.service).encode()
    profile = reverse("profile", args=[acme.service.handle])
    assert manage in admin.get(profile).content
    assert manage not in member.get(profile).content and member.get(profile).status_code == 200
    services = reverse("services").encode()
    assert services in admin.get(reverse("people")).content
    assert services in admin.get(reverse("people"), {"view": "chart"}).content
    assert services not in member.get(reverse("people")).content
    assert services not in member.get(reverse("people"), {"view": "chart"}).content


# Its requests waiting at the consent gate --------------------------------------------------


def _service_proposal(acme):
    response = ApiClient(acme.key).delete(f"/api/v1/documents/{acme.doc.public_id}")
    assert response.status_code == 202, response.data
    return Proposal.objects.get(public_id=response.data["proposal"]["id"])


def test_revoking_the_account_cancels_its_pending_proposals(acme):
    """Revoked, it can never run what it asked for: the request leaves the workspace
    admins' inbox with the account, as a revoked agent's do."""
    proposal = _service_proposal(acme)
    mark = audit_mark()
    assert logged_in(acme.admin).post(url("service-revoke", acme.service)).status_code == 302
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.CANCELLED
    assert actions_since(mark) == [events.SERVICE_REVOKED, events.KEY_REVOKED, events.PROPOSAL_CANCELLED]
    cancelled = AuditEvent.objects.get(id__gt=mark, action=events.PROPOSAL_CANCELLED)
    assert cancelled.target_id == proposal.public_id and cancelled.details == {"reason": "service account revoked"}
    assert f"proposal-{proposal.public_id}".encode() not in logged_in(acme.admin).get(reverse("proposals")).content


@pytest.mark.parametrize("change", ["remove", "lower"])
def test_taking_away_its_grant_cancels_its_proposals_there(acme, make, change):
    """Its grant is all the access it has: removed, or lowered to viewer, it can no longer
    delete there, so what it asked to delete there is cancelled with it (elsewhere not)."""
    make.member(acme.ops, acme.service, "editor")
    elsewhere = make.document(acme.ops, acme.alice, title="Ops plan")
    proposal = _service_proposal(acme)
    other = ApiClient(acme.key).delete(f"/api/v1/documents/{elsewhere.public_id}").data["proposal"]["id"]
    grant = Membership.objects.get(principal=acme.service, workspace=acme.roadmap)
    mark = audit_mark()
    client = logged_in(acme.admin)
    if change == "remove":
        assert client.post(url("service-grant-remove", acme.service, "roadmap")).status_code == 302
        expected = [events.MEMBER_REMOVED, events.PROPOSAL_CANCELLED]
    else:
        ws_services.membership_set_role(actor=acme.admin, membership=grant, role="viewer")
        expected = [events.MEMBER_ROLE_CHANGED, events.PROPOSAL_CANCELLED]
    assert sorted(actions_since(mark)) == sorted(expected)
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.CANCELLED
    assert Proposal.objects.get(public_id=other).status == ProposalStatus.PENDING


# Keyboard focus after an in-place control ------------------------------------------------


def _focused(html: str) -> str:
    """The element the swapped card gives focus to (htmx focuses [autofocus] after a swap)."""
    found = re.findall(r"<[a-z0-9]+[^>]*\sautofocus[^>]*>", html)
    assert len(found) == 1, found
    return found[0]


def test_each_in_place_control_leaves_focus_on_its_answer(acme):
    """The card is replaced, and the control that was pressed with it: without a place for
    focus, a keyboard user was left at the top of the page."""
    client = logged_in(acme.admin)
    rotated = client.post(url("service-rotate", acme.service), headers=HTMX).content.decode()
    assert "data-copy-target" in _focused(rotated)
    revoked = client.post(url("service-key-revoke", acme.service, keys.parse(acme.key)), headers=HTMX).content.decode()
    assert 'role="status"' in _focused(revoked) and 'tabindex="-1"' in _focused(revoked)
    granted = client.post(url("service-grant", acme.service), {"workspace": "ops", "role": "viewer"}, headers=HTMX).content.decode()
    assert 'role="status"' in _focused(granted)
    refused = client.post(url("service-grant", acme.service), {"workspace": "", "role": "viewer"}, headers=HTMX).content.decode()
    assert 'name="workspace"' in _focused(refused)
    ask = client.get(url("service-revoke", acme.service), headers=HTMX).content.decode()
    assert "for good?" in ask[ask.index(_focused(ask)):][:200]
    plain = client.get(url("service-admin", acme.service), headers=HTMX).content.decode()
    assert " autofocus" not in plain
