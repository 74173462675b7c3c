"""IDOR: every URL that names an object (a handle, slug, public id, key prefix, token,
invitation or proposal id) answers 404 — never 403, never the data — to a principal who
may not see that object: someone of another org (here Sam of Globex, an org owner and
admin, and his agent and service account on the API), and for Acme's members-only
workspaces, a same-org person who is not a member (Carol, and her agent Courier).

The URL patterns come from the resolver: a pattern with a parameter that is not in the
table below fails `test_every_url_with_a_parameter_is_in_the_table`, so a new URL gets
its IDOR case before it ships. Each case also runs as the rightful principal, who must
not get a 404 (the ids are real: the outsider's 404 is not a typo's).

Two kinds of URL are public by design and tested for what they are: avatars
(`/a/<public_id>.png`: a face, served to anyone who has the unguessable id, because API
clients and other orgs' members render bylines with it) and invitation links (the token
is the credential: its holder sees whom it invites to what, and can accept only as the
invited address).
"""

import csv
import io
import json
import re
from dataclasses import dataclass

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from identity.api.testing import ApiClient
from identity.avatars import orb_png
from identity.tests.hostile_support import Unchanged, build_world, logged_in, private_cache  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_cache")]


@pytest.fixture
def world(make, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return build_world(make)


# The resolver's URL patterns -----------------------------------------------------------------


@dataclass(frozen=True)
class Pattern:
    key: str  # "name", "namespace:name", or the route itself for an unnamed pattern
    route: str
    namespace: str | None
    params: tuple[str, ...]
    converters: tuple[tuple[str, str], ...] = ()  # (parameter, its converter's regex)


def patterns() -> list[Pattern]:
    found = []

    def walk(resolver, prefix, namespace):
        for entry in resolver.url_patterns:
            route = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                walk(entry, route, entry.namespace or namespace)
            elif isinstance(entry, URLPattern):
                params = tuple(entry.pattern.regex.groupindex)
                key = (f"{namespace}:{entry.name}" if namespace else entry.name) if entry.name else route
                converters = tuple((name, c.regex) for name, c in getattr(entry.pattern, "converters", {}).items())
                found.append(Pattern(key, route, namespace, params, converters))

    walk(get_resolver(), "", None)
    return found


def with_parameters() -> list[Pattern]:
    return [p for p in patterns() if p.params]


# The table -------------------------------------------------------------------------------------
#
# Each case: the method, the path (built from the world), the data, who may not see it
# ("org": Sam and, on the API, his agent and service account; "members": those plus
# Carol and her agent), and who rightfully may (for the control).


@dataclass
class Case:
    method: str
    path: object  # world -> str
    data: object = None  # world -> dict, or a dict
    outsiders: str = "org"  # "org" | "members"
    insider: str = "alice"  # alice | scout (API) | none
    mixed: bool = False  # the outsider's own object in the path, ours in a parameter


def c(method, path, data=None, **kw):
    return Case(method, path, data, **kw)


W = "roadmap"
TABLE: dict[str, list[Case]] = {
    # Profiles and agent controls: the org's principals, and those met in a shared workspace.
    "profile": [
        c("GET", lambda w: f"/p/{w.scout.handle}/"),
        c("GET", lambda w: f"/p/{w.alice.handle}/"),
        c("GET", lambda w: f"/p/{w.service.handle}/"),
    ],
    **{
        f"agent-{action}": [c("POST", lambda w, a=action: f"/agents/{w.scout.handle}/{a}/",
                              {"transfer": lambda w: {"owner": w.sam.pk}, "scope": {"scope": ["read"]}}.get(action))]
        for action in ("pause", "resume", "rotate", "restore", "transfer", "scope")
    },
    # Stopping a rotated-away key: ours, and the outsider's own agent with our key's prefix.
    "agent-key-stop": [
        c("GET", lambda w: f"/agents/{w.scout.handle}/keys/{w.scout.keys.first().prefix}/stop/"),
        c("POST", lambda w: f"/agents/{w.scout.handle}/keys/{w.scout.keys.first().prefix}/stop/"),
        c("POST", lambda w: f"/agents/{w.spy.handle}/keys/{w.scout.keys.first().prefix}/stop/", mixed=True, insider="none"),
    ],
    # Revoke asks first (GET), then revokes (POST).
    "agent-revoke": [c("GET", lambda w: f"/agents/{w.scout.handle}/revoke/"), c("POST", lambda w: f"/agents/{w.scout.handle}/revoke/")],
    # Service accounts: the org's admins only.
    "service-admin": [c("GET", lambda w: f"/services/{w.service.public_id}/", outsiders="members")],
    "service-rotate": [c("POST", lambda w: f"/services/{w.service.public_id}/rotate/", outsiders="members")],
    "service-key-revoke": [
        c("GET", lambda w: f"/services/{w.service.public_id}/keys/{w.service.keys.get().prefix}/revoke/", outsiders="members"),
        c("POST", lambda w: f"/services/{w.service.public_id}/keys/{w.service.keys.get().prefix}/revoke/", outsiders="members"),
        c("POST", lambda w: f"/services/{w.gx_service.public_id}/keys/{w.service.keys.get().prefix}/revoke/", mixed=True,
          insider="none"),
    ],
    "service-revoke": [c("GET", lambda w: f"/services/{w.service.public_id}/revoke/", outsiders="members"),
                       c("POST", lambda w: f"/services/{w.service.public_id}/revoke/", outsiders="members")],
    "service-grant": [c("POST", lambda w: f"/services/{w.service.public_id}/grants/", {"workspace": "vault", "role": "viewer"},
                        outsiders="members")],
    "service-grant-remove": [
        c("POST", lambda w: f"/services/{w.service.public_id}/grants/{W}/remove/", outsiders="members"),
        c("POST", lambda w: f"/services/{w.gx_service.public_id}/grants/{W}/remove/", mixed=True, insider="none"),
    ],
    "service-adopt": [c("GET", lambda w: f"/services/{w.service.public_id}/adopt/", outsiders="members"),
                      c("POST", lambda w: f"/services/{w.service.public_id}/adopt/",
                        lambda w: {"owner": w.sam.public_id, "scope": ["read"], "action": "adopt",
                                   "reviewed": f"{w.sam.public_id}:1"}, outsiders="members")],
    # Proposals: those who made them or may decide them.
    "proposal": [c("GET", lambda w: f"/proposals/{w.proposal.public_id}/", outsiders="members")],
    "proposal-approve": [c("GET", lambda w: f"/proposals/{w.proposal.public_id}/approve/", outsiders="members"),
                         c("POST", lambda w: f"/proposals/{w.proposal.public_id}/approve/", outsiders="members")],
    "proposal-reject": [c("POST", lambda w: f"/proposals/{w.proposal.public_id}/reject/", outsiders="members")],
    # Workspaces and everything in them: members (and, for org-visible ones, the org).
    "workspace": [c("GET", lambda w: f"/w/{W}/", outsiders="members"),
                  c("POST", lambda w: f"/w/{W}/", {"title": "Injected", "body": "x"}, outsiders="members"),
                  c("GET", lambda w: "/w/vault/", outsiders="members")],
    "document": [c("GET", lambda w: f"/w/{W}/d/{w.doc.public_id}/", outsiders="members"),
                 c("GET", lambda w: f"/w/{w.hq.slug}/d/{w.doc.public_id}/", mixed=True, insider="none")],
    "document-edit": [c("GET", lambda w: f"/w/{W}/d/{w.doc.public_id}/edit/", outsiders="members"),
                      c("POST", lambda w: f"/w/{W}/d/{w.doc.public_id}/edit/", {"title": "Defaced", "body": ""},
                        outsiders="members"),
                      c("POST", lambda w: f"/w/{w.hq.slug}/d/{w.doc.public_id}/edit/", {"title": "Defaced", "body": ""},
                        mixed=True, insider="none")],
    "document-delete": [c("GET", lambda w: f"/w/{W}/d/{w.doc.public_id}/delete/", outsiders="members"),
                        c("POST", lambda w: f"/w/{W}/d/{w.doc.public_id}/delete/", outsiders="members"),
                        c("POST", lambda w: f"/w/{w.hq.slug}/d/{w.doc.public_id}/delete/", mixed=True, insider="none")],
    "document-comment": [c("POST", lambda w: f"/w/{W}/d/{w.doc.public_id}/comments/", {"body": "Injected"}, outsiders="members"),
                         c("POST", lambda w: f"/w/{w.hq.slug}/d/{w.doc.public_id}/comments/", {"body": "Injected"},
                           mixed=True, insider="none")],
    "workspace-members": [c("GET", lambda w: f"/w/{W}/members/", outsiders="members")],
    "workspace-settings": [c("GET", lambda w: f"/w/{W}/settings/", outsiders="members"),
                           c("POST", lambda w: f"/w/{W}/settings/", {"name": "Defaced", "visibility": "org"},
                             outsiders="members")],
    "workspace-member": [c("GET", lambda w: f"/w/{W}/members/{w.bob.handle}/", outsiders="members"),
                         c("GET", lambda w: f"/w/{w.hq.slug}/members/{w.bob.handle}/", mixed=True, insider="none")],
    "workspace-member-role": [
        c("POST", lambda w: f"/w/{W}/members/{w.bob.handle}/role/", {"role": "admin"}, outsiders="members"),
        c("POST", lambda w: f"/w/{w.hq.slug}/members/{w.bob.handle}/role/", {"role": "admin"}, mixed=True, insider="none"),
    ],
    "workspace-member-remove": [
        c("GET", lambda w: f"/w/{W}/members/{w.bob.handle}/remove/", outsiders="members"),
        c("POST", lambda w: f"/w/{W}/members/{w.bob.handle}/remove/", outsiders="members"),
        c("POST", lambda w: f"/w/{w.hq.slug}/members/{w.bob.handle}/remove/", mixed=True, insider="none"),
    ],
    "workspace-invite": [c("GET", lambda w: f"/w/{W}/invitations/", outsiders="members"),
                         c("POST", lambda w: f"/w/{W}/invitations/", {"email": "mallory@evil.test", "role": "admin"},
                           outsiders="members")],
    "invitation-revoke": [
        c("POST", lambda w: f"/w/{W}/invitations/{w.invitation.public_id}/revoke/", outsiders="members"),
        c("POST", lambda w: f"/w/{w.hq.slug}/invitations/{w.invitation.public_id}/revoke/", mixed=True, insider="none"),
    ],
    "elevation-grant": [c("POST", lambda w: f"/w/{W}/elevations/{w.scout.handle}/", outsiders="members"),
                        c("POST", lambda w: f"/w/{w.hq.slug}/elevations/{w.scout.handle}/", mixed=True, insider="none")],
    "elevation-remove": [c("POST", lambda w: f"/w/{W}/elevations/{w.scout.handle}/remove/", outsiders="members"),
                         c("POST", lambda w: f"/w/{w.hq.slug}/elevations/{w.scout.handle}/remove/", mixed=True,
                           insider="none")],
    # The agent API.
    "api:documents": [c("GET", lambda w: f"/api/v1/workspaces/{W}/documents", outsiders="members", insider="scout")],
    "api:document_create": [c("POST", lambda w: f"/api/v1/workspaces/{W}/documents", {"title": "Injected", "body": ""},
                              outsiders="members", insider="scout")],
    "api:document_read": [c("GET", lambda w: f"/api/v1/documents/{w.doc.public_id}", outsiders="members", insider="scout")],
    "api:document_update": [c("PATCH", lambda w: f"/api/v1/documents/{w.doc.public_id}", {"title": "Defaced"},
                              outsiders="members", insider="scout")],
    "api:document_delete": [c("DELETE", lambda w: f"/api/v1/documents/{w.doc.public_id}", outsiders="members",
                              insider="scout")],
    "api:comment_create": [c("POST", lambda w: f"/api/v1/documents/{w.doc.public_id}/comments", {"body": "Injected"},
                             outsiders="members", insider="scout")],
    "api:proposal_approve": [c("POST", lambda w: f"/api/v1/proposals/{w.proposal.public_id}/approve", outsiders="members",
                               insider="scout")],
    "api:proposal_reject": [c("POST", lambda w: f"/api/v1/proposals/{w.proposal.public_id}/reject", outsiders="members",
                              insider="scout")],
}

# Patterns whose parameter names no object, or that are public by design; each has its own test.
SPECIAL = {
    "avatar": "test_avatars_are_public_faces_and_nothing_more",
    "audit-orb": "test_audit_orbs_are_drawn_from_the_id_alone",
    "invite-accept": "test_invitation_links_are_bearer_credentials",
    "audit-export": "test_audit_export_is_each_orgs_own",
    "api/v1/^(?P<rest>.*)$": "test_unknown_api_routes_are_404_for_everyone",
}
# Django's admin: operators only (is_staff), whatever their org; see test_admin_is_closed_to_every_org.
ADMIN_NAMESPACE = "admin"


def test_every_url_with_a_parameter_is_in_the_table():
    missing = [p.route for p in with_parameters()
               if p.key not in TABLE and p.key not in SPECIAL and p.namespace != ADMIN_NAMESPACE]
    assert not missing, f"add IDOR cases for: {missing}"
    stale = (set(TABLE) | set(SPECIAL)) - {p.key for p in patterns()}
    assert not stale, f"no such URL any more: {sorted(stale)}"


CASES = [pytest.param(key, i, id=f"{key}-{case.method}-{i}") for key, cases in TABLE.items() for i, case in enumerate(cases)]

SECRETS = ("The secret plan body", "A first comment", "dave@initech.test", "Nightly Export", "Roadmap", "Bob Brown")


def _secrets(world, url: str) -> list[str]:
    values = [*SECRETS, world.doc.public_id, world.scout.public_id, world.proposal.public_id, world.service.public_id,
              world.alice.public_id]
    return [s for s in values if s not in url]


def _dashboard(principal, case, world):
    url = case.path(world)
    data = case.data(world) if callable(case.data) else (case.data or {})
    client = logged_in(principal)
    return url, (client.get(url) if case.method == "GET" else client.post(url, data))


def _api(key, case, world):
    url = case.path(world)
    data = case.data(world) if callable(case.data) else case.data
    return url, ApiClient(key).request(case.method, url, data)


@pytest.mark.parametrize("key, index", CASES)
def test_outsiders_get_404_and_nothing_changes(world, key, index):
    case = TABLE[key][index]
    api = key.startswith("api:")
    if api:
        outsiders = {"spy": world.spy_key, "globex service": world.gx_service_key}
        if case.outsiders == "members":
            outsiders["courier"] = world.courier_key
    else:
        outsiders = {"sam": world.sam}
        if case.outsiders == "members" and not case.mixed:
            outsiders["carol"] = world.carol
    for who, credential in outsiders.items():
        with Unchanged(denials_allowed=api):
            url, response = (_api if api else _dashboard)(credential, case, world)
        assert response.status_code == 404, (who, case.method, url, response.status_code)
        leaked = [s for s in _secrets(world, url) if s.encode() in response.content]
        assert not leaked, (who, url, leaked)
        if api:
            assert response.data["error"] == "not_found"

    # The rightful principal is not refused as "not found": the ids above were real.
    if case.insider == "alice":
        url, response = _dashboard(world.alice, case, world)
        assert response.status_code != 404, (url, response.status_code)
    elif case.insider == "scout":
        url, response = _api(world.scout_key, case, world)
        assert response.status_code != 404, (url, response.status_code, response.data)


def _web_patterns_with_converters() -> list[Pattern]:
    """Every web URL with a converter (not the API, not the admin)."""
    return [p for p in patterns() if p.converters and p.namespace != ADMIN_NAMESPACE and not p.route.startswith("api/")]


def test_no_path_parameter_can_hold_nul():
    """PostgreSQL refuses NUL even in a lookup, so a parameter that let one through made a
    500 of a typed `%00`. No converter in the web URLs accepts it. (The API refuses it in
    its own guard: see identity.api.urls.)"""
    entries = _web_patterns_with_converters()
    assert len(entries) > 20
    lax = [(p.route, name) for p in entries for name, regex in p.converters if re.fullmatch(regex, "a\x00b")]
    assert not lax, lax


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_nul_in_any_path_parameter_is_404_not_500(world, method):
    client = logged_in(world.alice)
    checked = 0
    for route in (p.route for p in _web_patterns_with_converters()):
        if "<seg:" not in route:
            continue
        path = "/" + re.sub(r"<(\w+):\w+>", lambda m: {"slug": W, "int": "1"}.get(m.group(1), "x%00y"), route)
        with Unchanged():
            response = client.get(path) if method == "GET" else client.post(path)
        assert response.status_code == 404, (path, response.status_code)
        checked += 1
    assert checked > 15


# Special cases ------------------------------------------------------------------------------------


def test_avatars_are_public_faces_and_nothing_more(world):
    """Anyone with the id gets the face (the same bytes, logged in or not, any org), as an
    inert PNG; an unknown id is 404 like any other."""
    from django.core.files.base import ContentFile

    from identity.avatars import clean_upload
    from identity.tests.views_support import png_bytes

    world.scout.avatar.save("scout.png", ContentFile(clean_upload(png_bytes())), save=True)
    answers = []
    for client in (Client(), logged_in(world.sam), logged_in(world.alice)):
        response = client.get(f"/a/{world.scout.public_id}.png")
        assert response.status_code == 200 and response["Content-Type"] == "image/png"
        assert response["Content-Security-Policy"] == "default-src 'none'"
        assert response["X-Content-Type-Options"] == "nosniff"
        answers.append(response.content)
    assert answers[0] == answers[1] == answers[2] and answers[0].startswith(b"\x89PNG")
    for missing in ("usr_doesnotexist", world.scout.public_id + "x", "' OR 1=1 --", "..%2F..%2Fsecret_key"):
        assert Client().get(f"/a/{missing}.png").status_code == 404


def test_audit_orbs_are_drawn_from_the_id_alone(world, django_assert_max_num_queries):
    """The audit log's orbs for principals that no longer exist: derived from the string
    given, so an existing id and a made-up one are answered alike; logged-in only."""
    sam = logged_in(world.sam)
    sam.get("/")  # the session's own queries, once
    for public_id in (world.scout.public_id, "agt_madeUp1234"):
        with django_assert_max_num_queries(3):  # the session and its user: no lookup of the id
            response = sam.get(f"/audit/orb/{public_id}.png")
        assert response.status_code == 200 and response.content == orb_png(public_id, 128)
    assert Client().get(f"/audit/orb/{world.scout.public_id}.png").status_code == 404
    assert sam.get("/audit/orb/%3Cscript%3E.png").status_code == 404


def test_invitation_links_are_bearer_credentials(world):
    """A wrong token is 404. The real one shows its holder the invitation (and nothing
    else of the workspace), and accepts only for the invited address."""
    sam = logged_in(world.sam)
    for wrong in (world.token[:-1] + ("A" if world.token[-1] != "A" else "B"), world.gx_token[:-2], "x" * 43):
        response = sam.get(f"/invites/{wrong}/")
        assert response.status_code == 404 and b"Roadmap" not in response.content
    page = sam.get(f"/invites/{world.token}/")
    assert page.status_code == 200
    assert b"The secret plan body" not in page.content and b"Bob Brown" not in page.content
    assert world.doc.public_id.encode() not in page.content
    with Unchanged():
        assert sam.post(f"/invites/{world.token}/").status_code == 409


def test_unknown_api_routes_are_404_for_everyone(world):
    for key in (world.spy_key, world.scout_key):
        for path in ("/api/v1/workspaces/roadmap", f"/api/v1/documents/{world.doc.public_id}/revisions",
                     f"/api/v1/principals/{world.scout.public_id}", "/api/v1/../admin/"):
            response = ApiClient(key).get(path)
            assert response.status_code == 404 and response.data["error"] == "not_found"
            assert b"Plan" not in response.content


def _admin_urls(world) -> list[str]:
    values = {
        "object_id": str(world.alice.pk), "content_type_id": "1", "app_label": "identity", "url": "identity/principal/",
    }
    urls = []
    for p in with_parameters():
        if p.namespace != ADMIN_NAMESPACE:
            continue
        route = p.route.removeprefix("admin/")
        if "(?P<" in route:  # a regular expression: fill its named groups
            filled = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: values[m.group(1)], route).strip("^$")
        else:
            filled = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: values[m.group(1)], route)
        urls.append("/admin/" + filled)
    return urls


