"""Every page also works as a full page load: the dashboard's in-place controls, pressed
in a browser with JavaScript off, land on a whole page that shows what was done, and
nothing that cannot be undone happens without asking first."""

import pytest
from playwright.sync_api import Page, expect

from conftest import refresh
from identity.models import Status

from .browser_support import PASSWORD, api, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def nojs(browser):
    """A page in a browser context with JavaScript disabled."""
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.fixture
def acme(make):
    org = make.org(slug="acme", name="Acme")
    alice = make.human(org, "Alice Adams", email="alice@acme.test", password=PASSWORD)
    ws = make.workspace(org, "roadmap", name="Roadmap")
    make.member(ws, alice, "editor")
    return org, alice, ws


def assert_whole_page(page: Page):
    """A page with its layout (not a fragment), not an error page."""
    expect(page.locator("header.topbar")).to_have_count(1)
    expect(page.locator("main#main")).to_have_count(1)
    expect(page.locator("h1", has_text="Method not allowed")).to_have_count(0)


def test_revoking_an_agent_without_javascript_asks_first(nojs: Page, live_server, acme, make):
    """Revoke… was a POST form asking through hx-confirm and data-confirm: without
    JavaScript the first press destroyed the agent's keys, unasked."""
    _, alice, _ = acme
    agent, key = make.agent(alice, "Courier")
    log_in(nojs, live_server, "alice@acme.test")
    nojs.goto(f"{live_server.url}/p/{agent.handle}/")
    card = nojs.locator("#agent-card")

    card.get_by_role("link", name="Revoke…").click()
    expect(nojs).to_have_url(f"{live_server.url}/agents/{agent.handle}/revoke/")
    assert_whole_page(nojs)
    question = card.get_by_role("region", name="Revoking Courier")
    expect(question.get_by_text("Revoke Courier for good?")).to_be_focused()
    expect(question).to_contain_text("Its keys are destroyed at once")
    expect(question).to_contain_text("cannot be undone")
    assert refresh(agent).status == Status.ACTIVE and api(live_server, key)[0] == 200

    question.get_by_role("link", name="Cancel").click()
    expect(nojs).to_have_url(f"{live_server.url}/p/{agent.handle}/")
    expect(card.locator("[data-status]")).to_have_text("Active")

    card.get_by_role("link", name="Revoke…").click()
    question.get_by_role("button", name="Revoke Courier").click()
    expect(nojs).to_have_url(f"{live_server.url}/p/{agent.handle}/")
    assert_whole_page(nojs)
    expect(nojs.locator("#messages")).to_contain_text("Courier is revoked. Its keys are destroyed.")
    # Only the script dismisses a message: without it, no button that does nothing.
    expect(nojs.locator("#messages").get_by_role("button")).to_have_count(0)
    expect(card.locator("[data-status]")).to_have_text("Revoked")
    assert api(live_server, key)[0] == 401


def test_approving_a_proposal_without_javascript_asks_first(nojs: Page, live_server, acme, make):
    """Approve delete was a POST form asking through hx-confirm and data-confirm: without
    JavaScript the first press deleted the document, unasked."""
    from dock.workspaces.models import Document
    from identity import consent

    _, alice, ws = acme
    agent, _ = make.agent(alice, "Scout", scope="read,write,delete")
    doc = make.document(ws, alice, title="Old plan")
    proposal = consent.document_delete_request(actor=agent, document=doc)
    log_in(nojs, live_server, "alice@acme.test")  # lands on the dashboard, where the row waits
    row = nojs.locator(f"#proposal-{proposal.public_id}")

    row.get_by_role("link", name="Approve delete…").click()
    expect(nojs).to_have_url(f"{live_server.url}/proposals/{proposal.public_id}/approve/?back=/")
    assert_whole_page(nojs)
    question = row.get_by_role("region", name="Approving the deletion of “Old plan”")
    expect(question.get_by_text("Delete “Old plan” for good?")).to_be_focused()
    expect(question).to_contain_text("deleted for good")
    assert Document.objects.filter(pk=doc.pk).exists()

    question.get_by_role("link", name="Cancel").click()
    expect(nojs).to_have_url(f"{live_server.url}/")
    row.get_by_role("link", name="Approve delete…").click()
    question.get_by_role("button", name="Approve delete").click()
    expect(nojs).to_have_url(f"{live_server.url}/")
    assert_whole_page(nojs)
    expect(nojs.locator("#messages")).to_contain_text("Proposal approved: delete document “Old plan”.")
    assert not Document.objects.filter(pk=doc.pk).exists()
