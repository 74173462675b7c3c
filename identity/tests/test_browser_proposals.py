"""Journey 7: an agent's delete waits as a proposal on the dashboard and /proposals/;
the owner approves one and rejects another."""

import pytest
from playwright.sync_api import Page, expect

from dock.workspaces.models import Document, ProposalStatus
from identity import consent

from .browser_support import PASSWORD, assert_not_reloaded, log_in, mark_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_owner_approves_one_proposal_and_rejects_another(page: Page, live_server, make):
    org = make.org(slug="acme", name="Acme")
    alice = make.human(org, "Alice Adams", email="alice@acme.test", password=PASSWORD)
    ws = make.workspace(org, "roadmap", name="Roadmap")
    make.member(ws, alice, "editor")
    agent, _ = make.agent(alice, "Scout", scope="read,write,delete")
    old = make.document(ws, alice, title="Old plan")
    keep = make.document(ws, alice, title="Keep me")
    doomed = consent.document_delete_request(actor=agent, document=old)
    spared = consent.document_delete_request(actor=agent, document=keep)

    log_in(page, live_server, "alice@acme.test")
    waiting = page.locator("section", has=page.get_by_role("heading", name="Waiting for your decision"))
    expect(waiting).to_contain_text("“Old plan”")
    expect(waiting).to_contain_text("“Keep me”")
    expect(page.get_by_role("navigation", name="Main").locator(".count")).to_have_text("2")

    page.get_by_role("link", name="All proposals").click()
    expect(page).to_have_url(f"{live_server.url}/proposals/")
    mark_page(page)
    doomed_row, spared_row = page.locator(f"#proposal-{doomed.public_id}"), page.locator(f"#proposal-{spared.public_id}")

    # Approve asks in the row (no script dialog), naming what goes, with the keyboard there.
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    doomed_row.get_by_role("link", name="Approve delete…").click()
    question = doomed_row.get_by_role("region", name="Approving the deletion of “Old plan”")
    expect(question.get_by_text("Delete “Old plan” for good?")).to_be_focused()
    expect(question).to_contain_text("cannot be undone")
    question.get_by_role("link", name="Cancel").click()
    expect(question).to_have_count(0)
    expect(doomed_row.get_by_role("link", name="Approve delete…")).to_be_focused()
    assert Document.objects.filter(pk=old.pk).exists()

    doomed_row.get_by_role("link", name="Approve delete…").click()
    question.get_by_role("button", name="Approve delete").click()
    expect(doomed_row.locator(".chip")).to_have_text("Approved")
    assert dialogs == []
    expect(doomed_row).to_contain_text("Alice Adams")  # decided by
    assert not Document.objects.filter(pk=old.pk).exists()
    # The counts follow the decision: one still waits.
    expect(page.locator("#nav-proposals-count")).to_have_text("1")
    expect(page.locator("#waiting-count")).to_have_text("1")
    # Once the swap settles, the keyboard is on the decided row (its autofocus). Moved
    # before then, focus is taken back when the swap settles, and the Enter below goes to
    # the approved row: by all signs, how a CI run failed here on a busy machine.
    expect(doomed_row).to_be_focused()

    spared_row.get_by_role("button", name="Reject").focus()
    page.keyboard.press("Enter")
    expect(spared_row.locator(".chip")).to_have_text("Rejected")
    expect(spared_row).to_be_focused()  # the keyboard goes on from the decided row, not the top
    assert Document.objects.filter(pk=keep.pk).exists()
    spared.refresh_from_db()
    assert spared.status == ProposalStatus.REJECTED
    expect(page.locator("#nav-proposals-count")).to_be_hidden()
    expect(page.locator("#waiting-count")).to_be_hidden()
    assert_not_reloaded(page)

    page.goto(f"{live_server.url}/")
    expect(page.get_by_role("heading", name="Waiting for your decision")).to_have_count(0)