@pytest.mark.parametrize("who", ["sam", "alice"])
def test_admin_is_closed_to_every_org(world, who):
    """Org owners (of any org) are not operators: every admin URL with an id sends them to
    the admin's log-in, and shows nothing."""
    client = logged_in(getattr(world, who))
    urls = _admin_urls(world)
    assert len(urls) >= 10
    with Unchanged():
        for url in urls:
            for response in (client.get(url), client.post(url, {"post": "yes"})):
                assert response.status_code == 302 and "/admin/login/" in response["Location"], (url, response.status_code)


def test_audit_export_is_each_orgs_own(world):
    """The parameter is a format, not an object: Globex's owner exports Globex's log, in
    which nothing of Acme appears; a member who may not audit gets 404."""
    from audit.models import AuditEvent
    from identity.models import Principal

    globex_ids = set(Principal.objects.filter(org=world.globex).values_list("public_id", flat=True))
    acme_only = set(AuditEvent.objects.filter(org="acme").exclude(actor_org="globex").values_list("hash", flat=True))
    for fmt in ("csv", "jsonl"):
        response = logged_in(world.sam).get(f"/audit/export.{fmt}")
        assert response.status_code == 200
        body = b"".join(response.streaming_content).decode()
        rows = list(csv.DictReader(io.StringIO(body))) if fmt == "csv" else [json.loads(line) for line in body.splitlines()]
        # Every row is Globex's. (A row's prev_hash may be an Acme event's hash: the chain
        # is one for the whole log, and a hash says nothing of what it covers.)
        assert rows and all(r["org"] == "globex" or r["actor_id"] in globex_ids for r in rows)
        assert not {r["hash"] for r in rows} & acme_only
        assert "Roadmap" not in body and world.scout.public_id not in body and "Alice Adams" not in body
        assert logged_in(world.carol).get(f"/audit/export.{fmt}").status_code == 404
