"""Bad input never changes anything and always answers SPEC's error shape: JSON, never
HTML, never a 500."""

import json
from wsgiref.util import setup_testing_defaults

import pytest
from django.conf import settings

from conftest import actions_since, audit_mark
from dock.workspaces.models import Comment, Document
from dock.workspaces.services import BODY_MAX, TITLE_MAX
from identity.api.testing import ApiClient
from identity.api.urls import MAX_BODY_BYTES

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_cache(hermetic_api):
    """A private cache and a pinned rate-limit window (see the root conftest)."""


@pytest.fixture
def setup(make):
    org = make.org()
    owner = make.human(org, "Olive Owner")
    ws = make.workspace(org, "team")
    make.member(ws, owner, "editor")
    agent, key = make.agent(owner, "Scout", scope="read,comment,write,delete")
    doc = make.document(ws, owner, title="Original", body="Body")
    return ApiClient(key), ws, doc


def _unchanged(doc, mark):
    stored = Document.objects.get(pk=doc.pk)
    assert (stored.title, stored.body) == ("Original", "Body")
    assert Document.objects.count() == 1 and Comment.objects.count() == 0
    from audit.models import AuditEvent

    assert not AuditEvent.objects.filter(id__gt=mark).exclude(action="api.denied").exists()


CREATE = "/api/v1/workspaces/team/documents"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "title"),
        ({"body": "no title"}, "title"),
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": 123}, "title"),
        ({"title": None}, "title"),
        ({"title": ["a"]}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": "ok", "body": 5}, "body"),
        ({"title": "ok", "body": "x" * 100_001}, "body"),
        ({"title": "ok", "author": "usr_someone"}, "author"),
        ({"title": "ok", "workspace": "elsewhere"}, "workspace"),
    ],
)
def test_create_rejects_bad_fields(setup, payload, field):
    client, ws, doc = setup
    mark = audit_mark()
    r = client.post(CREATE, payload)
    assert r.status_code == 400, r.data
    assert r.data["error"] == "invalid"
    assert field in r.data["fields"], r.data
    _unchanged(doc, mark)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": 1}, "title"),
        ({"body": {"a": 1}}, "body"),
        ({"body": "x" * 100_001}, "body"),
        ({"id": "doc_x"}, "id"),
        ({"title": "ok", "extra": True}, "extra"),
    ],
)
def test_update_rejects_bad_fields(setup, payload, field):
    client, ws, doc = setup
    mark = audit_mark()
    r = client.patch(f"/api/v1/documents/{doc.public_id}", payload)
    assert r.status_code == 400 and r.data["error"] == "invalid" and field in r.data["fields"], r.data
    _unchanged(doc, mark)


@pytest.mark.parametrize("payload", [{}, {"body": ""}, {"body": "   "}, {"body": "x" * 10_001}, {"body": 1}, {"text": "hi"}])
def test_comment_rejects_bad_fields(setup, payload):
    client, ws, doc = setup
    mark = audit_mark()
    r = client.post(f"/api/v1/documents/{doc.public_id}/comments", payload)
    assert r.status_code == 400 and r.data["error"] == "invalid", r.data
    _unchanged(doc, mark)


@pytest.mark.parametrize(
    "raw",
    ['{"title": "x"', "not json", "[1, 2]", '"a string"', "null", "42", '{"title": "x"}garbage', "\xff\xfe"],
)
def test_malformed_or_non_object_json_is_400(setup, raw):
    client, ws, doc = setup
    mark = audit_mark()
    r = client.post(CREATE, raw=raw)
    assert r.status_code == 400 and r.data["error"] == "invalid", r.data
    _unchanged(doc, mark)


def test_no_body_is_400(setup):
    client, ws, doc = setup
    r = client.post(CREATE, raw="")
    assert r.status_code == 400 and r.data["error"] == "invalid"


def test_huge_body_is_capped_before_anything_runs(setup, django_assert_num_queries):
    client, ws, doc = setup
    mark = audit_mark()
    raw = '{"title": "big", "body": "' + "x" * (MAX_BODY_BYTES + 10) + '"}'
    with django_assert_num_queries(0):
        r = client.post(CREATE, raw=raw)
    assert r.status_code == 400 and r.data["error"] == "invalid" and f"at most {MAX_BODY_BYTES // 1024} KiB" in r.data["detail"]
    r = client.post(CREATE, raw="x" * (3 * 1024 * 1024))  # past Django's own upload cap too
    assert r.status_code == 400
    _unchanged(doc, mark)


