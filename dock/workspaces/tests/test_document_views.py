"""/w/<slug>/d/<doc_id>/: read, edit with revisions, comment, delete through the consent gate."""

import re

import pytest
from django.urls import reverse

from conftest import actions_since, audit_mark
from dock.workspaces import services
from dock.workspaces.models import Comment, Document, Revision

pytestmark = pytest.mark.django_db


@pytest.fixture
def doc(make):
    org = make.org("acme", "Acme")
    alice = make.human(org, "Alice Adams")
    viewer = make.human(org, "Vic Viewer")
    workspace = make.workspace(org, "roadmap")
    make.member(workspace, alice, "editor")
    make.member(workspace, viewer, "viewer")
    scribe, _ = make.agent(alice, "Scribe", scope="read,comment,write")
    document = make.document(workspace, alice, title="Plan", body="<b>first</b> line\nsecond line")
    return {"alice": alice, "viewer": viewer, "scribe": scribe, "workspace": workspace, "document": document}


def _url(name, document, *extra):
    return reverse(name, args=[document.workspace.slug, document.public_id, *extra])


def test_read_document_escapes_body_and_shows_author(doc, login):
    response = login(doc["viewer"]).get(_url("document", doc["document"]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "&lt;b&gt;first&lt;/b&gt; line\nsecond line" in html and "<b>first</b>" not in html
    assert "Written by" in html and "Alice Adams" in html
    # A viewer gets no edit, delete or comment controls.
    assert "Edit</a>" not in html and "Delete…" not in html and 'name="body"' not in html


def test_agent_edit_is_bylined_by_the_agent_never_its_owner(doc, login):
    document = doc["document"]
    services.document_update(actor=doc["scribe"], document=document, body="Rewritten by the agent")
    services.comment_create(actor=doc["scribe"], document=document, body="Done, see the new text.")
    response = login(doc["viewer"]).get(_url("document", document))
    html = response.content.decode()
    edited = html[html.index("last edited by"):]
    edited = edited[:edited.index("</time>")]
    assert 'href="/p/scribe/">Scribe</a>' in edited and "agent · owned by" in edited
    assert 'class="principal-name" href="/p/alice-adams/"' not in edited
    comments = html[html.index('id="comments"'):]
    comment = comments[comments.index('class="comment"'):comments.index("Done, see the new text.")]
    assert 'class="principal-name" href="/p/scribe/">Scribe</a>' in comment
    assert 'class="principal-name" href="/p/alice-adams/"' not in comment
    assert [r.author for r in response.context["revisions"]] == [doc["scribe"], doc["alice"]]


def test_edit_keeps_revisions_and_bad_input_changes_nothing(doc, login):
    document, client = doc["document"], login(doc["alice"])
    assert client.get(_url("document-edit", document)).status_code == 200
    mark = audit_mark()
    response = client.post(_url("document-edit", document), {"title": "", "body": "x"})
    assert response.status_code == 400 and response.context["form"].errors["title"]
    assert 'aria-invalid="true"' in response.content.decode()
    document.refresh_from_db()
    assert document.title == "Plan" and Revision.objects.filter(document=document).count() == 1
    assert actions_since(mark) == []
    response = client.post(_url("document-edit", document), {"title": "Plan v2", "body": "New body"})
    assert response.status_code == 302 and response["Location"] == _url("document", document)
    document.refresh_from_db()
    assert (document.title, document.body, document.updated_by) == ("Plan v2", "New body", doc["alice"])
    assert list(Revision.objects.filter(document=document).values_list("number", "title")) == [(2, "Plan v2"), (1, "Plan")]
    assert actions_since(mark) == ["document.updated"]


def _seen(html: str) -> str:
    return re.search(r'name="seen" value="(\d+)"', html).group(1)


def test_a_save_made_after_the_editor_opened_the_page_is_not_overwritten(doc, login):
    """Alice opens the editor; the agent saves meanwhile. Her Save used to replace its text
    without a word. She is told who saved, keeps her text in the form, and a second Save
    replaces theirs knowingly (a revision keeps it)."""
    document, client = doc["document"], login(doc["alice"])
    opened = _seen(client.get(_url("document-edit", document)).content.decode())
    services.document_update(actor=doc["scribe"], document=document, body="The agent's rewrite")
    mark = audit_mark()
    mine = {"title": "Plan", "body": "Alice's rewrite", "seen": opened}
    response = client.post(_url("document-edit", document), mine)
    html = response.content.decode()
    assert response.status_code == 409
    assert "Scribe saved a newer version at" in html and "Read their version" in html
    assert "Alice&#x27;s rewrite" in html and _seen(html) != opened
    document.refresh_from_db()
    assert document.body == "The agent's rewrite" and actions_since(mark) == []
    again = client.post(_url("document-edit", document), {**mine, "seen": _seen(html)})
    assert again.status_code == 302
    document.refresh_from_db()
    assert document.body == "Alice's rewrite"
    assert list(Revision.objects.filter(document=document).values_list("body", flat=True)[:2]) == [
        "Alice's rewrite", "The agent's rewrite"]


@pytest.mark.parametrize("seen", ["-1", "99999999999999999999999", "soon", "1.5"])
def test_a_forged_version_is_a_form_error(doc, login, seen):
    document, client = doc["document"], login(doc["alice"])
    response = client.post(_url("document-edit", document), {"title": "Plan", "body": "x", "seen": seen})
    assert response.status_code == 400 and response.context["form"].errors["seen"]
    document.refresh_from_db()
    assert document.body != "x"


def test_viewer_cannot_edit_comment_or_delete(doc, login):
    document, client = doc["document"], login(doc["viewer"])
    mark = audit_mark()
    assert client.get(_url("document-edit", document)).status_code == 403
    assert client.post(_url("document-edit", document), {"title": "Mine", "body": ""}).status_code == 403
    assert client.post(_url("document-comment", document), {"body": "hi"}).status_code == 403
    assert client.get(_url("document-delete", document)).status_code == 403
    assert client.post(_url("document-delete", document)).status_code == 403
    document.refresh_from_db()
    assert document.title == "Plan" and not Comment.objects.exists() and actions_since(mark) == []


def test_document_of_invisible_workspace_or_wrong_workspace_is_404(doc, login, make):
    document = doc["document"]
    outsider = make.human(make.org())
    assert login(outsider).get(_url("document", document)).status_code == 404
    other = make.workspace(doc["workspace"].org, "other")
    make.member(other, doc["alice"], "admin")
    assert login(doc["alice"]).get(reverse("document", args=["other", document.public_id])).status_code == 404
    assert login(doc["alice"]).get(reverse("document", args=["roadmap", "doc_nope"])).status_code == 404


def test_comment_with_htmx_returns_the_comments_fragment(doc, login, htmx):
    document, client = doc["document"], login(doc["alice"])
    mark = audit_mark()
    response = client.post(_url("document-comment", document), {"body": "Nice <i>plan</i>"}, **htmx)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="comments"') and "Nice &lt;i&gt;plan&lt;/i&gt;" in html
    assert Comment.objects.get().author == doc["alice"]
    assert actions_since(mark) == ["comment.created"]
    assert "HX-Request" in response["Vary"]


def test_blank_comment_is_a_field_error(doc, login, htmx):
    document, client = doc["document"], login(doc["alice"])
    response = client.post(_url("document-comment", document), {"body": "   "}, **htmx)
    assert response.status_code == 200 and "Write something first." in response.content.decode()
    response = client.post(_url("document-comment", document), {"body": ""})
    assert response.status_code == 400 and "Write something first." in response.content.decode()
    assert not Comment.objects.exists()


@pytest.mark.parametrize("body", ["\x01\x02", "\u200b\u200d", "\u202e \u2066\ufeff", "\u00ad\n\t"])
def test_a_comment_with_nothing_visible_is_blank(doc, login, htmx, body):
    """Controls, zero-width and bidi marks show as nothing: a comment of only them read as
    an empty one posted."""
    document, client = doc["document"], login(doc["alice"])
    response = client.post(_url("document-comment", document), {"body": body}, **htmx)
    assert response.status_code == 200 and "Write something first." in response.content.decode()
    assert not Comment.objects.exists()


def test_comment_without_js_redirects_back(doc, login):
    response = login(doc["alice"]).post(_url("document-comment", doc["document"]), {"body": "Plain post"})
    comment = Comment.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"#{comment.public_id}")


def test_delete_asks_first_then_deletes_through_the_consent_gate(doc, login):
    document, client = doc["document"], login(doc["alice"])
    confirm = client.get(_url("document-delete", document))
    assert confirm.status_code == 200 and "cannot be undone" in confirm.content.decode()
    assert Document.objects.filter(pk=document.pk).exists()
    mark = audit_mark()
    response = client.post(_url("document-delete", document))
    assert response.status_code == 302 and response["Location"] == reverse("workspace", args=["roadmap"])
    assert not Document.objects.filter(pk=document.pk).exists()
    assert actions_since(mark) == ["document.deleted"]
    assert client.get(_url("document", document)).status_code == 404


def test_document_page_query_count(doc, login, make, django_assert_max_num_queries):
    document = doc["document"]
    for n in range(15):
        services.comment_create(actor=doc["scribe"] if n % 2 else doc["alice"], document=document, body=f"Comment {n}")
        services.document_update(actor=doc["scribe"] if n % 2 else doc["alice"], document=document, body=f"Body {n}")
    client = login(doc["viewer"])
    client.get(_url("document", document))
    with django_assert_max_num_queries(9):
        assert client.get(_url("document", document)).status_code == 200
    with django_assert_max_num_queries(7):
        assert client.get(_url("document-edit", document)).status_code == 403


def test_bylines_link_only_to_profiles_the_reader_can_open(doc, make, login):
    """Gus (another org) and his agent wrote here, then Gus left the workspace: their
    names linked to profiles that answer 404 to the people still in it. They are plain
    names now; Acme's own authors still link, and so did Gus's while he was a member."""
    globex = make.org("globex", "Globex")
    gus = make.human(globex, "Gus Lindqvist")
    membership = make.member(doc["workspace"], gus, "editor")
    sable, _ = make.agent(gus, "Sable", scope="read,comment,write")
    document = make.document(doc["workspace"], sable, title="Vendor notes")
    services.document_update(actor=gus, document=document, body="Edited by Gus")
    services.comment_create(actor=gus, document=document, body="From Gus")
    services.comment_create(actor=doc["alice"], document=document, body="From Alice")
    reader = login(doc["viewer"])
    pages = [reverse("workspace", args=["roadmap"]), _url("document", document)]
    for url in pages:
        html = reader.get(url).content.decode()
        assert f'href="/p/{sable.handle}/"' in html and f'href="/p/{gus.handle}/"' in html

    services.membership_remove(actor=doc["alice"], membership=membership)
    assert reader.get(f"/p/{sable.handle}/").status_code == 404 and reader.get(f"/p/{gus.handle}/").status_code == 404
    for url in pages:
        html = reader.get(url).content.decode()
        assert "Sable" in html and "Gus Lindqvist" in html
        assert f'href="/p/{sable.handle}/"' not in html and f'href="/p/{gus.handle}/"' not in html, url
        assert f'href="/p/{doc["alice"].handle}/"' in html
