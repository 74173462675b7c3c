"""/people/: everyone of the org with one card, filters, pages, the org chart, query bounds."""

import re

import pytest
from django.urls import reverse

from identity.ids import new_public_id
from identity.models import Kind, Principal

from .views_support import HTMX, Team, logged_in


@pytest.fixture
def team(make):
    return Team(make)


def names(response) -> list[str]:
    return re.findall(r'<a class="principal-name" href="/p/[^/]+/">([^<]+)</a>', response.content.decode())


def test_people_lists_every_kind_with_the_same_card(team, make):
    make.agent(team.alice, "Scout")
    make.service(team.org, "Nightly Digest")
    make.agent(team.stranger, "Globex Bot")
    response = logged_in(team.bob).get(reverse("people"))
    assert response.status_code == 200
    listed = names(response)
    assert listed == sorted(listed)
    assert set(listed) == {"Ada Admin", "Alice Adams", "Bob Brown", "Scout", "Nightly Digest"}
    html = response.content.decode()
    html = html[html.index('<ul class="people">'):]
    assert html.count('class="principal principal-40') == 5
    assert "agent · owned by" in html and "service account" in html


@pytest.mark.parametrize(
    "kind, expected",
    [("human", {"Ada Admin", "Alice Adams", "Bob Brown"}), ("agent", {"Scout"}), ("service", {"Nightly Digest"}), ("robot", None)],
)
def test_people_filter_by_kind(team, make, kind, expected):
    make.agent(team.alice, "Scout")
    make.service(team.org, "Nightly Digest")
    response = logged_in(team.bob).get(reverse("people"), {"kind": kind})
    assert set(names(response)) == (expected or {"Ada Admin", "Alice Adams", "Bob Brown", "Scout", "Nightly Digest"})


def test_people_htmx_answers_the_list_fragment(team):
    response = logged_in(team.bob).get(reverse("people"), {"kind": "human"}, headers=HTMX)
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="people-body"') and "<html" not in body
    assert "HX-Request" in response["Vary"]
    full = logged_in(team.bob).get(reverse("people"), {"kind": "human"})
    assert "HX-Request" in full["Vary"] and "<html" in full.content.decode()
    restore = logged_in(team.bob).get(reverse("people"), {"kind": "human"}, headers={**HTMX, "HX-History-Restore-Request": "true"})
    assert "<html" in restore.content.decode()


def test_org_chart_nests_agents_under_their_owners(team, make):
    make.agent(team.alice, "Scout")
    make.agent(team.alice, "Draftsmith")
    make.agent(team.bob, "Ledger")
    make.service(team.org, "Nightly Digest")
    html = logged_in(team.bob).get(reverse("people"), {"view": "chart"}).content.decode()
    tree = html[html.index('<ul class="tree org-chart">'):]
    alice_branch = tree[tree.index(">Alice Adams<"):tree.index(">Bob Brown<")]
    assert ">Draftsmith<" in alice_branch and ">Scout<" in alice_branch and ">Ledger<" not in alice_branch
    bob_branch = tree[tree.index(">Bob Brown<"):]
    assert ">Ledger<" in bob_branch
    assert "Service accounts" in html and ">Nightly Digest<" in html


def bulk_org(org, humans: int, agents: int, services: int):
    rows = [
        Principal(public_id=new_public_id("usr"), handle=f"h-{n:05d}", display_name=f"Human {n:05d}", kind=Kind.HUMAN, org=org)
        for n in range(humans)
    ]
    Principal.objects.bulk_create(rows, batch_size=500)
    owners = list(Principal.objects.filter(org=org, kind=Kind.HUMAN).order_by("id")[:agents])
    Principal.objects.bulk_create(
        [
            Principal(public_id=new_public_id("agt"), handle=f"a-{n:05d}", display_name=f"Agent {n:05d}", kind=Kind.AGENT,
                      org=org, owner=owners[n % len(owners)], scope=1)
            for n in range(agents)
        ],
        batch_size=500,
    )
    Principal.objects.bulk_create(
        [
            Principal(public_id=new_public_id("svc"), handle=f"s-{n:05d}", display_name=f"Service {n:05d}", kind=Kind.SERVICE, org=org)
            for n in range(services)
        ],
        batch_size=500,
    )


@pytest.mark.parametrize("params", [{}, {"kind": "agent"}, {"page": "17"}, {"view": "chart"}, {"view": "chart", "page": "30"}])
def test_people_with_2000_principals_is_paginated_in_at_most_12_queries(team, params, django_assert_max_num_queries):
    bulk_org(team.org, humans=1100, agents=800, services=100)
    client = logged_in(team.bob)
    with django_assert_max_num_queries(12):
        response = client.get(reverse("people"), params)
    assert response.status_code == 200
    page = response.context["page"]
    assert page.paginator.count >= 800 and len(page.object_list) <= 60
    assert "Page" in response.content.decode()


def test_an_empty_kind_says_what_to_do_for_that_kind(team):
    """With no service accounts, Services said 'Nobody here yet. Invite teammates from a
    workspace's members page, or create an agent.' with a Create an agent button."""
    services = logged_in(team.bob).get(reverse("people") + "?kind=service").content.decode()
    assert "No service accounts yet" in services
    assert "create an agent" not in services.lower() and "Invite teammates" not in services
    assert "Create one in Service accounts" not in services  # a member does not manage them
    admin = logged_in(team.admin).get(reverse("people") + "?kind=service").content.decode()
    assert f'<a href="{reverse("services")}">Create one in Service accounts</a>' in admin
    agents = logged_in(team.bob).get(reverse("people") + "?kind=agent").content.decode()
    assert "No agents yet" in agents and f'href="{reverse("agent-new")}"' in agents and "Invite teammates" not in agents


def test_the_people_tab_is_current_on_every_page_about_principals(team, make):
    """Profiles, an agent's own pages (new, revoke, transfer without JavaScript) and the
    service accounts' pages are all reached from People, and say so in the top bar."""
    agent, _ = make.agent(team.alice, "Scribe")
    service, _ = make.service(team.org, "Nightly")
    people = re.compile(r'<a href="/people/" aria-current="page">People</a>')
    alice, admin = logged_in(team.alice), logged_in(team.admin)
    for client, url in [
        (alice, reverse("people")),
        (alice, reverse("profile", args=[agent.handle])),
        (alice, reverse("agent-new")),
        (alice, reverse("agent-revoke", args=[agent.handle])),
        (admin, reverse("agent-transfer", args=[agent.handle])),
        (admin, reverse("services")),
        (admin, reverse("service-admin", args=[service.public_id])),
    ]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert people.search(response.content.decode()), url
    assert not people.search(alice.get(reverse("home")).content.decode())