def test_body_just_under_the_cap_reaches_validation(setup):
    client, ws, doc = setup
    raw = '{"title": "big", "body": "' + "x" * (MAX_BODY_BYTES - 100) + '"}'
    r = client.post(CREATE, raw=raw)
    assert r.status_code == 400 and "body" in r.data["fields"]  # over the 100 000-character body limit


@pytest.mark.parametrize("char", ["漢", "😀"])
def test_a_document_at_its_length_limits_fits_in_a_request_whatever_its_characters(setup, char):
    """The limits count characters; JSON may spend twelve bytes on one (an escaped surrogate
    pair, as Python's json.dumps writes it by default)."""
    client, ws, doc = setup
    title, body = char * TITLE_MAX, char * BODY_MAX
    r = client.post(CREATE, {"title": title, "body": body})
    assert r.status_code == 201, r.data
    created = Document.objects.get(public_id=r.data["id"])
    assert (created.title, created.body) == (title, body)
    r = client.patch(f"/api/v1/documents/{doc.public_id}", {"title": title, "body": body})
    assert r.status_code == 200, r.data
    stored = Document.objects.get(pk=doc.pk)
    assert (stored.title, stored.body) == (title, body)


def test_unicode_and_control_characters(setup):
    client, ws, doc = setup
    r = client.post(CREATE, {"title": "Zoë\u202e \x01 notes", "body": "naïve text ✓"})
    assert r.status_code == 201
    assert r.data["title"] == "Zoë  notes" and r.data["body"] == "naïve text ✓"


@pytest.mark.parametrize(("path", "method", "body", "field"), [
    (CREATE, "post", {"title": "a\x00b", "body": "x"}, "title"),
    (CREATE, "post", {"title": "t", "body": "x\x00y"}, "body"),
    ("/api/v1/documents/{doc}", "patch", {"body": "x\x00y"}, "body"),
    ("/api/v1/documents/{doc}/comments", "post", {"body": "x\x00y"}, "body"),
])
def test_a_null_character_is_refused_as_the_dashboard_refuses_it(setup, path, method, body, field):
    """The API took it out without a word, where the dashboard's forms refuse it."""
    client, ws, doc = setup
    mark = audit_mark()
    r = getattr(client, method)(path.format(doc=doc.public_id), body)
    assert r.status_code == 400 and r.data["error"] == "invalid"
    assert r.data["fields"] == {field: "Null characters are not allowed."}
    assert actions_since(mark) == []


@pytest.mark.parametrize("blank", ["\u200b", "\u00ad\ufeff", "\u2063 \u2800", "\u3164", "\ufe0f\u034f"])
def test_a_title_that_shows_nothing_is_no_title(setup, blank):
    """A title of zero-width spaces, fillers or a blank braille cell was a document listed
    with no name, while a comment of the same was refused as empty."""
    client, ws, doc = setup
    for r in (client.post(CREATE, {"title": blank, "body": "x"}),
              client.patch(f"/api/v1/documents/{doc.public_id}", {"title": blank})):
        assert r.status_code == 400 and r.data["fields"] == {"title": "A title is required."}


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/documents/doc_doesnotexist",
        "/api/v1/documents/" + "x" * 500,
        "/api/v1/documents/%00",
        "/api/v1/workspaces/nope/documents",
    ],
)
def test_unknown_ids_are_404(setup, path):
    client, ws, doc = setup
    r = client.get(path)
    assert r.status_code == 404 and r.data["error"] == "not_found"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/proposals/prp_nope/approve"),
        ("POST", "/api/v1/proposals/prp_nope/reject"),
        ("PATCH", "/api/v1/documents/doc_nope"),
        ("DELETE", "/api/v1/documents/doc_nope"),
        ("POST", "/api/v1/documents/doc_nope/comments"),
    ],
)
def test_unknown_ids_on_writes_are_404(setup, method, path):
    client, ws, doc = setup
    r = client.request(method, path, {"body": "x"} if "comments" in path else ({"title": "t"} if method == "PATCH" else None))
    assert r.status_code == 404 and r.data["error"] == "not_found"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/api/v1/documents/doc_x"),
        ("POST", "/api/v1/me"),
        ("DELETE", "/api/v1/workspaces"),
        ("GET", "/api/v1/proposals/prp_x/approve"),
        ("PATCH", "/api/v1/workspaces/team/documents"),
        ("HEAD", "/api/v1/me"),
    ],
)
def test_wrong_methods_are_405_json(setup, method, path):
    client, ws, doc = setup
    response = client.client.generic(method, path, HTTP_AUTHORIZATION=f"Bearer {client.key}")
    assert response.status_code == 405
    if method != "HEAD":
        assert response.json()["error"] == "method_not_allowed"
    assert response["Content-Type"] == "application/json"
    assert response["Allow"]


