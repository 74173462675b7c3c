"""/w/new/ and /w/<slug>/: creating a workspace, listing and writing documents."""

import pytest
from django.urls import reverse

from conftest import actions_since, audit_mark
from dock.workspaces.models import Document, Membership, Workspace

pytestmark = pytest.mark.django_db


def test_creator_becomes_admin_of_new_workspace(make, login):
    org = make.org()
    alice = make.human(org, "Alice Adams")
    mark = audit_mark()
    response = login(alice).post(reverse("workspace-new"), {
        "name": "Product roadmap", "slug": "", "visibility": "org", "restricted": "on", "description": "Plans",
    })
    workspace = Workspace.objects.get(slug="product-roadmap")
    assert response.status_code == 302
    assert response["Location"] == reverse("workspace", args=["product-roadmap"])
    assert (workspace.org, workspace.visibility, workspace.restricted, workspace.description) == (org, "org", True, "Plans")
    assert Membership.objects.get(workspace=workspace).principal == alice
    assert Membership.objects.get(workspace=workspace).role == "admin"
    assert actions_since(mark) == ["workspace.created", "workspace.member.added"]


@pytest.mark.parametrize("data, field, message", [
    ({"name": "", "slug": "x", "visibility": "members"}, "name", "This field is required."),
    ({"name": "Ok", "slug": "Not A Slug!", "visibility": "members"}, "slug", "Use lowercase letters, digits, hyphens and underscores."),
    ({"name": "Ok", "slug": "new", "visibility": "members"}, "slug", "reserved"),
    ({"name": "Ok", "slug": "ok", "visibility": "everyone"}, "visibility", "Select a valid choice"),
    ({"name": "!!!", "slug": "", "visibility": "members"}, "slug", "Choose a slug"),
    ({"name": "x" * 201, "slug": "ok", "visibility": "members"}, "name", "at most 200 characters"),
])
def test_bad_workspace_input_shows_field_errors_and_changes_nothing(make, login, data, field, message):
    alice = make.human(make.org())
    mark = audit_mark()
    response = login(alice).post(reverse("workspace-new"), data)
    assert response.status_code == 400
    form = response.context["form"]
    assert message in " ".join(form.errors[field])
    assert message.split("“")[0] in response.content.decode().replace("&ldquo;", "“").replace("&#x27;", "'")
    assert 'aria-invalid="true"' in response.content.decode()
    assert not Workspace.objects.exists()
    assert actions_since(mark) == []


def test_an_empty_form_flags_the_name_only(make, login):
    """The slug may be left blank (it follows from the name): with no name it was flagged
    too, with a message about the name's letters."""
    response = login(make.human(make.org())).post(reverse("workspace-new"), {"name": "", "slug": "", "visibility": "members"})
    assert response.status_code == 400 and list(response.context["form"].errors) == ["name"]


def test_taken_slug_is_a_field_error(make, login):
    org = make.org()
    make.workspace(org, "roadmap")
    alice = make.human(org)
    mark = audit_mark()
    response = login(alice).post(reverse("workspace-new"), {"name": "Another", "slug": "roadmap", "visibility": "members"})
    assert response.status_code == 400
    assert response.context["form"].errors["slug"] == ["That slug is taken."]
    assert Workspace.objects.count() == 1
    assert actions_since(mark) == []


def test_a_taken_slug_made_from_the_name_is_shown_in_the_field(make, login):
    """The slug was left blank: the error named nothing on screen ('That slug is taken.'
    under an empty field). It names the slug made from the name and puts it in the field."""
    org = make.org()
    make.workspace(org, "launch")
    response = login(make.human(org)).post(reverse("workspace-new"), {"name": "Launch", "slug": "", "visibility": "members"})
    assert response.status_code == 400
    form = response.context["form"]
    assert form.errors["slug"] == ["“launch”, made from the name, is taken: choose another slug."]
    assert form["slug"].value() == "launch"
    assert 'name="slug" value="launch"' in response.content.decode()
    assert Workspace.objects.count() == 1


