"""/proposals/: the consent gate's inbox, decided in place."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from conftest import actions_since, audit_mark
from dock.workspaces.models import Document, Proposal, ProposalStatus
from identity import consent
from identity.errors import InvalidTransition

from .views_support import HTMX, Team, logged_in


@pytest.fixture
def team(make):
    return Team(make)


@pytest.fixture
def proposal(team, make):
    agent, _ = make.agent(team.alice, "Scout", scope="read,write,delete")
    doc = make.document(team.ws, agent, title="Old plan")
    return consent.document_delete_request(actor=agent, document=doc)


def row_id(p):
    return f'id="proposal-{p.public_id}"'


def test_pending_proposal_is_listed_for_the_owner(team, proposal):
    response = logged_in(team.alice).get(reverse("proposals"))
    html = response.content.decode()
    assert response.status_code == 200
    assert html.count(row_id(proposal)) == 1
    assert "Waiting for you" in html and "“Old plan”" in html and "Roadmap" in html
    # Approve leads to the question (a link), never straight to the POST.
    approve = reverse("proposal-approve", args=[proposal.public_id])
    assert re.search(rf'<a [^>]*href="{approve}\?back=/proposals/"[^>]*hx-get="{approve}\?back=/proposals/"[^>]*>Approve delete…</a>', html)
    assert f'action="{approve}"' not in html and "hx-confirm" not in html


def test_approve_over_htmx_swaps_the_row_and_deletes_as_the_agent(team, proposal):
    client = logged_in(team.alice)
    mark = audit_mark()
    response = client.post(reverse("proposal-approve", args=[proposal.public_id]), headers=HTMX)
    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith("<li") and row_id(proposal) in body
    assert "Approved" in body and "/approve/" not in body
    assert not Document.objects.filter(pk=proposal.document_id).exists()
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.APPROVED and proposal.decided_by == team.alice
    assert actions_since(mark) == ["proposal.approved", "document.deleted"]
    assert "<span>“Old plan”</span>" in body  # gone: named, not linked


def test_a_rejected_proposals_document_stays_a_link_to_it(team, proposal):
    """Rejected, the document is still there: its title stopped being a link."""
    client = logged_in(team.alice)
    document = reverse("document", args=[team.ws.slug, proposal.document.public_id])
    body = client.post(reverse("proposal-reject", args=[proposal.public_id]), headers=HTMX).content.decode()
    assert "Rejected" in body and f'<a href="{document}">“Old plan”</a>' in body
    assert f'<a href="{document}">“Old plan”</a>' in client.get(reverse("proposals")).content.decode()


def test_reject_by_plain_form_redirects_back(team, proposal):
    client = logged_in(team.alice)
    response = client.post(reverse("proposal-reject", args=[proposal.public_id]), {"back": "/"})
    assert response.status_code == 302 and response["Location"] == "/"
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.REJECTED
    assert Document.objects.filter(pk=proposal.document_id).exists()
    page = client.get(reverse("proposals")).content.decode()
    assert "Your agents' earlier proposals" in page and "Rejected" in page


def test_back_is_only_ever_a_local_page(team, proposal):
    response = logged_in(team.alice).post(reverse("proposal-reject", args=[proposal.public_id]), {"back": "https://evil.test/"})
    assert response["Location"] == reverse("proposals")


def test_a_decided_proposal_cannot_be_decided_again(team, proposal):
    client = logged_in(team.alice)
    client.post(reverse("proposal-reject", args=[proposal.public_id]), headers=HTMX)
    mark = audit_mark()
    response = client.post(reverse("proposal-approve", args=[proposal.public_id]), headers=HTMX)
    assert response.status_code == 200 and b"already rejected" in response.content
    assert actions_since(mark) == [] and Document.objects.filter(pk=proposal.document_id).exists()


def test_workspace_admin_may_decide_but_others_never_see_it(team, make, proposal):
    make.member(team.ws, team.admin, "admin")
    assert row_id(proposal).encode() in logged_in(team.admin).get(reverse("proposals")).content
    for outsider in (team.bob, team.stranger):  # a viewer of the workspace; another org
        client = logged_in(outsider)
        assert row_id(proposal).encode() not in client.get(reverse("proposals")).content
        assert client.post(reverse("proposal-approve", args=[proposal.public_id])).status_code == 404
        assert client.get(reverse("proposal-approve", args=[proposal.public_id])).status_code == 404
        assert client.get(reverse("proposal", args=[proposal.public_id])).status_code == 404
    assert Proposal.objects.get(pk=proposal.pk).status == ProposalStatus.PENDING
    assert logged_in(team.alice).get(reverse("proposal-reject", args=[proposal.public_id])).status_code == 405


def test_approve_asks_first_naming_the_document_then_deletes_it(team, proposal):
    """Approve deleted the document at the first press without JavaScript: it asked only
    through hx-confirm and data-confirm. Now GET asks, in the row (a page of its own
    without JavaScript, the row swapped in place with htmx); only the POST under it
    approves."""
    client = logged_in(team.alice)
    approve = reverse("proposal-approve", args=[proposal.public_id])
    mark = audit_mark()

    ask = client.get(approve, {"back": "/"})
    body = ask.content.decode()
    assert ask.status_code == 200 and "<html" in body and row_id(proposal) in body
    region = body[body.index('role="region"'):]
    region = region[:region.index("</form>")]
    assert re.search(r'<p tabindex="-1" autofocus>Delete “Old plan” for good\?</p>', region)
    assert "deleted for good" in region and "cannot be undone" in region and "Roadmap" in region
    assert re.search(rf'<form [^>]*method="post" action="{approve}"', region)
    assert '<input type="hidden" name="back" value="/">' in region
    assert re.search(r'<button type="submit"[^>]*>Approve delete</button>', region)
    assert 'href="/"' in region and ">Cancel</a>" in region
    assert "Reject</button>" not in body  # the question is approve or not

    ask_htmx = client.get(approve, {"back": "/proposals/"}, headers=HTMX)
    fragment = ask_htmx.content.decode()
    assert ask_htmx.status_code == 200 and "<html" not in fragment
    assert fragment.lstrip().startswith("<li") and row_id(proposal) in fragment and "for good?" in fragment
    assert 'href="/proposals/"' in fragment and "HX-Request" in ask_htmx["Vary"]
    assert actions_since(mark) == [] and Document.objects.filter(pk=proposal.document_id).exists()

    # Cancel, with htmx: the row as it was; without, the page the row was on (back).
    cancel = client.get(reverse("proposal", args=[proposal.public_id]), headers=HTMX).content.decode()
    assert cancel.lstrip().startswith("<li") and "for good?" not in cancel and "Approve delete…</a>" in cancel
    one = client.get(reverse("proposal", args=[proposal.public_id]))
    assert one.status_code == 200 and b"<html" in one.content and b"Approve delete\xe2\x80\xa6</a>" in one.content

    done = client.post(approve, {"back": "/"})
    assert done.status_code == 302 and done["Location"] == "/"
    assert not Document.objects.filter(pk=proposal.document_id).exists()
    assert actions_since(mark) == ["proposal.approved", "document.deleted"]
    # Asking about a decided proposal shows how it was decided, with nothing to press.
    again = client.get(approve).content.decode()
    assert "Approved" in again and "for good?" not in again and "Approve delete" not in again


def test_back_on_the_question_is_only_ever_a_local_page(team, proposal):
    body = logged_in(team.alice).get(reverse("proposal-approve", args=[proposal.public_id]), {"back": "https://evil.test/"})
    assert b"evil.test" not in body.content and b'name="back" value="/proposals/"' in body.content


def test_expired_proposal_shows_as_expired_without_buttons(team, proposal):
    Proposal.objects.filter(pk=proposal.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    html = logged_in(team.alice).get(reverse("proposals")).content.decode()
    assert "Expired" in html and "/approve/" not in html


def test_deciding_an_expired_proposal_refuses_and_stores_the_expiry(team, proposal):
    Proposal.objects.filter(pk=proposal.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    with pytest.raises(InvalidTransition, match="expired"):
        consent.proposal_approve(actor=team.alice, proposal=proposal)
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.EXPIRED and proposal.document is not None


def test_proposals_htmx_fragment_and_query_count(team, make, proposal, django_assert_max_num_queries):
    for n in range(5):
        agent, _ = make.agent(team.alice, f"Agent {n}", scope="read,write,delete")
        consent.document_delete_request(actor=agent, document=make.document(team.ws, agent, title=f"Doc {n}"))
    client = logged_in(team.alice)
    with django_assert_max_num_queries(5):
        response = client.get(reverse("proposals"), headers=HTMX)
    assert response.content.decode().lstrip().startswith('<div id="proposals-body"')
    assert "HX-Request" in response["Vary"]
    with django_assert_max_num_queries(15):  # 13, and the counts that go out with the row
        response = client.post(reverse("proposal-reject", args=[proposal.public_id]), headers=HTMX)
    body = response.content.decode()
    # The decided row, and the counts of what still waits (5 of 6), out of band by id.
    assert '<span class="count" id="nav-proposals-count" hx-swap-oob="true">5</span>' in body
    assert '<span class="count" id="waiting-count" hx-swap-oob="true">5</span>' in body


def test_a_long_wait_list_is_counted_whole(team, make, proposal, monkeypatch):
    """The list stops at the newest WAITING_SHOWN; the heading still counts every proposal
    waiting (as the top bar does) and says how many are shown."""
    from identity.views import proposals as view

    monkeypatch.setattr(view, "WAITING_SHOWN", 2)
    for n in range(2):
        agent, _ = make.agent(team.alice, f"Agent {n}", scope="read,write,delete")
        consent.document_delete_request(actor=agent, document=make.document(team.ws, agent, title=f"Doc {n}"))
    html = logged_in(team.alice).get(reverse("proposals")).content.decode()
    assert '<span class="count" id="waiting-count">3</span>' in html
    assert "Showing the newest 2 of 3." in html


def test_a_document_renamed_after_the_request_shows_under_its_current_title(team, make, proposal):
    """Approving deletes the document as it is now: the row and the confirmation name it
    by its current title, link to it, and say it changed after the agent asked."""
    from dock.workspaces import services as workspace_services

    workspace_services.document_update(actor=team.alice, document=proposal.document, title="Signed contract", body="Keep this.")
    client = logged_in(team.alice)
    html = client.get(reverse("proposals")).content.decode()
    assert "“Signed contract”" in html
    assert "Old plan" not in html
    assert reverse("document", args=["roadmap", proposal.document.public_id]) in html
    assert "edited after the request" in html
    ask = client.get(reverse("proposal-approve", args=[proposal.public_id]), headers=HTMX).content.decode()
    assert "Delete “Signed contract” for good?" in ask and "Old plan" not in ask
    assert "It was edited after Scout asked" in ask


def test_an_unchanged_document_is_not_said_to_be_edited(team, proposal):
    html = logged_in(team.alice).get(reverse("proposals")).content.decode()
    assert "“Old plan”" in html and "edited after the request" not in html


def test_approving_one_request_updates_the_rows_of_the_others_it_cancelled(team, make, proposal):
    """Two agents asked to delete the same document; approving one deletes it and cancels
    the other, whose row (on the same page) goes out with the answer, decided, so it is
    not left offering Approve and Reject."""
    make.member(team.ws, team.admin, "admin")
    other_agent, _ = make.agent(team.admin, "Sweeper", scope="read,write,delete")
    other = consent.document_delete_request(actor=other_agent, document=proposal.document)
    unrelated_agent, _ = make.agent(team.admin, "Filer", scope="read,write,delete")
    unrelated = consent.document_delete_request(actor=unrelated_agent, document=make.document(team.ws, team.admin, title="Other"))
    client = logged_in(team.admin)
    page = client.get(reverse("proposals")).content.decode()
    assert row_id(other) in page and row_id(unrelated) in page
    body = client.post(reverse("proposal-approve", args=[proposal.public_id]), headers=HTMX).content.decode()
    assert Proposal.objects.get(pk=other.pk).status == ProposalStatus.CANCELLED
    oob = body[body.index(f'id="proposal-{other.public_id}"') - 200:]
    oob = oob[oob.index("<li"):]
    oob = oob[: oob.index("</li>")]
    assert 'hx-swap-oob="true"' in oob and "Cancelled" in oob and "/approve/" not in oob
    assert "Document deleted" in oob  # why it was cancelled
    assert row_id(unrelated) not in body
    assert '<span class="count" id="waiting-count" hx-swap-oob="true">1</span>' in body


def test_a_paused_proposer_is_shown_and_approving_says_to_resume_it(team, proposal):
    """Paused, the agent cannot run what it asked for; the row says it is paused (as
    everywhere an agent is listed), and Approve says so, not that it lost its access."""
    from identity.services.agents import agent_pause

    agent_pause(actor=team.alice, agent=proposal.proposer)
    client = logged_in(team.alice)
    page = client.get(reverse("proposals")).content.decode()
    row = page[page.index(row_id(proposal)):]
    row = row[: row.index("</li>")]
    assert '<span class="chip chip-paused">Paused</span>' in row
    body = client.post(reverse("proposal-approve", args=[proposal.public_id]), {"back": "/"}, headers=HTMX).content.decode()
    assert "Scout is paused, so this proposal cannot run now: resume it first, or reject the proposal." in body
    assert Proposal.objects.get(pk=proposal.pk).status == ProposalStatus.PENDING
    # Still pending, the row offers its controls again, leading back to the page it is on.
    assert '<input type="hidden" name="back" value="/">' in body and "/approve/?back=/" in body


def test_proposal_lists_read_the_documents_title_without_its_body(team, proposal):
    """A list names each document by its current title; a body may be 100 kB, and a list
    of a hundred proposals has no use for it."""
    from identity import selectors

    for listed in (consent.proposals_for(team.alice)[0], selectors.agents_proposals(team.alice)[0]):
        assert listed.document.get_deferred_fields() == {"body"}
        assert listed.current_target_name == "Old plan"


def test_a_cancelled_proposal_says_why(team, make, proposal):
    """Its owner left the workspace: the row said only "Cancelled", and the reason was in
    the audit log alone."""
    from audit.refs import SYSTEM
    from dock.workspaces import services
    from dock.workspaces.models import Membership

    make.member(team.ws, team.admin, "admin")
    services.membership_remove(actor=SYSTEM, membership=Membership.objects.get(workspace=team.ws, principal=team.alice))
    assert Proposal.objects.get(pk=proposal.pk).cancelled_because == "owner left the workspace"
    html = logged_in(team.alice).get(reverse("proposals")).content.decode()
    row = html[html.index(row_id(proposal)):]
    row = row[:row.index("</li>")]
    assert "Cancelled" in row and "Owner left the workspace" in row


@pytest.mark.usefixtures("hermetic_api")
@pytest.mark.parametrize("how", ["transferred", "adopted"])
def test_a_new_owner_is_not_shown_what_the_agent_asked_for_where_they_cannot_see(team, make, how):
    """An agent handed to Bob (transferred, or a service account adopted) keeps the
    proposals it made before, cancelled by the hand-over, in a members-only workspace
    Bob cannot open: neither his inbox nor the agent's key (which Bob now issues) may
    show him what was to be deleted there."""
    from identity import capabilities
    from identity.api.testing import ApiClient
    from identity.services import agents, keys, service_accounts

    vault = make.workspace(team.org, "vault", name="Vault")
    if how == "transferred":
        agent, _ = make.agent(team.alice, "Scout", scope="read,write,delete")
        make.member(vault, team.alice, "editor")
    else:
        agent, _ = make.service(team.org, "Scout")
        make.member(vault, agent, "editor")
    secret = consent.document_delete_request(actor=agent, document=make.document(vault, team.alice, title="Secret plan"))
    if how == "transferred":
        agent = agents.agent_transfer(actor=team.admin, agent=agent, new_owner=team.bob)
    else:
        agent, _ = service_accounts.service_adopt(actor=team.admin, service=agent, owner=team.bob,
                                                  scope=capabilities.parse("read,write,delete"), issue_key=False)
    assert logged_in(team.bob).get("/w/vault/").status_code == 404
    html = logged_in(team.bob).get(reverse("proposals")).content.decode()
    assert "Secret plan" not in html and "Vault" not in html and row_id(secret) not in html
    assert logged_in(team.bob).post(reverse("proposal-reject", args=[secret.public_id])).status_code == 404
    _, key = keys.key_issue(actor=team.bob, principal=agent)
    listed = ApiClient(key).get("/api/v1/proposals")
    assert listed.status_code == 200 and listed.data["items"] == []
    # What it asks for under Bob, where he works, is his to see, there and on the API.
    make.member(vault, team.bob, "editor")
    asked = consent.document_delete_request(actor=agent, document=make.document(vault, team.bob, title="Bob's plan"))
    html = logged_in(team.bob).get(reverse("proposals")).content.decode()
    assert row_id(asked) in html
    assert [p["id"] for p in ApiClient(key).get("/api/v1/proposals").data["items"]][:1] == [asked.public_id]