@pytest.mark.parametrize("path", ["/api/v1/", "/api/v1/nothing", "/api/v1/me/", "/api/v1/documents", "/api/v1/docs", "/api/v1"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_unknown_routes_are_404_json(setup, path, method):
    client, ws, doc = setup
    r = client.request(method, path)
    assert r.status_code == 404 and r.data["error"] == "not_found"


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=abc", "limit=-1", "pending=maybe"])
def test_bad_query_parameters_are_400(setup, query):
    client, ws, doc = setup
    path = "/api/v1/proposals" if query.startswith("pending") else "/api/v1/workspaces/team/documents"
    r = client.get(f"{path}?{query}")
    assert r.status_code == 400 and r.data["error"] == "invalid" and r.data["fields"], r.data


TOO_MANY_PARAMETERS = "&".join(["x=1"] * (settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1))


@pytest.mark.parametrize("path", ["/api/v1/workspaces/team/documents", "/api/v1/workspaces", "/api/v1/proposals"])
def test_too_many_query_parameters_are_400_not_500(setup, path):
    client, ws, doc = setup
    r = client.get(f"{path}?{TOO_MANY_PARAMETERS}")
    assert r.status_code == 400 and r.data["error"] == "invalid", r.data


@pytest.mark.parametrize("path", ["/api/v1/workspaces/team/documents", "/api/v1/workspaces", "/api/v1/proposals"])
def test_too_many_query_parameters_without_a_key_is_401_first(setup, path):
    client, ws, doc = setup
    r = client.get(f"{path}?{TOO_MANY_PARAMETERS}", key=None)
    assert r.status_code == 401 and r.data["error"] == "invalid_key", r.data


@pytest.fixture
def served():
    """The WSGI application the server runs, called in this test's thread and transaction
    (so without the per-request connection cleanup, which would end the transaction)."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    from dock.wsgi import application

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield application
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _served_get(served, key, path, query, content_type):
    environ = {}
    setup_testing_defaults(environ)
    environ.update({
        "PATH_INFO": path, "QUERY_STRING": query, "CONTENT_TYPE": content_type, "HTTP_AUTHORIZATION": f"Bearer {key}",
    })
    started = []
    body = b"".join(served(environ, lambda status, headers, exc_info=None: started.append((status, dict(headers)))))
    (status, headers), = started
    assert headers["Content-Type"] == "application/json", (status, body[:200])
    return int(status.split()[0]), json.loads(body)


def test_too_many_query_parameters_with_a_charset_are_400_not_the_servers_500(setup, served):
    """Naming a charset in Content-Type made Django parse the query string while building
    the request, before any handler: the server's own HTML 500."""
    client, ws, doc = setup
    status, data = _served_get(served, client.key, "/api/v1/workspaces", TOO_MANY_PARAMETERS, "application/json; charset=utf-8")
    assert status == 400 and data["error"] == "invalid", data


@pytest.mark.parametrize("charset", ["zlib_codec", "rot13", "base64_codec", "no-such-charset"])
def test_a_charset_that_is_not_a_text_encoding_is_ignored_like_an_unknown_one(setup, served, charset):
    """Python knows codecs that are not text encodings: decoding the query string with one
    raised (a 500)."""
    client, ws, doc = setup
    status, data = _served_get(served, client.key, "/api/v1/workspaces", "limit=%31", f"application/json; charset={charset}")
    assert status == 200 and [w["slug"] for w in data["items"]] == ["team"], data


def test_a_chunked_body_is_refused_by_name_not_read_as_none(setup, served):
    """A body sent chunked, without Content-Length (as the server hands it on: decoded, no
    length), was never read: the agent was told its body was missing."""
    import io

    client, ws, doc = setup
    mark = audit_mark()
    raw = json.dumps({"title": "Sent chunked", "body": "b"}).encode()
    environ = {}
    setup_testing_defaults(environ)
    environ.update({
        "REQUEST_METHOD": "POST", "PATH_INFO": CREATE, "CONTENT_TYPE": "application/json",
        "HTTP_TRANSFER_ENCODING": "chunked", "HTTP_AUTHORIZATION": f"Bearer {client.key}", "wsgi.input": io.BytesIO(raw),
    })
    started = []
    body = b"".join(served(environ, lambda status, headers, exc_info=None: started.append(status)))
    data = json.loads(body)
    assert started == ["400 Bad Request"] and data["error"] == "invalid", data
    assert "Content-Length" in data["detail"] and "chunked" in data["detail"], data
    _unchanged(doc, mark)


def test_unauthenticated_bad_input_is_401_first(setup):
    client, ws, doc = setup
    r = client.post(CREATE, raw="not json", key=None)
    assert r.status_code == 401


def test_openapi_document_needs_no_key(setup):
    client, ws, doc = setup
    r = client.get("/api/v1/openapi.json", key=None)
    assert r.status_code == 200
    spec = r.data
    assert spec["openapi"].startswith("3.")
    assert set(spec["paths"]) == {
        "/api/v1/me", "/api/v1/workspaces", "/api/v1/workspaces/{slug}/documents", "/api/v1/documents/{id}",
        "/api/v1/documents/{id}/comments", "/api/v1/proposals", "/api/v1/proposals/{id}/approve",
        "/api/v1/proposals/{id}/reject",
    }
    # The hot read is described with its bearer auth like every other operation.
    get_docs = spec["paths"]["/api/v1/workspaces/{slug}/documents"]["get"]
    assert get_docs["security"] == [{"AgentKey": []}]
    assert spec["components"]["securitySchemes"]["AgentKey"] == {"type": "http", "scheme": "bearer"}


@pytest.mark.parametrize(
    ("method", "path", "status", "error"),
    [
        ("POST", "/api/v1/openapi.json", 405, "method_not_allowed"),
        ("PUT", "/api/v1/openapi.json", 405, "method_not_allowed"),
        ("POST", "/api/v1/nope", 404, "not_found"),
        ("POST", "/api/v1/me", 405, "method_not_allowed"),
        ("POST", "/api/v1/workspaces/team/documents", 401, "invalid_key"),
    ],
)
def test_writes_to_the_api_answer_json_with_csrf_checks_on(db, method, path, status, error):
    """A browser-less client sends no CSRF token and needs none (the API reads no cookie):
    with Django's CSRF check enforced, as it is outside the test client, every path still
    answers in SPEC's JSON shape, never with Django's HTML 403 page."""
    from django.test import Client

    response = Client(enforce_csrf_checks=True).generic(method, path, "{}", content_type="application/json")
    assert response.status_code == status, response.content[:200]
    assert response["Content-Type"] == "application/json" and response.json()["error"] == error


@pytest.mark.parametrize(
    ("method", "path", "key", "status"),
    [
        ("GET", "/api/v1/me", True, 200),
        ("GET", CREATE, True, 200),  # the hot read
        ("GET", "/api/v1/documents/DOC", True, 200),
        ("POST", CREATE, True, 201),
        ("GET", CREATE, False, 401),
        ("GET", "/api/v1/documents/doc_nowhere", True, 404),
        ("GET", "/api/v1/nowhere", True, 404),
        ("PUT", "/api/v1/me", True, 405),
    ],
)
def test_answers_are_never_stored_by_a_cache(setup, method, path, key, status):
    """What an agent reads with its key stays with it: no browser, proxy or HTTP library
    cache keeps a copy to hand on, or to replay after the key is revoked."""
    client, ws, doc = setup
    body = {"title": "New", "body": ""} if method == "POST" else None
    r = client.request(method, path.replace("DOC", doc.public_id), body, **({} if key else {"key": None}))
    assert r.status_code == status
    assert r["Cache-Control"] == "no-store"


def test_the_openapi_document_may_be_cached(setup):
    client, ws, doc = setup
    assert client.get("/api/v1/openapi.json", key=None)["Cache-Control"] == "public, max-age=300"
