"""Journey 6: an org admin transfers an agent to another owner, and restores it after its
owner's deactivation suspended it."""

import io

import pytest
from django.core.management import call_command
from playwright.sync_api import Page, expect

from conftest import refresh
from identity.models import Status

from .browser_support import PASSWORD, api, assert_not_reloaded, log_in, mark_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_admin_transfers_and_restores_after_the_owner_is_deactivated(page: Page, live_server, make, capsys):
    org = make.org(slug="acme", name="Acme")
    make.human(org, "Ada Admin", role="admin", email="ada@acme.test", password=PASSWORD)
    alice = make.human(org, "Alice Adams", email="alice@acme.test", password=PASSWORD)
    bob = make.human(org, "Bob Brown", email="bob@acme.test", password=PASSWORD)
    ws = make.workspace(org, "roadmap", name="Roadmap")
    make.member(ws, alice, "editor")
    make.member(ws, bob, "viewer")
    agent, key = make.agent(alice, "Scout", scope="read,write")
    assert api(live_server, key)[0] == 200

    # The operator deactivates the owner: the agent is suspended and its keys revoked.
    call_command("dock", "user", "deactivate", "alice@acme.test")
    capsys.readouterr()
    assert refresh(agent).status == Status.SUSPENDED
    assert api(live_server, key)[0] == 401

    log_in(page, live_server, "ada@acme.test")
    page.goto(f"{live_server.url}/p/{agent.handle}/")
    card = page.locator("#agent-card")
    status = card.locator("[data-status]")
    expect(status).to_have_text("Suspended")
    expect(page.locator(".profile-head .chip-suspended")).to_be_visible()
    mark_page(page)

    # Restoring needs an active owner: refused, in place, nothing changed.
    card.get_by_role("button", name="Restore").click()
    expect(card.locator(".flash-error")).to_contain_text("not active")
    expect(status).to_have_text("Suspended")

    # Adopt: Bob becomes the owner; the page's header and facts follow.
    card.get_by_role("link", name="Transfer to another owner…").click()
    card.get_by_label("New owner").select_option(label="Bob Brown (@bob-brown)")
    card.get_by_role("button", name="Transfer").click()
    expect(card.locator(".flash-success")).to_contain_text("now belongs to Bob Brown")
    expect(page.locator(".profile-head .kind")).to_have_text("agent · owned by Bob Brown")
    expect(page.locator("#facts")).to_contain_text("Bob Brown")
    assert refresh(agent).owner == bob

    card.get_by_role("button", name="Restore").click()
    expect(status).to_have_text("Active")
    assert refresh(agent).status == Status.ACTIVE

    # Its keys went with the suspension. A key carries its owner's access, so it is
    # handed to the owner only: not to the admin, but to Bob, shown once.
    expect(card.get_by_role("button", name="Issue a key")).to_have_count(0)
    assert_not_reloaded(page)
    bobs = page.context.browser.new_context().new_page()
    log_in(bobs, live_server, "bob@acme.test")
    bobs.goto(f"{live_server.url}/p/{agent.handle}/")
    bobs_card = bobs.locator("#agent-card")
    bobs_card.get_by_role("button", name="Issue a key").click()
    new_key = bobs_card.locator("#new-key").inner_text().strip()
    code, me = api(live_server, new_key)
    assert code == 200 and me["owner"]["handle"] == bob.handle
    # Access now comes from Bob (a viewer): the workspace is readable, writing is not.
    code, workspaces = api(live_server, new_key, "/api/v1/workspaces")
    assert code == 200 and workspaces["items"][0]["capabilities"] == ["read"]


