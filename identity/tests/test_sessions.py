"""Sessions and log-in (ASVS V6.3, V7.4): deactivation and password changes end
sessions at once; sessions rotate on log-in and die on log-out; log-in is throttled per
account and per address, and answers an unknown address exactly as a known one —
same status, message and page, and the same password-hashing work."""

import re

import pytest
from django.contrib.auth.hashers import Argon2PasswordHasher
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from audit.refs import SYSTEM
from identity import throttle
from identity.models import User
from identity.services.users import user_create, user_deactivate, user_reactivate, user_set_password
from identity.tests.hostile_support import PASSWORD, Unchanged, actions_since, audit_mark, csrf_client, private_cache  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_cache")]

NEW_PASSWORD = "a brand new passphrase"
FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def fast_hashing(settings):
    # Session behaviour does not depend on the hasher; the timing tests use argon2.
    settings.PASSWORD_HASHERS = FAST_HASHERS


@pytest.fixture
def alice(make):
    org = make.org("acme", "Acme")
    return make.human(org, "Alice Adams", email="alice@acme.test", password=PASSWORD, role="admin")


def log_in(client: Client, email: str, password: str, **extra):
    return client.post(reverse("login"), {"email": email, "password": password}, **extra)


def signed_in(email="alice@acme.test", password=PASSWORD) -> Client:
    client = Client()
    response = log_in(client, email, password)
    assert response.status_code == 302, response.content[:300]
    assert client.get(reverse("home")).status_code == 200
    return client


def is_anonymous(client: Client) -> bool:
    """The next request of this client is anonymous: the dashboard sends it to log in,
    the audit log as well, and an htmx request has the browser go there."""
    home = client.get(reverse("home"))
    fragment = client.get(reverse("people"), headers={"HX-Request": "true"})
    audit = client.get(reverse("audit"))
    return all(
        r.status_code == 302 and r["Location"].startswith(reverse("login")) for r in (home, audit)
    ) and fragment.status_code == 200 and fragment["HX-Redirect"].startswith(reverse("login"))


# Deactivation ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("fast_hashing")
def test_deactivation_ends_every_browser_session_at_once(alice):
    laptop, phone = signed_in(), signed_in()
    forced = Client()
    forced.force_login(User.objects.get(pk=alice.user.pk))
    user_deactivate(actor=SYSTEM, user=User.objects.get(pk=alice.user.pk))
    assert is_anonymous(laptop) and is_anonymous(phone) and is_anonymous(forced)


