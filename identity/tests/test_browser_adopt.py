"""Journeys for org admins: run a service account's key and grants in place, then adopt
it as a person's agent through the confirmation page, with the API following."""

import re

import pytest
from playwright.sync_api import Page, expect

from dock.workspaces.models import Membership
from identity.models import ApiKey, Kind, Principal

from .browser_support import PASSWORD, api, assert_not_reloaded, log_in, mark_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

KEY = re.compile(r"^dock_[0-9A-Za-z]{8}_[0-9A-Za-z]{38,}$")


@pytest.fixture
def acme(make):
    """Ada administers Acme and three workspaces; Alice edits Roadmap and owns Vault; the
    Nightly Digest service account is granted editor in Roadmap and viewer in Ops."""
    org = make.org(slug="acme", name="Acme")
    ada = make.human(org, "Ada Admin", role="admin", email="ada@acme.test", password=PASSWORD)
    alice = make.human(org, "Alice Adams", email="alice@acme.test", password=PASSWORD)
    roadmap = make.workspace(org, "roadmap", name="Roadmap")
    ops = make.workspace(org, "ops", name="Ops")
    vault = make.workspace(org, "vault", name="Vault")
    handbook = make.workspace(org, "handbook", name="Handbook")
    for w in (roadmap, ops, handbook):
        make.member(w, ada, "admin")
    make.member(roadmap, alice, "editor")
    make.member(vault, alice, "admin")
    service, key = make.service(org, "Nightly Digest")
    make.member(roadmap, service, "editor")
    make.member(ops, service, "viewer")
    return {"ada": ada, "alice": alice, "service": service, "key": key}


def test_admin_rotates_a_key_and_grants_in_place(page: Page, live_server, acme):
    service, old_key = acme["service"], acme["key"]
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    log_in(page, live_server, "ada@acme.test")
    page.goto(f"{live_server.url}/people/")
    page.get_by_role("link", name="Service accounts").click()
    expect(page).to_have_url(f"{live_server.url}/services/")
    card = page.locator(f"#svc-{service.public_id}")
    mark_page(page)

    card.get_by_role("button", name="Rotate key").click()
    secret = card.locator("[data-new-key]")
    expect(secret).to_be_visible()
    new_key = secret.inner_text().strip()
    assert KEY.match(new_key) and new_key != old_key
    card.get_by_role("button", name="Copy", exact=True).click()
    assert page.evaluate("navigator.clipboard.readText()") == new_key
    old_prefix = ApiKey.objects.get(principal=service, replaced_by__isnull=False).prefix
    expect(card.locator(f"li[data-key='{old_prefix}']")).to_have_attribute("data-state", "grace")
    assert api(live_server, new_key)[0] == 200 and api(live_server, old_key)[0] == 200

    # Grants: a refusal stays in the card; a good one lands there.
    card = page.locator(f"#svc-{service.public_id}")
    card.get_by_role("button", name="Grant", exact=True).click()
    expect(card.locator(".errorlist")).to_contain_text("This field is required.")
    card.get_by_label("Workspace").select_option(label="Handbook")
    card.get_by_label("Role").select_option(label="Editor (read, comment, write, delete)")
    card.get_by_role("button", name="Grant", exact=True).click()
    expect(card.locator("li[data-workspace='handbook']")).to_contain_text("Editor")
    expect(card).to_contain_text("is now editor in Handbook")
    code, listed = api(live_server, new_key, "/api/v1/workspaces")
    assert code == 200 and {w["slug"] for w in listed["items"]} == {"roadmap", "ops", "handbook"}
    assert_not_reloaded(page)

    # Revoking the old key asks first, in the card, then it stops working at once.
    card.locator(f"li[data-key='{old_prefix}']").get_by_role("link", name=re.compile("^Revoke")).click()
    question = card.get_by_role("region", name=re.compile("^Revoking key"))
    expect(question.get_by_text(re.compile(r"^Revoke key .*\?$"))).to_be_focused()
    question.get_by_role("link", name="Cancel").click()
    expect(card.locator(f"li[data-key='{old_prefix}']").get_by_role("link", name=re.compile("^Revoke"))).to_be_focused()
    assert api(live_server, old_key)[0] == 200
    card.locator(f"li[data-key='{old_prefix}']").get_by_role("link", name=re.compile("^Revoke")).click()
    question.get_by_role("button", name="Revoke key").click()
    expect(card.locator(f"li[data-key='{old_prefix}']")).to_have_count(0)
    assert api(live_server, old_key)[0] == 401 and api(live_server, new_key)[0] == 200
    assert_not_reloaded(page)

    page.reload()
    expect(page.locator("[data-new-key]")).to_have_count(0)
    assert new_key not in page.content()