def test_admin_rotates_every_key_in_an_incident_and_the_owner_issues_the_agents(page: Page, live_server, make):
    org = make.org(slug="acme", name="Acme")
    make.human(org, "Ada Admin", role="admin", email="ada@acme.test", password=PASSWORD)
    alice = make.human(org, "Alice Adams", email="alice@acme.test", password=PASSWORD)
    agent, agent_key = make.agent(alice, "Scout", scope="read")
    service, service_key = make.service(org, "Nightly Digest")

    log_in(page, live_server, "ada@acme.test")
    page.goto(f"{live_server.url}/services/")
    page.get_by_role("link", name="Rotate every key").click()
    expect(page.locator("#rotation-impact")).to_contain_text("1 service account key is replaced")
    expect(page.locator("#rotation-impact")).to_contain_text("1 agent key is retired with no successor")
    page.get_by_label("Now").check()
    dialogs = []
    page.once("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
    page.get_by_role("button", name="Rotate every key").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Every key in Acme rotated")
    assert dialogs and dialogs[0].startswith("Rotate every key of Acme?")
    copy = page.get_by_role("button", name="Copy the key of Nightly Digest")
    expect(copy).to_be_focused()
    new_service_key = page.locator("[data-new-key]").inner_text()
    assert api(live_server, new_service_key)[0] == 200
    assert api(live_server, service_key)[0] == 401 and api(live_server, agent_key)[0] == 401
    expect(page.locator("tr[data-agent=scout]")).to_contain_text("Alice Adams")

    # A reload sends the form again: refused, and the key just shown still works.
    page.reload()
    expect(page.locator("ul.errors")).to_contain_text("Ada Admin rotated every key at")
    assert api(live_server, new_service_key)[0] == 200

    # Alice is told on her home page and on the agent's profile, and issues its new key.
    page.context.clear_cookies()
    log_in(page, live_server, "alice@acme.test")
    page.get_by_role("link", name="Needs a key").click()
    expect(page.locator("#key-retired")).to_contain_text("Issue a new key and give it to the agent.")
    page.get_by_role("button", name="Issue a key").click()
    new_agent_key = page.locator("#new-key").inner_text()
    assert api(live_server, new_agent_key)[0] == 200
    expect(page.locator("#key-retired")).to_have_count(0)


def test_an_admin_transfers_and_restores_from_the_keyboard(page: Page, live_server, make):
    """Transfer and Restore swap the card, and the control pressed is gone from it: the
    focus fell to the page's body. It now goes to the form that opened, to a refusal's
    field, and to what was done."""
    org = make.org(slug="acme", name="Acme")
    make.human(org, "Ada Admin", role="admin", email="ada@acme.test", password=PASSWORD)
    alice = make.human(org, "Alice Adams", email="alice@acme.test", password=PASSWORD)
    make.human(org, "Bob Brown", email="bob@acme.test", password=PASSWORD)
    agent, _ = make.agent(alice, "Scout")
    log_in(page, live_server, "ada@acme.test")
    page.goto(f"{live_server.url}/p/{agent.handle}/")
    page.on("dialog", lambda dialog: dialog.accept())
    card = page.locator("#agent-card")

    card.get_by_role("link", name="Transfer to another owner…").focus()
    page.keyboard.press("Enter")
    expect(card.get_by_label("New owner")).to_be_focused()
    settled(page)
    card.get_by_role("button", name="Transfer").focus()
    page.keyboard.press("Enter")  # nobody chosen
    expect(card.get_by_text("This field is required.")).to_be_visible()
    expect(card.get_by_label("New owner")).to_be_focused()
    settled(page)

    card.get_by_label("New owner").select_option(label="Bob Brown (@bob-brown)")
    card.get_by_role("button", name="Transfer").focus()
    page.keyboard.press("Enter")
    done = card.locator(".flash-success")
    expect(done).to_contain_text("now belongs to Bob Brown")
    expect(done).to_be_focused()
    assert refresh(agent).owner.display_name == "Bob Brown"

    call_command("dock", "user", "deactivate", "bob@acme.test", stdout=io.StringIO())
    page.reload()
    card.get_by_role("link", name="Transfer to another owner…").click()
    card.get_by_label("New owner").select_option(label="Alice Adams (@alice-adams)")
    settled(page)
    card.get_by_role("button", name="Transfer").click()
    expect(done).to_contain_text("now belongs to Alice Adams")
    settled(page)
    card.get_by_role("button", name="Restore").focus()
    page.keyboard.press("Enter")
    expect(done).to_have_text("Scout is restored.")
    expect(done).to_be_focused()


def settled(page: Page) -> None:
    """htmx has bound the swapped content's controls (a key pressed before that is the
    browser's own: a full page load instead of a swap)."""
    expect(page.locator(".htmx-added, .htmx-settling")).to_have_count(0)
