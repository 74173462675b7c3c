"""One profile template for every kind; the agent card's audience; the access explainer."""

import re

import pytest
from django.urls import reverse

from audit.refs import SYSTEM
from dock.workspaces.services import membership_add

from .views_support import HTMX, Team, logged_in


@pytest.fixture
def team(make):
    return Team(make)


def card_of(html: str) -> str:
    """The profile header's principal card (the 128 px one)."""
    match = re.search(r'<div class="principal principal-128.*?</div>\s*</div>\s*</div>', html, re.S)
    assert match, "no profile card"
    return match.group(0)


def test_every_kind_gets_the_same_profile_with_a_small_kind_label(team, make):
    agent, _ = make.agent(team.alice, "Scout")
    service, _ = make.service(team.org, "Nightly Digest")
    client = logged_in(team.bob)
    pages = {p.kind: client.get(p.get_absolute_url()) for p in (team.alice, agent, service)}
    for response in pages.values():
        assert response.status_code == 200
        assert [t.name for t in response.templates][0] == "identity/profile.html"
    human, agent_card, service_card = (card_of(pages[k].content.decode()) for k in ("human", "agent", "service"))
    assert 'class="kind"' not in human
    assert re.search(r'<span class="kind">agent · owned by Alice Adams</span>', agent_card)
    assert '<span class="kind">service account</span>' in service_card
    # Same markup apart from name, handle, avatar and the label.
    def strip(card):
        card = re.sub(r'\s*<span class="kind">.*?</span>', "", card)
        return re.sub(r'src="[^"]*"|>[^<]*<', "><", card)

    assert strip(human) == strip(agent_card) == strip(service_card)
    # The name is the page's one h1: every heading on it was an h2, so a screen reader's
    # "first heading" never reached whose profile it is.
    for principal in (team.alice, agent, service):
        html = pages[principal.kind].content.decode()
        assert re.findall(r"<h1[ >].*?</h1>", html) == [f'<h1 class="principal-name">{principal.display_name}</h1>']


def test_agent_profile_shows_owner_scope_and_status_to_teammates_but_keys_only_to_managers(team, make):
    agent, _ = make.agent(team.alice, "Scout", scope="read,write")
    viewer = logged_in(team.bob).get(agent.get_absolute_url()).content.decode()
    assert 'data-status="active"' in viewer
    assert "Alice Adams" in viewer and ">write<" in viewer
    assert 'aria-label="API keys"' not in viewer and "/pause/" not in viewer and "/transfer/" not in viewer

    owner = logged_in(team.alice).get(agent.get_absolute_url()).content.decode()
    assert 'aria-label="API keys"' in owner and 'data-state="current"' in owner and "/pause/" in owner
    assert "/transfer/" not in owner
    admin = logged_in(team.admin).get(agent.get_absolute_url()).content.decode()
    assert "/pause/" in admin and "/transfer/" in admin
    assert "<option" not in admin  # the list of everyone is fetched only when asked for
    transfer = logged_in(team.admin).get(reverse("agent-transfer", args=[agent.handle]), headers=HTMX).content.decode()
    assert transfer.lstrip().startswith("<form") and 'hx-target="#agent-card"' in transfer
    assert f'<option value="{team.bob.public_id}">Bob Brown (@{team.bob.handle})' in transfer
    assert f'<option value="{team.alice.public_id}">' not in transfer  # not the current owner
    full = logged_in(team.admin).get(reverse("agent-transfer", args=[agent.handle]))
    assert b"<html" in full.content and b"Transfer Scout" in full.content


def test_no_digest_ever_reaches_the_page(team, make):
    agent, _ = make.agent(team.alice, "Scout")
    digest = agent.keys.get().digest
    assert digest not in logged_in(team.alice).get(agent.get_absolute_url()).content.decode()


