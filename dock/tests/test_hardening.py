import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    env = {
        **os.environ,
        "DOCK_SECRET_KEY": secrets.token_urlsafe(60),
        "DOCK_HTTPS": "1",
        "DOCK_DEBUG": "0",
        "ALLOWED_HOSTS": "dock.example.com",
        "DOCK_VAR_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "dock.settings",
    }
    env.pop("DATABASE_URL", None)
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # set by the browser tests' conftest only
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_settings_turn_on_hsts_and_secure_cookies(tmp_path):
    env = {**os.environ, "DOCK_SECRET_KEY": secrets.token_urlsafe(60), "DOCK_HTTPS": "1", "DOCK_VAR_DIR": str(tmp_path)}
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='dock.settings'; django.setup();"
        "from django.conf import settings as s;"
        "print(s.SECURE_HSTS_SECONDS, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, s.X_FRAME_OPTIONS)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["31536000", "True", "True", "True", "DENY"], out.stderr


DATABASE_URL_RULE = "DATABASE_URL must be a postgres://user@host:port/name or a sqlite:///path URL."


@pytest.mark.parametrize(("name", "value", "message"), [
    ("DOCK_KEY_GRACE_SECONDS", "abc", "DOCK_KEY_GRACE_SECONDS must be a whole number, not 'abc'."),
    ("DOCK_RATE_LIMIT", "0", "DOCK_RATE_LIMIT must be at least 1, not 0."),
    # dj_database_url's own errors were tracebacks; a MySQL URL parsed, and failed later.
    ("DATABASE_URL", "bogus", DATABASE_URL_RULE),
    ("DATABASE_URL", "postgres://u:secret@h:notaport/db", DATABASE_URL_RULE),
    ("DATABASE_URL", "mysql://u:secret@h/db", DATABASE_URL_RULE),
    # Set but blank: refused, not the local default (each host its own secret, cache, database).
    ("DATABASE_URL", " ", "DATABASE_URL is set but empty: give it a value, or unset it for the default."),
    ("DOCK_SECRET_KEY", "", "DOCK_SECRET_KEY is set but empty: give it a value, or unset it for the default."),
    ("DOCK_KEY_PEPPER", " ", "DOCK_KEY_PEPPER is set but empty: give it a value, or unset it for the default."),
    ("REDIS_URL", "", "REDIS_URL is set but empty: give it a value, or unset it for the default."),
    # A database that is not one.
    ("DATABASE_URL", "sqlite://", DATABASE_URL_RULE),
    ("DATABASE_URL", "postgres://u:secret@h:5432/", DATABASE_URL_RULE),
])
def test_a_setting_that_cannot_be_used_is_one_line_not_a_traceback(tmp_path, name, value, message):
    env = {**os.environ, "DOCK_VAR_DIR": str(tmp_path), name: value}
    result = subprocess.run([sys.executable, "manage.py", "dock", "audit", "head"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip() == f"Dock is misconfigured: {message}"


@pytest.mark.parametrize(("args", "message"), [
    (["audit_verify"], "database error: no such table: audit_chainhead (has `manage.py migrate` run?)"),
    (["seed_demo"], "database error: no such table: identity_org (has `manage.py migrate` run?)"),
    (["seed_demo", "--days", "1000000"], "--scale goes from 0 to 1000 (100 is about a million events), --days from 1 to 3650"),
    # Ran for as long as it was let, holding the write lock: the app's writes failed meanwhile.
    (["seed_demo", "--scale", "99999999999999999999"],
     "--scale goes from 0 to 1000 (100 is about a million events), --days from 1 to 3650"),
    # argparse's own refusals: a usage block over several lines, and exit 2.
    (["seed_demo", "--scale", "abc"], "manage.py seed_demo: argument --scale: invalid int value: 'abc'"),
    (["audit_verify", "--bogus"], "manage.py audit_verify: unrecognized arguments: --bogus"),
    (["audit_db_role", "--apply", "--check"], "manage.py audit_db_role: argument --check: not allowed with argument --apply"),
])
def test_a_command_on_a_database_it_cannot_use_says_so_in_one_line(tmp_path, args, message):
    """An unmigrated database, a history reaching back before the year 1, or arguments that
    are not the command's: tracebacks, or argparse's usage block."""
    env = {**os.environ, "DOCK_VAR_DIR": str(tmp_path)}
    env.pop("DATABASE_URL", None)  # a new SQLite database under tmp_path, never migrated
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip() == f"CommandError: {message}"


def test_what_django_answers_itself_on_the_apis_paths_is_in_the_apis_shape(client, db):
    """A Host header not in ALLOWED_HOSTS got Django's HTML 400 page (with a CSRF cookie)
    on /api/v1/; a failure after a view, its HTML 500."""
    from django.test import RequestFactory

    from dock import urls, views

    api = client.get("/api/v1/me", HTTP_HOST="evil.example")
    assert api.status_code == 400 and api["Content-Type"] == "application/json"
    assert api.json() == {"error": "invalid", "detail": "Bad request."} and "csrftoken" not in api.cookies
    page = client.get("/login/", HTTP_HOST="evil.example")
    assert page.status_code == 400 and page["Content-Type"].startswith("text/html")
    assert urls.handler500 == "dock.views.server_error"
    request = RequestFactory().get("/api/v1/documents/doc_x")
    early = views.server_error(request)  # failed before the request had an id
    assert early.status_code == 500 and early["Content-Type"] == "application/json"
    assert json.loads(early.content) == {"error": "server_error", "detail": "Something went wrong on our side."}
    request.request_id = "req_x"
    assert json.loads(views.server_error(request).content) == {  # as the API's own 500: nothing said of what was done
        "error": "server_error", "detail": "Something went wrong on our side; the request id is in X-Request-ID."
    }
    assert b"Something went wrong on our side" in views.server_error(RequestFactory().get("/w/roadmap/")).content


def test_every_page_has_a_self_only_content_security_policy(client, db):
    for path in ("/healthz", "/login/"):
        response = client.get(path)
        policy = response["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "script-src 'self'" in policy
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert "frame-ancestors 'none'" in policy
        assert response["X-Frame-Options"] == "DENY"
        assert response["X-Content-Type-Options"] == "nosniff"


def test_htmx_is_served_from_the_package_not_a_cdn(client, db):
    page = client.get("/login/").content.decode()
    assert "/static/django_htmx/" in page or "/static/" in page
    assert "unpkg.com" not in page and "cdn" not in page.lower()


def test_healthz(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_refusals_are_dock_pages_with_a_way_back(make, client):
    """404 and 403 were Django's bare pages; a form's address opened on its own (405) was
    an empty body, which Chromium shows as "This page isn't working"."""
    from django.template.loader import render_to_string
    from django.test import Client

    org = make.org()
    alice, bob = make.human(org, "Alice Adams"), make.human(org, "Bob Brown")
    scout, _ = make.agent(alice, "Scout")
    client.force_login(bob.user)
    missing = client.get("/w/no-such-workspace/")
    assert missing.status_code == 404 and b"Nothing here" in missing.content and b"Go to your dashboard" in missing.content
    refused = client.post(f"/agents/{scout.handle}/pause/")
    assert refused.status_code == 403 and b"You can't do that here" in refused.content
    assert b"Only the agent&#x27;s owner or an org admin can do that." in refused.content
    owner = Client()
    owner.force_login(alice.user)
    opened = owner.get(f"/agents/{scout.handle}/pause/")
    assert opened.status_code == 405 and opened["Allow"] == "POST" and b"This is a button, not a page" in opened.content
    api = client.get("/api/v1/documents/doc_x/comments")  # the API keeps its JSON 405
    assert api.status_code == 405 and api["Content-Type"] == "application/json"
    assert "Something went wrong on our side" in render_to_string("500.html")


def test_pages_name_their_icon_so_browsers_do_not_ask_for_a_missing_favicon(client, db):
    """Every page load logged a 404 for /favicon.ico."""
    from django.contrib.staticfiles import finders

    assert '<link rel="icon" href="/static/img/dock.svg" type="image/svg+xml">' in client.get("/login/").content.decode()
    assert finders.find("img/dock.svg")


def test_a_signed_in_persons_pages_are_never_kept_by_the_browser(make, client):
    """Controls change pages in place; Back must ask again, not show the copy first loaded."""
    org = make.org()
    alice = make.human(org, "Alice Adams", password="correct horse battery")
    agent, _ = make.agent(alice, "Scout")
    client.force_login(alice.user)
    for path in ("/", f"/p/{agent.handle}/", "/people/", "/proposals/"):
        cache = client.get(path)["Cache-Control"]
        assert "no-store" in cache and "private" in cache, path
    # What says how it is cached keeps it: a face is cached for a day.
    assert client.get(f"/a/{agent.public_id}.png")["Cache-Control"] == "public, max-age=86400"
