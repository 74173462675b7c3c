"""The OpenAPI document is the contract: schemathesis drives every operation in-process
(no 5xx, every response conforms to the document), and the hot read stays within two
SQL queries."""

import json

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connection
from django.test import override_settings
from hypothesis import HealthCheck, settings

from identity import consent
from identity.api.testing import ApiClient

pytestmark = pytest.mark.django_db

@pytest.fixture(autouse=True)
def fresh_cache(hermetic_api):
    """A private cache and a pinned rate-limit window (see the root conftest)."""


@pytest.fixture
def api_world(make):
    org = make.org()
    owner, peer = make.human(org, "Olive Owner"), make.human(org, "Paul Peer")
    ws = make.workspace(org, "team")
    make.member(ws, owner, "editor")
    make.member(ws, peer, "editor")
    agent, key = make.agent(owner, "Scout", scope="read,comment,write,delete")
    other, _ = make.agent(peer, "Other", scope="read,comment,write,delete")
    docs = [make.document(ws, owner, title=f"Doc {i}") for i in range(3)]
    proposal = consent.document_delete_request(actor=other, document=docs[0])
    return {"key": key, "slug": ws.slug, "doc": docs[1].public_id, "proposal": proposal.public_id}


@pytest.fixture
def in_process():
    """Requests run in this test's thread and transaction: the per-request connection
    cleanup that a real server wants would end the test's transaction."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        with override_settings(DOCK_RATE_LIMIT=100_000):
            yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _schema():
    """The document as /api/v1/openapi.json serves it (checked below), loaded eagerly:
    the lazy fixture loader of schemathesis does not run under this pytest."""
    from django.core.wsgi import get_wsgi_application

    from identity.api.views import api

    config = schemathesis.Config.from_dict({
        "generation": {"mode": "all", "max-examples": 12},
        # A cursor is opaque and signed: a schema-valid string that was never issued is
        # rightly refused with 400, which this one check would count as a failure. Every
        # other default check runs (no 5xx, status codes, content types, response bodies
        # and headers as documented, invalid input refused).
        "checks": {"positive_data_acceptance": {"enabled": False}},
    })
    loaded = schemathesis.openapi.from_dict(api.get_openapi_schema(), config=config)
    loaded.app = get_wsgi_application()  # requests go in-process, through every middleware
    return loaded


schema = _schema()


def test_served_document_is_the_one_tested():
    served = ApiClient().get("/api/v1/openapi.json", key=None).data
    assert served == schema.raw_schema


@schema.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_every_operation_conforms(case, in_process, api_world):
    headers = {"Authorization": f"Bearer {api_world['key']}"}
    case.call_and_validate(headers=headers)
    # The same operation on real objects, so that success paths are exercised too.
    params = dict(case.path_parameters or {})
    if params:
        real = {"slug": api_world["slug"], "id": api_world["proposal"] if "proposals" in case.path else api_world["doc"]}
        case.path_parameters = {name: real[name] for name in params}
        case.call_and_validate(headers=headers)


# Query budget of the hot read -------------------------------------------------------------------


def test_documents_read_costs_at_most_two_queries(make, django_assert_max_num_queries, django_assert_num_queries):
    org = make.org()
    owner = make.human(org)
    ws = make.workspace(org, "team")
    make.member(ws, owner, "editor")
    _, key = make.agent(owner, scope="read")
    authors = [owner, *(make.human(org) for _ in range(3))]
    for author in authors[1:]:
        make.member(ws, author, "editor")
    for i in range(20):
        make.document(ws, authors[i % 4], title=f"Doc {i}")
    client = ApiClient(key)
    client.get("/api/v1/me")  # the first use of the key records last-used (once a minute)
    with django_assert_max_num_queries(2):
        r = client.get("/api/v1/workspaces/team/documents")
    assert r.status_code == 200 and len(r.data["items"]) == 20
    # On PostgreSQL one round trip: key, principal, owner, access and the page in a single
    # query. On SQLite, in-process, two: the key's facts, then the page (queries.HOT_READ_IN_ONE).
    cursor = client.get("/api/v1/workspaces/team/documents?limit=5").data["next"]
    client.get(f"/api/v1/workspaces/team/documents?limit=5&cursor={cursor}")  # PostgreSQL prepares it once per connection
    with django_assert_num_queries(1 if connection.vendor == "postgresql" else 2):
        r = client.get(f"/api/v1/workspaces/team/documents?limit=5&cursor={cursor}")
    assert r.status_code == 200 and len(r.data["items"]) == 5
    with django_assert_max_num_queries(2):
        r = client.get(f"/api/v1/documents/{r.data['items'][0]['id']}")
    assert r.status_code == 200


# The hot read and the operation that describes it answer alike ------------------------------


@pytest.mark.parametrize(
    "query", ["", "?limit=2", "?limit=0", "?limit=101", "?limit=x", "?limit=5_0", "?limit=1.0", "?limit=-3", "?limit=%2B2",
              "?cursor=bogus", "?cursor=", "?limit=1&limit=3", "?other=1"]
)
def test_hot_read_answers_like_its_ninja_operation(make, query):
    from django.test import RequestFactory
    from django.urls import resolve

    org = make.org()
    owner = make.human(org)
    ws = make.workspace(org, "team")
    make.member(ws, owner, "editor")
    _, key = make.agent(owner, scope="read")
    for i in range(3):
        make.document(ws, owner, title=f"Doc {i}")
    path = "/api/v1/workspaces/team/documents"
    hot = ApiClient(key).get(path + query)

    request = RequestFactory().get(path + query, HTTP_AUTHORIZATION=f"Bearer {key}", HTTP_HOST="127.0.0.1")
    request.resolver_match = match = resolve(path)
    described = match.func.ninja_view(request, slug="team")
    assert described.status_code == hot.status_code
    data = json.loads(described.content)
    if hot.status_code == 200:
        assert data == hot.data
    else:
        assert data["error"] == hot.data["error"] and data.get("fields") == hot.data.get("fields")