def test_access_explainer_gives_the_chain_or_the_denying_rule(team, make):
    agent, _ = make.agent(team.alice, "Scout", scope="read,write")
    vault = make.workspace(team.org, "vault", name="Vault", restricted=True)
    make.member(vault, team.alice, "admin")
    make.workspace(team.org, "hidden", name="Hidden")  # alice cannot see it
    html = logged_in(team.alice).get(agent.get_absolute_url()).content.decode()
    rows = dict(re.findall(r'<li data-workspace="([^"]+)">(.*?)</li>\s*(?=<li data-workspace|</ul>)', html, re.S))
    assert set(rows) == {"roadmap", "vault"}
    roadmap = rows["roadmap"]
    assert re.findall(r'chip chip-cap">(\w+)<', roadmap) == ["read", "write"]
    assert "Alice Adams is editor of Roadmap" in roadmap and "Capped by the agent" in roadmap
    vault_row = rows["vault"]
    assert "No access" in vault_row
    assert "restricted and Scout has not been elevated" in vault_row
    assert "denied by default" in vault_row


def test_profiles_outside_the_org_are_404_until_a_workspace_is_shared(team, make):
    agent, _ = make.agent(team.stranger, "Globex Bot")
    alice = logged_in(team.alice)
    assert alice.get(team.stranger.get_absolute_url()).status_code == 404
    assert alice.get(agent.get_absolute_url()).status_code == 404
    assert alice.get("/p/nobody-at-all/").status_code == 404
    membership_add(actor=SYSTEM, workspace=team.ws, principal=team.stranger, role="viewer")
    assert alice.get(team.stranger.get_absolute_url()).status_code == 200
    page = alice.get(agent.get_absolute_url())
    assert page.status_code == 200
    assert b"/pause/" not in page.content and b'aria-label="API keys"' not in page.content


def test_activity_is_shown_to_self_owner_and_auditors_only(team, make):
    agent, _ = make.agent(team.alice, "Scout", scope="read,write")
    make.document(team.ws, agent, title="Agent notes")
    assert b"Agent notes" in logged_in(team.alice).get(team.alice.get_absolute_url()).content
    assert b"Agent notes" in logged_in(team.alice).get(agent.get_absolute_url()).content
    assert b"Agent notes" in logged_in(team.admin).get(agent.get_absolute_url()).content
    bob_view = logged_in(team.bob).get(team.alice.get_absolute_url())
    assert b"Recent activity" not in bob_view.content


@pytest.mark.parametrize("how", ["transferred", "adopted"])
def test_a_new_owner_sees_what_the_agent_did_under_them_not_before(team, make, how):
    """An agent handed to Bob (transferred, or a service account adopted as his agent)
    brings its history along, done where Bob may never have been: a members-only
    workspace of Alice's, here. Its profile shows Bob what it did under him, as his
    dashboard does; what it did before stays with the auditors and org admins."""
    from dock.workspaces.services import document_create
    from identity.services import agents, service_accounts

    vault = make.workspace(team.org, "vault", name="Vault")
    if how == "transferred":
        agent, _ = make.agent(team.alice, "Scout", scope="read,write")
        make.member(vault, team.alice, "editor")
        make.document(vault, agent, title="Secret acquisition")
        agent = agents.agent_transfer(actor=team.admin, agent=agent, new_owner=team.bob)
    else:
        agent, _ = make.service(team.org, "Scout")
        make.member(vault, agent, "editor")
        make.document(vault, agent, title="Secret acquisition")
        agent, _ = service_accounts.service_adopt(actor=team.admin, service=agent, owner=team.bob, issue_key=False)
    document_create(actor=agent, workspace=team.ws, title="Done for Bob")
    assert logged_in(team.bob).get("/w/vault/").status_code == 404
    bob = logged_in(team.bob).get(agent.get_absolute_url()).content.decode()
    assert "Done for Bob" in bob
    assert "Secret acquisition" not in bob and "Vault" not in bob
    # The chart above the list counts what the list shows: one document, here.
    assert re.search(r"\b1 event\b", bob) and not re.search(r"\b[2-9] events\b", bob)
    admin = logged_in(team.admin).get(agent.get_absolute_url()).content.decode()
    assert "Secret acquisition" in admin and "Done for Bob" in admin