@pytest.mark.usefixtures("fast_hashing")
def test_a_deactivated_session_cannot_write(alice):
    client, token = csrf_client()
    assert log_in(client, "alice@acme.test", PASSWORD, HTTP_X_CSRFTOKEN=token).status_code == 302
    user_deactivate(actor=SYSTEM, user=User.objects.get(pk=alice.user.pk))
    with Unchanged():
        response = client.post(reverse("workspace-new"), {"name": "Late", "slug": "late", "visibility": "members"},
                               HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


@pytest.mark.usefixtures("fast_hashing")
def test_deactivation_from_the_cli_ends_sessions_too(alice):
    client = signed_in()
    call_command("dock", "user", "deactivate", "alice@acme.test")
    assert is_anonymous(client)


@pytest.mark.usefixtures("fast_hashing")
def test_sessions_ended_by_deactivation_stay_ended_after_reactivation(alice):
    """A cookie stolen before the deactivation must not come back to life when the
    account is reactivated: the session is gone, not merely refused while inactive."""
    client = signed_in()
    cookie = client.cookies["sessionid"].value
    user_deactivate(actor=SYSTEM, user=User.objects.get(pk=alice.user.pk))
    assert not Session.objects.filter(session_key=cookie).exists()
    user_reactivate(actor=SYSTEM, user=User.objects.get(pk=alice.user.pk))
    assert is_anonymous(client)
    # The person logs in afresh and works.
    assert signed_in().get(reverse("home")).status_code == 200


@pytest.mark.usefixtures("fast_hashing")
def test_deactivation_ends_only_that_persons_sessions(alice, make):
    make.human(alice.org, "Bob Brown", email="bob@acme.test", password=PASSWORD)
    bob = signed_in("bob@acme.test")
    user_deactivate(actor=SYSTEM, user=User.objects.get(pk=alice.user.pk))
    assert bob.get(reverse("home")).status_code == 200


@pytest.mark.usefixtures("fast_hashing")
def test_a_deactivated_person_cannot_log_in_again(alice):
    user_deactivate(actor=SYSTEM, user=User.objects.get(pk=alice.user.pk))
    client = Client()
    response = log_in(client, "alice@acme.test", PASSWORD)
    assert response.status_code == 400
    assert "_auth_user_id" not in client.session


# Password change -------------------------------------------------------------------------------


def change_password(client: Client, **extra):
    return client.post(
        reverse("password-change"),
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        **extra,
    )


@pytest.mark.usefixtures("fast_hashing")
@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_changing_the_password_ends_the_other_sessions_and_keeps_this_one(alice, htmx):
    changer, other, third = signed_in(), signed_in(), signed_in()
    before = changer.cookies["sessionid"].value
    mark = audit_mark()
    response = change_password(changer, headers={"HX-Request": "true"} if htmx else {})
    assert response.status_code == (200 if htmx else 302)
    assert actions_since(mark) == ["human.password_changed"]
    assert changer.get(reverse("home")).status_code == 200
    assert is_anonymous(other) and is_anonymous(third)
    # The changer's session got a new key: the old cookie is worth nothing.
    assert changer.cookies["sessionid"].value != before
    replay = Client()
    replay.cookies["sessionid"] = before
    assert is_anonymous(replay)
    # And the new password is the one that works.
    assert log_in(Client(), "alice@acme.test", PASSWORD).status_code == 400
    assert log_in(Client(), "alice@acme.test", NEW_PASSWORD).status_code == 302


@pytest.mark.usefixtures("fast_hashing")
def test_a_password_set_by_an_operator_ends_every_session(alice):
    client = signed_in()
    user_set_password(actor=SYSTEM, user=User.objects.get(pk=alice.user.pk), password=NEW_PASSWORD)
    assert is_anonymous(client)


@pytest.mark.usefixtures("fast_hashing")
def test_a_wrong_current_password_ends_nothing(alice):
    changer, other = signed_in(), signed_in()
    with Unchanged():
        response = changer.post(reverse("password-change"),
                                {"old_password": "not my password", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert response.status_code == 400
    assert changer.get(reverse("home")).status_code == 200 and other.get(reverse("home")).status_code == 200


@pytest.mark.usefixtures("fast_hashing")
@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_guessing_the_current_password_is_throttled_like_logging_in(alice, htmx):
    """Whoever holds a session (a borrowed laptop, a stolen cookie) must not be able to
    guess the password through the change form without limit, and then lock its owner
    out by changing it: wrong current passwords count against the account, as failed
    log-ins do, and once it is locked no current password is checked at all."""
    holder = signed_in()
    headers = {"HX-Request": "true"} if htmx else {}
    for n in range(throttle.LOGIN_ACCOUNT.limit):
        response = holder.post(reverse("password-change"),
                               {"old_password": f"guess {n}", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
                               headers=headers)
        assert response.context["form"].errors.get("old_password")
    with Unchanged():
        response = change_password(holder, headers=headers)
    assert response.status_code == (200 if htmx else 429)
    assert b"Too many attempts" in response.content
    assert User.objects.get(pk=alice.user.pk).check_password(PASSWORD)
    # The same lock as the log-in page's: guesses here and there add up.
    assert log_in(Client(), "alice@acme.test", PASSWORD).status_code == 429


@pytest.mark.usefixtures("fast_hashing")
def test_the_right_current_password_is_not_counted_as_a_guess(alice):
    holder = signed_in()
    for _ in range(throttle.LOGIN_ACCOUNT.limit - 1):
        log_in(Client(), "alice@acme.test", "wrong password!")
    # One short of the lock: a change with the right current password goes through and
    # spends nothing, so the owner can still log in afterwards.
    assert change_password(holder).status_code == 302
    assert log_in(Client(), "alice@acme.test", NEW_PASSWORD).status_code == 302


# Session lifecycle ------------------------------------------------------------------------------


@pytest.mark.usefixtures("fast_hashing")
def test_log_in_rotates_the_session_key(alice):
    """Session fixation: a key planted before log-in is not the key after it."""
    client = Client()
    client.get(reverse("login"))
    session = client.session
    session["planted"] = True
    session.save()
    planted = session.session_key
    client.cookies["sessionid"] = planted
    assert log_in(client, "alice@acme.test", PASSWORD).status_code == 302
    assert client.cookies["sessionid"].value != planted
    assert not Session.objects.filter(session_key=planted).exists()


@pytest.mark.usefixtures("fast_hashing")
def test_log_out_destroys_the_session_on_the_server(alice):
    client = signed_in()
    cookie = client.cookies["sessionid"].value
    assert client.post(reverse("logout")).status_code == 302
    assert not Session.objects.filter(session_key=cookie).exists()
    replay = Client()
    replay.cookies["sessionid"] = cookie
    assert is_anonymous(replay)


@pytest.mark.usefixtures("fast_hashing")
def test_session_cookie_is_http_only_and_same_site(alice):
    client = signed_in()
    morsel = client.cookies["sessionid"]
    assert morsel["httponly"] and morsel["samesite"] == "Lax"


# Throttling -------------------------------------------------------------------------------------


@pytest.mark.usefixtures("fast_hashing")
def test_account_lock_ignores_case_and_spaces_in_the_address(alice):
    for n in range(throttle.LOGIN_ACCOUNT.limit):
        variant = ["Alice@Acme.test", " alice@acme.test ", "ALICE@ACME.TEST", "alice@ACME.test", "aLiCe@acme.TEST"][n % 5]
        assert log_in(Client(REMOTE_ADDR=f"10.0.0.{n + 1}"), variant, "wrong password!").status_code == 400
    client = Client(REMOTE_ADDR="10.9.9.9")
    with Unchanged():
        response = log_in(client, "alice@acme.test", PASSWORD)
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


@pytest.mark.usefixtures("fast_hashing")
def test_address_lock_spans_accounts_and_spares_other_addresses(alice):
    attacker = Client(REMOTE_ADDR="203.0.113.7")
    for n in range(throttle.LOGIN_ADDRESS.limit):
        log_in(attacker, f"guess{n}@acme.test", "wrong password!")
    assert log_in(attacker, "alice@acme.test", PASSWORD).status_code == 429
    # Alice, from her own address, is not locked out by someone else's guessing.
    assert log_in(Client(REMOTE_ADDR="198.51.100.20"), "alice@acme.test", PASSWORD).status_code == 302


@pytest.mark.usefixtures("fast_hashing")
def test_a_locked_account_gets_no_password_check_at_all(alice, monkeypatch):
    for _ in range(throttle.LOGIN_ACCOUNT.limit):
        log_in(Client(), "alice@acme.test", "wrong password!")
    calls = []
    monkeypatch.setattr("identity.views.auth.authenticate", lambda *a, **k: calls.append(1))
    assert log_in(Client(), "alice@acme.test", PASSWORD).status_code == 429
    assert calls == []


@pytest.fixture
def operator(alice):
    User.objects.filter(pk=alice.user.pk).update(is_staff=True)
    return alice


@pytest.mark.usefixtures("fast_hashing")
def test_the_admins_log_in_form_checks_no_password(operator):
    """Django's admin has a log-in form of its own: a second way to try passwords, with
    no lock and no audit event. It checks nothing; operators log in on /login/."""
    client = Client()
    for n in range(throttle.LOGIN_ACCOUNT.limit * 2):
        with Unchanged():
            response = client.post("/admin/login/?next=/admin/", {"username": "alice@acme.test", "password": f"guess {n}"})
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    with Unchanged():
        response = client.post("/admin/login/?next=/admin/", {"username": "alice@acme.test", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert "_auth_user_id" not in client.session


@pytest.mark.usefixtures("fast_hashing")
def test_operators_reach_the_admin_through_the_locked_and_audited_log_in(operator):
    client = Client()
    response = client.get("/admin/")
    assert response.status_code == 302
    response = client.get(response["Location"])  # the admin's log-in sends on to the site's
    assert response.status_code == 302 and response["Location"] == f"{reverse('login')}?next=/admin/"
    mark = audit_mark()
    response = log_in(client, "alice@acme.test", PASSWORD, QUERY_STRING="next=/admin/")
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert actions_since(mark) == ["human.logged_in"]
    assert client.get("/admin/").status_code == 200
    # Logging out of the admin is logging out, recorded as one.
    mark = audit_mark()
    response = client.post("/admin/logout/")
    assert response.status_code == 302
    assert actions_since(mark) == ["human.logged_out"]
    assert client.get("/admin/")["Location"].startswith("/admin/login/")


@pytest.mark.usefixtures("fast_hashing")
def test_the_admins_log_in_is_no_way_around_a_locked_account(operator):
    for _ in range(throttle.LOGIN_ACCOUNT.limit):
        log_in(Client(), "alice@acme.test", "wrong password!")
    client = Client()
    assert client.post("/admin/login/", {"username": "alice@acme.test", "password": PASSWORD})["Location"].startswith(
        reverse("login"))
    assert log_in(client, "alice@acme.test", PASSWORD).status_code == 429
    assert client.get("/admin/")["Location"].startswith("/admin/login/")


@pytest.mark.usefixtures("fast_hashing")
def test_the_admins_password_form_is_the_sites(operator):
    """Django's admin changes passwords with a form of its own: no lock on guessing the
    current one, and a change with no audit event. It is the site's page instead."""
    client = signed_in()
    with Unchanged():
        for n in range(throttle.LOGIN_ACCOUNT.limit + 1):
            response = client.post("/admin/password_change/",
                                   {"old_password": f"guess {n}", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
            assert response.status_code == 302 and response["Location"] == reverse("password-change")
        response = client.post("/admin/password_change/",
                               {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert response.status_code == 302 and response["Location"] == reverse("password-change")
    assert User.objects.get(pk=operator.user.pk).check_password(PASSWORD)
    mark = audit_mark()
    assert change_password(client).status_code == 302
    assert actions_since(mark) == ["human.password_changed"]


def test_someone_signed_in_who_is_no_operator_finds_no_admin_log_in(alice):
    client = Client()
    client.force_login(alice.user)
    with Unchanged():
        response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 404


def test_a_burst_of_simultaneous_guesses_gets_no_more_than_the_limit(monkeypatch):
    """Attempts are counted before the password check, atomically: guesses that arrive
    together (each from its own address) cannot all pass the check before any of them is
    counted, and none of their counts is lost."""
    import threading
    import time

    from django.contrib.auth.models import AnonymousUser
    from django.test import RequestFactory

    from identity.views import auth as views

    checked, lock = [], threading.Lock()

    def slow_authenticate(request, **credentials):
        with lock:
            checked.append(credentials["password"])
        time.sleep(0.2)  # argon2's time, during which the others arrive
        return None

    monkeypatch.setattr(views, "authenticate", slow_authenticate)
    monkeypatch.setattr(views.sessions, "session_login_failed", lambda **kw: None)
    monkeypatch.setattr(views.selectors, "principal_by_email", lambda email: None)
    limit, n = throttle.LOGIN_ACCOUNT.limit, throttle.LOGIN_ACCOUNT.limit * 4
    start, statuses = threading.Barrier(n), []

    def guess(i):
        request = RequestFactory().post("/login/", {"email": "victim@acme.test", "password": f"guess {i}"},
                                        REMOTE_ADDR=f"10.7.0.{i + 1}")
        request.user = AnonymousUser()
        start.wait(10)
        status = views.login_view(request).status_code
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert len(checked) == limit
    assert sorted(statuses) == [400] * limit + [429] * (n - limit)


# The same answer for unknown and known addresses -----------------------------------------------------


def _normalised(response) -> str:
    """The page without what legitimately differs: the CSRF token and the typed address."""
    text = response.content.decode()
    text = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', 'name="csrfmiddlewaretoken" value="-"', text)
    text = re.sub(r'"X-CSRFToken": "[^"]+"', '"X-CSRFToken": "-"', text)
    text = re.sub(r'(name="email"[^>]*?)value="[^"]*"', r'\1value="-"', text)
    return text


def _answer(email, password, ip):
    response = log_in(Client(REMOTE_ADDR=ip), email, password)
    return response.status_code, [t.name for t in response.templates if t.name], _normalised(response)


@pytest.mark.usefixtures("fast_hashing")
def test_unknown_known_deactivated_and_passwordless_addresses_get_the_same_answer(alice, make):
    make.human(alice.org, "Dee Activated", email="dee@acme.test", password=PASSWORD)
    user_deactivate(actor=SYSTEM, user=User.objects.get(email="dee@acme.test"))
    make.human(alice.org, "No Password", email="nopass@acme.test")  # created by an operator, no password yet
    answers = [
        _answer("nobody@acme.test", PASSWORD, "10.0.0.1"),
        _answer("alice@acme.test", "wrong password!", "10.0.0.2"),
        _answer("dee@acme.test", PASSWORD, "10.0.0.3"),
        _answer("nopass@acme.test", PASSWORD, "10.0.0.4"),
    ]
    assert answers[0][0] == 400
    assert "That email and password do not match an active account." in answers[0][2]
    for other in answers[1:]:
        assert other == answers[0]


@pytest.mark.usefixtures("fast_hashing")
def test_locked_unknown_and_locked_known_addresses_get_the_same_answer(alice):
    for email in ("alice@acme.test", "ghost@acme.test"):
        for n in range(throttle.LOGIN_ACCOUNT.limit):
            log_in(Client(REMOTE_ADDR=f"10.1.{n}.1"), email, "wrong password!")
    known = _answer("alice@acme.test", PASSWORD, "10.2.0.1")
    unknown = _answer("ghost@acme.test", PASSWORD, "10.2.0.2")
    assert known[0] == 429 and "Too many attempts. Try again in 15 minutes." in known[2]
    assert known == unknown


class HashCounter:
    """Counts argon2 computations (hashing a new password or checking one)."""

    def __init__(self, monkeypatch):
        self.count = 0
        encode, verify = Argon2PasswordHasher.encode, Argon2PasswordHasher.verify

        def counted_encode(hasher, password, salt):
            self.count += 1
            return encode(hasher, password, salt)

        def counted_verify(hasher, password, encoded):
            self.count += 1
            return verify(hasher, password, encoded)

        monkeypatch.setattr(Argon2PasswordHasher, "encode", counted_encode)
        monkeypatch.setattr(Argon2PasswordHasher, "verify", counted_verify)


@pytest.fixture
def argon2_people(make, settings):
    assert settings.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")
    org = make.org("acme", "Acme")
    make.human(org, "Alice Adams", email="alice@acme.test", password=PASSWORD)
    make.human(org, "Dee Activated", email="dee@acme.test", password=PASSWORD)
    user_deactivate(actor=SYSTEM, user=User.objects.get(email="dee@acme.test"))
    user_create(actor=SYSTEM, email="nopass@acme.test", org=org)
    return org


@pytest.mark.parametrize(
    "email, password",
    [
        ("nobody@acme.test", PASSWORD),
        ("alice@acme.test", "wrong password!"),
        ("dee@acme.test", PASSWORD),
        ("nopass@acme.test", PASSWORD),
    ],
    ids=["unknown", "wrong-password", "deactivated", "no-password"],
)
def test_every_failed_log_in_costs_one_argon2_computation(argon2_people, monkeypatch, email, password):
    """The work that makes a log-in slow is done for unknown addresses too."""
    counter = HashCounter(monkeypatch)
    assert log_in(Client(), email, password).status_code == 400
    assert counter.count == 1
