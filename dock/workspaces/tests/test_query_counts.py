"""Every workspace page's query count, pinned (the top bar's own queries included)."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.fixture
def site(make):
    org = make.org("acme", "Acme")
    alice = make.human(org, "Alice Adams")
    bob = make.human(org, "Bob Baker")
    workspace = make.workspace(org, "roadmap", restricted=True)
    make.member(workspace, alice, "admin")
    make.member(workspace, bob, "editor")
    for n in range(4):
        make.agent(bob, f"Bot {n}", scope="read,write")
    document = make.document(workspace, alice, title="Plan")
    return {"alice": alice, "document": document}


@pytest.mark.parametrize("name, args, limit", [
    ("workspace-new", [], 4),
    ("document-edit", ["roadmap", "DOC"], 7),
    ("document-delete", ["roadmap", "DOC"], 7),
    ("workspace-member", ["roadmap", "bob-baker"], 8),
    ("workspace-member-remove", ["roadmap", "bob-baker"], 8),
])
def test_page_query_counts(site, login, django_assert_max_num_queries, name, args, limit):
    args = [site["document"].public_id if a == "DOC" else a for a in args]
    client = login(site["alice"])
    url = reverse(name, args=args)
    client.get(url)
    with django_assert_max_num_queries(limit):
        assert client.get(url).status_code == 200


def test_invite_post_query_count(site, login, htmx, django_assert_max_num_queries, django_capture_on_commit_callbacks):
    client = login(site["alice"])
    client.get(reverse("workspace-members", args=["roadmap"]))
    with django_capture_on_commit_callbacks(execute=True), django_assert_max_num_queries(16):
        response = client.post(reverse("workspace-invite", args=["roadmap"]), {"email": "dave@initech.test", "role": "viewer"}, **htmx)
    assert response.status_code == 200