def test_pages_need_a_login(make, client):
    workspace = make.workspace(make.org(), "roadmap")
    for url in (reverse("workspace-new"), reverse("workspace", args=[workspace.slug]),
                reverse("workspace-members", args=[workspace.slug])):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_workspace_lists_documents_newest_first_with_my_capabilities(make, login):
    org = make.org()
    alice = make.human(org, "Alice Adams")
    workspace = make.workspace(org, "roadmap")
    make.member(workspace, alice, "editor")
    scribe, _ = make.agent(alice, "Scribe", scope="read,write")
    make.document(workspace, alice, title="First")
    make.document(workspace, scribe, title="Second, by the agent")
    response = login(alice).get(reverse("workspace", args=["roadmap"]))
    html = response.content.decode()
    assert response.status_code == 200
    assert html.index("Second, by the agent") < html.index("First")
    assert [d.title for d in response.context["documents"]] == ["Second, by the agent", "First"]
    assert response.context["decision"].names == ["read", "comment", "write", "delete"]
    assert "You are editor" in html
    # The agent's document is bylined by the agent, with the quiet label naming its owner.
    assert "Scribe" in html and "agent · owned by" in html
    assert response["Vary"] and "HX-Request" in response["Vary"]


def test_the_document_list_says_when_a_document_was_last_edited(make, login):
    """It said only when each was written: an edit yesterday read as '28 days ago'."""
    from datetime import timedelta

    from django.utils import timezone

    from dock.workspaces.models import Document
    from dock.workspaces.services import document_update

    org = make.org()
    alice, bruno = make.human(org, "Alice Adams"), make.human(org, "Bruno Silva")
    workspace = make.workspace(org, "roadmap")
    make.member(workspace, alice, "editor")
    make.member(workspace, bruno, "editor")
    untouched, by_author, by_other = (make.document(workspace, alice, title=t) for t in ("Untouched", "Mine", "Theirs"))
    written = timezone.now() - timedelta(days=28)
    Document.objects.update(created_at=written, updated_at=written)
    document_update(actor=alice, document=Document.objects.get(pk=by_author.pk), body="Again.")
    document_update(actor=bruno, document=Document.objects.get(pk=by_other.pk), body="Mended.")
    html = login(alice).get(reverse("workspace", args=["roadmap"])).content.decode()

    def byline(title):
        item = html[html.index(f">{title}</a>"):]
        return item[: item.index("</li>")]

    assert "28 days ago" in byline("Untouched") and "edited" not in byline("Untouched")
    assert '<span class="quiet">edited</span>' in byline("Mine") and "just now" in byline("Mine")
    assert "edited by" in byline("Theirs") and "Bruno Silva" in byline("Theirs") and "just now" in byline("Theirs")


def test_workspace_i_cannot_see_is_404(make, login):
    org = make.org()
    workspace = make.workspace(org, "secret")
    outsider = make.human(org)
    other_org_member = make.human(make.org())
    open_ws = make.workspace(make.org(), "open-elsewhere", visibility="org")
    assert login(outsider).get(reverse("workspace", args=[workspace.slug])).status_code == 404
    assert login(other_org_member).get(reverse("workspace", args=[open_ws.slug])).status_code == 404
    assert login(outsider).get(reverse("workspace", args=["does-not-exist"])).status_code == 404
    assert login(outsider).get(reverse("workspace-members", args=[workspace.slug])).status_code == 404


def test_org_reader_sees_documents_but_no_form_and_cannot_write(make, login):
    org = make.org()
    workspace = make.workspace(org, "open", visibility="org")
    reader = make.human(org)
    client = login(reader)
    response = client.get(reverse("workspace", args=["open"]))
    assert response.status_code == 200
    assert response.context["form"] is None
    assert "You can read (org visibility)" in response.content.decode()
    mark = audit_mark()
    response = client.post(reverse("workspace", args=["open"]), {"title": "Sneaky", "body": ""})
    assert response.status_code == 403
    assert not Document.objects.filter(workspace=workspace).exists()
    assert actions_since(mark) == []


