"""The dashboard: my workspaces, my agents with status, proposals for me, recent activity."""

import re

import pytest
from django.urls import reverse

from identity import access, consent
from identity.services.agents import agent_pause

from .views_support import HTMX, Team, logged_in


@pytest.fixture
def team(make):
    return Team(make)


def test_dashboard_shows_my_workspaces_agents_proposals_and_activity(team, make):
    scout, _ = make.agent(team.alice, "Scout", scope="read,write,delete")
    ledger, _ = make.agent(team.alice, "Ledger")
    agent_pause(actor=team.alice, agent=ledger)
    make.agent(team.bob, "Bob's Helper")
    make.workspace(team.org, "private", name="Private Room")  # not alice's
    doc = make.document(team.ws, scout, title="Old plan")
    consent.document_delete_request(actor=scout, document=doc)

    response = logged_in(team.alice).get(reverse("home"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Roadmap" in html and "Private Room" not in html
    assert ">Scout<" in html and ">Ledger<" in html and "Bob&#x27;s Helper" not in html
    assert 'class="chip chip-paused">Paused<' in html
    assert "Waiting for your decision" in html and "“Old plan”" in html and "/approve/" in html
    assert "Recent activity" in html and "A document was created" in html
    assert "HX-Request" in response["Vary"]


def test_a_revoked_agent_is_not_listed_with_the_scope_it_can_no_longer_use(team, make):
    from identity.services.agents import agent_revoke

    gone, _ = make.agent(team.alice, "Gone bot", scope="read,write")
    agent_revoke(actor=team.alice, agent=gone)
    make.agent(team.alice, "Live bot", scope="read,write")
    html = logged_in(team.alice).get(reverse("home")).content.decode()
    agents = html.split('class="rows home-agents"')[1].split("</ul>")[0]
    assert agents.count(' · read, write</span>') == 1
    assert f'<span class="principal-sub">@{gone.handle} · can do nothing, for good</span>' in agents
    profile = logged_in(team.alice).get(team.alice.get_absolute_url()).content.decode()  # her list there too
    assert f'<span class="principal-sub">@{gone.handle} · can do nothing, for good</span>' in profile


def test_your_agents_are_told_apart_by_handle_when_a_transfer_brings_a_second_of_one_name(team, make):
    """Creating refuses a second "Scout"; a transfer (or an adoption) may still bring one."""
    from audit.refs import SYSTEM
    from identity.services.agents import agent_transfer

    mine, _ = make.agent(team.alice, "Scout", scope="read")
    bobs, _ = make.agent(team.bob, "Scout", scope="read")
    agent_transfer(actor=SYSTEM, agent=bobs, new_owner=team.alice)
    for page in (reverse("home"), team.alice.get_absolute_url()):
        html = logged_in(team.alice).get(page).content.decode()
        assert f"@{mine.handle} · read</span>" in html and f"@{bobs.handle} · read</span>" in html, page
    # Where only names and faces showed: the org chart, and what leaving a workspace takes
    # from her agents.
    chart = logged_in(team.bob).get(reverse("people"), {"view": "chart"}).content.decode()
    leave = logged_in(team.alice).get(reverse("workspace-member-remove", args=[team.ws.slug, team.alice.handle]))
    impact = leave.content.decode().split('class="comments impact-agents"')[1].split("</ul>")[0]
    for html in (chart, impact):
        assert f'<span class="principal-sub">@{mine.handle}</span>' in html
        assert f'<span class="principal-sub">@{bobs.handle}</span>' in html


def test_empty_dashboard_says_what_to_do_next(make):
    org = make.org()
    newcomer = make.human(org, "Nora New")
    html = logged_in(newcomer).get(reverse("home")).content.decode()
    assert "No workspaces yet" in html and reverse("workspace-new") in html
    assert "No agents yet" in html and reverse("agent-new") in html
    assert "Waiting for your decision" not in html


def test_dashboard_does_not_show_other_orgs_activity(team, make):
    bot, _ = make.agent(team.stranger, "Globex Bot", scope="read,write")
    globex_ws = make.workspace(team.other_org, "globex-ws")
    make.member(globex_ws, team.stranger, "editor")
    make.document(globex_ws, bot, title="Globex secret plan")
    html = logged_in(team.alice).get(reverse("home")).content.decode()
    assert "Globex secret plan" not in html


def test_dashboard_query_count(team, make, django_assert_max_num_queries):
    for n in range(4):
        agent, _ = make.agent(team.alice, f"Agent {n}", scope="read,write,delete")
        doc = make.document(team.ws, agent, title=f"Doc {n}")
        consent.document_delete_request(actor=agent, document=doc)
    for n in range(6):
        make.member(make.workspace(team.org, f"extra-{n}"), team.alice, "viewer")
    client = logged_in(team.alice)
    # The activity feed reads the audit log as its owner filter does, one index range per
    # kind the owner answers for (their own events, their agents'); nothing per row.
    with django_assert_max_num_queries(11):
        assert client.get(reverse("home")).status_code == 200
    with django_assert_max_num_queries(11):
        assert client.get(reverse("home"), headers=HTMX).status_code == 200


def test_recent_activity_leads_to_all_of_it(team, make):
    """The dashboard shows the latest ten; an owner who is no auditor reaches the rest on
    their profile (which pages back through it), an auditor in the audit log."""
    html = logged_in(team.alice).get(reverse("home")).content.decode()
    assert f'<a class="small" href="{team.alice.get_absolute_url()}#activity-title">All activity</a>' in html
    html = logged_in(team.admin).get(reverse("home")).content.decode()
    assert f'href="/audit/?owner={team.admin.public_id}">Audit log</a>' in html


def _workspace_section(html: str) -> str:
    start = html.index('id="home-workspaces"')
    return html[start:html.index("</section>", start)]


def test_every_workspace_can_be_reached_from_the_dashboard(team, make):
    """The dashboard listed the first twelve workspaces by name and nothing more: a
    thirteenth could not be reached from any page. They come a page at a time."""
    for n in range(13):
        make.member(make.workspace(team.org, f"zz-{n:02}", name=f"Zz {n:02}"), team.alice, "viewer")
    client = logged_in(team.alice)
    first = _workspace_section(client.get(reverse("home")).content.decode())
    names = re.findall(r'href="/w/([\w-]+)/"', first)
    assert len(names) == 12 and 'href="?page=2"' in first
    second = _workspace_section(client.get(reverse("home") + "?page=2").content.decode())
    rest = re.findall(r'href="/w/([\w-]+)/"', second)
    assert rest and not set(rest) & set(names)
    assert set(names) | set(rest) == set(access.visible_workspaces(team.alice).values_list("slug", flat=True))
    assert 'href="?page=1"' in second
    assert client.get(reverse("home") + "?page=zz").status_code == 200


@pytest.mark.parametrize("number", ["99999999999999999999", "-3", "1e3", ""])
def test_a_page_number_out_of_range_or_malformed_is_answered_not_a_server_error(team, number):
    """A page number past what the database can offset answered 500."""
    response = logged_in(team.alice).get(reverse("home") + f"?page={number}")
    assert response.status_code == 200
    html = _workspace_section(response.content.decode())
    if number == "99999999999999999999":
        assert "No more workspaces" in html and f'href="{reverse("home")}"' in html
    else:
        assert 'href="/w/' in html  # the first page