def test_admin_adopts_a_service_account_through_the_confirmation_page(page: Page, live_server, acme):
    service, old_key, alice = acme["service"], acme["key"], acme["alice"]
    assert api(live_server, old_key)[0] == 200
    log_in(page, live_server, "ada@acme.test")
    page.goto(f"{live_server.url}/services/")
    page.locator(f"#svc-{service.public_id}").get_by_role("link", name="Adopt as agent…").click()
    expect(page.get_by_role("heading", name="Adopt Nightly Digest as an agent")).to_be_visible()
    expect(page.locator("#adopt-preview")).to_contain_text("Choose its new owner")
    # The scope starts from what the grants allowed (editor), without manage.
    for label in ("Read", "Comment", "Write", "Delete (asks for approval)"):
        expect(page.get_by_label(label, exact=True)).to_be_checked()
    # Asked for a preview with no owner: the field says so, until an owner is chosen.
    page.get_by_role("button", name="Update preview").click()
    expect(page.locator("#adopt-owner-errors")).to_contain_text("This field is required.")
    mark_page(page)

    page.get_by_label("New owner").select_option(label="Alice Adams (@alice-adams)")
    expect(page.locator("#adopt-owner-errors")).to_be_empty()
    preview = page.locator("#adopt-preview")
    inherited = preview.locator("ul.inherited")
    expect(inherited.locator("li[data-workspace='roadmap']")).to_have_attribute("data-caps", "read,comment,write,delete")
    expect(inherited.locator("li[data-workspace='vault']")).to_have_attribute("data-caps", "read,comment,write,delete")
    expect(inherited.locator("li[data-workspace='ops']")).to_have_count(0)
    lost = preview.locator("ul.lost-grants")
    expect(lost.locator("li[data-workspace='ops']")).to_contain_text("It will have no access here.")
    expect(lost.locator("li[data-workspace='roadmap']")).to_contain_text("Nothing lost")
    expect(preview).to_contain_text("1 working key stops working at once")

    page.get_by_label("Delete (asks for approval)", exact=True).uncheck()
    expect(inherited.locator("li[data-workspace='roadmap']")).to_have_attribute("data-caps", "read,comment,write")
    expect(lost.locator("li[data-workspace='roadmap']")).to_contain_text("delete")
    assert_not_reloaded(page)  # the preview followed the form in place
    assert Principal.objects.get(pk=service.pk).kind == Kind.SERVICE  # nothing changed yet

    expect(page.locator("#adopt-preview")).to_contain_text("Alice Adams issues its new key from the agent's profile")
    page.get_by_role("button", name="Adopt as Alice Adams's agent").click()
    expect(page).to_have_url(f"{live_server.url}/p/{service.handle}/")
    expect(page.locator(".messages")).to_contain_text("is now Alice Adams's agent")
    # A key carries Alice's access (Vault is hers alone): not for the admin. Alice issues it.
    expect(page.locator("#new-key")).to_have_count(0)
    expect(page.locator(".profile-head .kind")).to_have_text("agent · owned by Alice Adams")
    alices = page.context.browser.new_context().new_page()
    log_in(alices, live_server, "alice@acme.test")
    alices.goto(f"{live_server.url}/p/{service.handle}/")
    alices.locator("#agent-card").get_by_role("button", name="Issue a key").click()
    secret = alices.locator("#new-key")
    expect(secret).to_be_visible()
    new_key = secret.inner_text().strip()
    assert KEY.match(new_key)

    agent = Principal.objects.get(pk=service.pk)
    assert agent.public_id == service.public_id and agent.kind == Kind.AGENT and agent.owner_id == alice.pk
    assert not Membership.objects.filter(principal=agent).exists()
    code, body = api(live_server, old_key)
    assert (code, body["error"]) == (401, "invalid_key")
    code, me = api(live_server, new_key)
    assert code == 200 and me["id"] == service.public_id and me["kind"] == "agent" and me["owner"]["id"] == alice.public_id
    assert me["scope"] == ["read", "comment", "write"]
    code, listed = api(live_server, new_key, "/api/v1/workspaces")
    assert code == 200 and {w["slug"] for w in listed["items"]} == {"roadmap", "vault"}

    alices.reload()
    expect(alices.locator("#new-key")).to_have_count(0)
    assert new_key not in alices.content()