def test_create_document_and_bad_input(make, login):
    org = make.org()
    alice = make.human(org)
    workspace = make.workspace(org, "roadmap")
    make.member(workspace, alice, "editor")
    client = login(alice)
    mark = audit_mark()
    response = client.post(reverse("workspace", args=["roadmap"]), {"title": "   ", "body": "text"})
    assert response.status_code == 400
    assert "This field is required." in response.context["form"].errors["title"]
    response = client.post(reverse("workspace", args=["roadmap"]), {"title": "t" * 201, "body": ""})
    assert response.status_code == 400
    assert not Document.objects.exists()
    assert actions_since(mark) == []

    response = client.post(reverse("workspace", args=["roadmap"]), {"title": "Plan", "body": "Line one\nLine two"})
    document = Document.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("document", args=["roadmap", document.public_id])
    assert (document.title, document.body, document.author) == ("Plan", "Line one\nLine two", alice)
    assert actions_since(mark) == ["document.created"]


def test_documents_are_paginated_and_htmx_gets_the_fragment(make, login, htmx):
    org = make.org()
    alice = make.human(org)
    workspace = make.workspace(org, "roadmap")
    make.member(workspace, alice, "editor")
    for n in range(35):
        make.document(workspace, alice, title=f"Doc {n:02d}")
    client = login(alice)
    first = client.get(reverse("workspace", args=["roadmap"]))
    assert len(first.context["documents"].object_list) == 30
    second = client.get(reverse("workspace", args=["roadmap"]) + "?page=2", **htmx)
    html = second.content.decode()
    assert "Doc 00" in html and "Doc 34" not in html
    assert "<html" not in html and 'id="documents"' in html
    assert "HX-Request" in second["Vary"]


def test_workspace_page_query_count(make, login, django_assert_max_num_queries):
    org = make.org()
    alice = make.human(org)
    workspace = make.workspace(org, "roadmap")
    make.member(workspace, alice, "admin")
    agents = [make.agent(alice, f"Agent {n}", scope="read,write")[0] for n in range(5)]
    for n in range(40):
        make.document(workspace, agents[n % 5] if n % 2 else alice, title=f"Doc {n}")
    client = login(alice)
    client.get(reverse("workspace", args=["roadmap"]))  # warm the session
    with django_assert_max_num_queries(8):
        response = client.get(reverse("workspace", args=["roadmap"]))
    assert response.status_code == 200


def test_workspace_new_page_renders(make, login):
    response = login(make.human(make.org())).get(reverse("workspace-new"))
    html = response.content.decode()
    assert response.status_code == 200
    for label in ("Name", "Slug", "Visibility", "Restricted", "Description"):
        assert f">{label}</label>" in html or f">{label}</legend>" in html or f"> {label}</label>" in html


def test_history_restore_gets_the_full_page(make, login, htmx):
    org = make.org()
    alice = make.human(org)
    make.member(make.workspace(org, "roadmap"), alice, "editor")
    response = login(alice).get(reverse("workspace", args=["roadmap"]) + "?page=1", HTTP_HX_HISTORY_RESTORE_REQUEST="true", **htmx)
    assert "<html" in response.content.decode()


def test_the_slug_rule_names_what_it_takes(make):
    """Underscores are kept (as in URLs); the refusal said only letters, digits, hyphens."""
    from audit.refs import SYSTEM
    from dock.workspaces.services import workspace_create
    from identity.errors import InvalidInput

    org = make.org("acme", "Acme")
    assert workspace_create(actor=SYSTEM, org=org, slug="q4_plans", name="Q4").slug == "q4_plans"
    with pytest.raises(InvalidInput) as refused:
        workspace_create(actor=SYSTEM, org=org, slug="no way!", name="No")
    assert refused.value.fields == {"slug": "Use lowercase letters, digits, hyphens and underscores."}


def test_the_new_workspace_form_says_the_slug_rule_the_service_keeps(make, login):
    """The help said letters, digits and hyphens, the error letters, numbers, underscores or
    hyphens, and the service took underscores: one rule, said the same way."""
    alice = make.human(make.org("acme", "Acme"), "Alice Adams")
    response = login(alice).post(reverse("workspace-new"), {"name": "Plans", "slug": "no way!", "visibility": "members"})
    html = response.content.decode()
    assert response.status_code == 400
    assert "Lowercase letters, digits, hyphens and underscores;" in html
    assert "Use lowercase letters, digits, hyphens and underscores." in html and "numbers" not in html