def test_human_profile_lists_their_agents_and_own_profile_has_password_form(team, make):
    make.agent(team.alice, "Scout")
    own = logged_in(team.alice).get(team.alice.get_absolute_url()).content.decode()
    assert "Scout" in own and 'id="password-form"' in own and "autofocus" not in own
    # Whose password it is, for password managers (Chromium asks for a username field).
    assert f'<input type="email" name="username" value="{team.alice.user.email}" autocomplete="username" hidden>' in own
    other = logged_in(team.bob).get(team.alice.get_absolute_url()).content.decode()
    assert "Scout" in other and 'id="password-form"' not in other


def test_service_profile_lists_its_grants(team, make):
    service, _ = make.service(team.org, "Nightly Digest")
    make.member(team.ws, service, "viewer")
    html = logged_in(team.alice).get(service.get_absolute_url()).content.decode()
    assert "Grants" in html and "Roadmap" in html and "Viewer" in html


def test_profile_vary_header(team):
    response = logged_in(team.alice).get(team.alice.get_absolute_url(), headers=HTMX)
    assert "HX-Request" in response["Vary"]


@pytest.mark.parametrize("workspaces", [1, 12])
def test_agent_profile_query_count_does_not_grow_with_workspaces(team, make, workspaces, django_assert_max_num_queries):
    agent, _ = make.agent(team.alice, "Scout", scope="read,write")
    for n in range(workspaces):
        make.member(make.workspace(team.org, f"extra-{n}"), team.alice, "editor")
    client = logged_in(team.admin)
    with django_assert_max_num_queries(13):
        assert client.get(agent.get_absolute_url()).status_code == 200


def test_human_profile_query_count(team, make, django_assert_max_num_queries):
    for n in range(5):
        make.agent(team.alice, f"Agent {n}")
    client = logged_in(team.alice)
    with django_assert_max_num_queries(13):
        assert client.get(team.alice.get_absolute_url()).status_code == 200


def test_an_owner_pages_back_through_all_of_their_and_their_agents_activity(team, make):
    """The profile lists the newest ten events, and Older goes on from there, so an owner
    who is no auditor still sees everything they and their agents did, not just the
    latest ten."""
    from audit.models import AuditEvent
    from identity.selectors import QUIET_ACTIONS

    agent, _ = make.agent(team.alice, "Scout", scope="read,write")
    for n in range(24):
        make.document(team.ws, agent if n % 2 else team.alice, title=f"Note {n}")
    want = list(AuditEvent.objects.filter(owner_id=team.alice.public_id).exclude(action__in=QUIET_ACTIONS)
                .order_by("-occurred_at", "-id").values_list("target_name", "action"))
    assert len(want) > 20
    client = logged_in(team.alice)
    url, seen, pages = team.alice.get_absolute_url(), [], 0
    while url:
        html = client.get(url).content.decode()
        rows = re.findall(r'<tr>\s*<td><time.*?</tr>', html, re.S)
        assert 0 < len(rows) <= 10
        seen += rows
        pages += 1
        older = re.search(r'<a href="([^"]+)" rel="next">Older', html)
        url = older.group(1).replace("&amp;", "&") if older else None
        if pages > 1:
            assert f'href="{team.alice.get_absolute_url()}#activity-title">Newest' in html
    assert len(seen) == len(want) and pages == -(-len(want) // 10)
    for row, (target, _action) in zip(seen, want, strict=True):
        assert f"{target}</span>" in row
    broken = client.get(team.alice.get_absolute_url(), {"after": "not-a-cursor"})
    assert broken.status_code == 200 and "not valid any more" in broken.content.decode()


def test_an_agent_or_service_without_activity_is_not_called_a_person_with_agents(team, make):
    agent, _ = make.agent(team.alice, "Scout")
    service, _ = make.service(team.org, "Nightly Digest")
    client = logged_in(team.admin)
    for principal in (agent, service):
        html = client.get(principal.get_absolute_url()).content.decode()
        assert "No activity yet" in html
        assert "this person and their agents" not in html
        assert "What it does appears here as it happens." in html
    html = client.get(team.bob.get_absolute_url()).content.decode()
    assert "Actions by this person and their agents appear here as they happen." in html
