"""Incident response (SPEC: an org admin can rotate every key in the org at once), from the
service-accounts pages: the service accounts' new keys are shown to the admin once; the
agents' keys are retired and their owners issue the new ones."""

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from conftest import audit_mark
from identity.api.testing import ApiClient
from identity.models import ApiKey

from . import services_support as support
from .services_support import KEY_RE, usable
from .views_support import logged_in

pytestmark = pytest.mark.django_db
acme = support.acme
fresh_cache = support.fresh_cache

URL = reverse("org-keys-rotate")


@pytest.fixture
def scout(acme, make):
    agent, key = make.agent(acme.alice, "Scout", scope="read,comment,write")
    return agent, key


def current_keys(principal) -> int:
    return ApiKey.objects.filter(principal=principal, expires_at__isnull=True, revoked_at__isnull=True).count()


@pytest.mark.parametrize("who", ["alice", "auditor"])
def test_only_the_orgs_admins_may_rotate_every_key(acme, scout, who):
    client = logged_in(getattr(acme, who))
    mark = audit_mark()
    assert client.get(URL).status_code == 404
    assert client.post(URL, {"when": "now"}).status_code == 404
    assert usable(acme.key) and usable(scout[1])
    assert not AuditEvent.objects.filter(id__gt=mark, action="org.keys.rotated").exists()


def test_the_page_says_what_will_happen_before_anything_does(acme, scout):
    response = logged_in(acme.admin).get(URL)
    assert response.status_code == 200
    impact = response.content.decode()
    assert "1 service account key</strong> is replaced" in impact
    assert "1 agent key</strong> is retired with no successor" in impact
    assert current_keys(acme.service) == 1 and current_keys(scout[0]) == 1


def test_rotating_hands_the_admin_the_service_keys_once_and_no_agent_key(acme, scout):
    agent, agent_key = scout
    mark = audit_mark()
    response = logged_in(acme.admin).post(URL, {"when": "grace", "seen": 0})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    shown = KEY_RE.findall(response.content.decode())
    assert len(shown) == 1 and usable(shown[0])
    assert ApiKey.objects.get(prefix=shown[0].split("_")[1]).principal == acme.service
    # The old keys work through the grace window; the agent has no successor until Alice issues one.
    assert usable(acme.key) and usable(agent_key)
    assert current_keys(agent) == 0
    assert f'href="/p/{agent.handle}/"' in response.content.decode()
    profile = logged_in(acme.alice).get(reverse("profile", args=[agent.handle])).content.decode()
    assert "Issue a key" in profile
    actions = list(AuditEvent.objects.filter(id__gt=mark).values_list("action", "actor_id"))
    assert sorted(actions) == sorted([
        ("agent.key.retired", acme.admin.public_id),
        ("agent.key.rotated", acme.admin.public_id),
        ("org.keys.rotated", acme.admin.public_id),
    ])


def test_rotating_now_cuts_every_old_key_off_at_once(acme, scout, make):
    agent, agent_key = scout
    neighbour, neighbour_key = make.agent(acme.other_admin, "Neighbour")
    response = logged_in(acme.admin).post(URL, {"when": "now", "seen": 0})
    assert response.status_code == 200
    assert "The old keys have stopped working." in response.content.decode()
    refused = ApiClient(agent_key).get("/api/v1/me")
    assert refused.status_code == 401 and "an agent's owner issues it" in refused.data["detail"]
    assert ApiClient(acme.key).get("/api/v1/me").status_code == 401
    new_service_key = KEY_RE.findall(response.content.decode())[0]
    assert ApiClient(new_service_key).get("/api/v1/me").status_code == 200
    assert ApiClient(neighbour_key).get("/api/v1/me").status_code == 200  # Globex is not touched


def test_a_made_up_choice_is_a_form_error_and_changes_nothing(acme, scout):
    mark = audit_mark()
    response = logged_in(acme.admin).post(URL, {"when": "yesterday", "seen": 0})
    assert response.status_code == 400
    assert "Choose when the current keys stop working." in response.content.decode()
    assert current_keys(acme.service) == 1 and current_keys(scout[0]) == 1
    assert audit_mark() == mark


def test_the_service_accounts_page_links_to_it(acme):
    assert f'href="{URL}"' in logged_in(acme.admin).get(reverse("services")).content.decode()


def test_sending_the_form_twice_does_not_rotate_the_keys_just_handed_out(acme, scout):
    client = logged_in(acme.admin)
    page = client.get(URL).content.decode()
    assert 'name="seen" value="0"' in page
    first = client.post(URL, {"when": "grace", "seen": 0})
    handed_out = KEY_RE.findall(first.content.decode())[0]
    mark = audit_mark()
    again = client.post(URL, {"when": "grace", "seen": 0})  # a reload of the answer, a double click, a second admin
    assert again.status_code == 409
    text = again.content.decode()
    assert "Ada Admin rotated every key at" in text and not KEY_RE.findall(text)
    assert usable(handed_out) and ApiKey.objects.get(prefix=handed_out.split("_")[1]).is_current
    assert audit_mark() == mark
    # The refusal is drawn after the rotation it names: sending it on rotates once more, on purpose.
    last = AuditEvent.objects.filter(action="org.keys.rotated").latest("id").id
    assert f'name="seen" value="{last}"' in text and "Last done by Ada Admin" in text
    assert client.post(URL, {"when": "grace", "seen": last}).status_code == 200
    assert not ApiKey.objects.get(prefix=handed_out.split("_")[1]).is_current


def test_a_form_without_its_marker_is_refused(acme, scout):
    response = logged_in(acme.admin).post(URL, {"when": "now"})
    assert response.status_code == 400
    assert "This form is out of date: open the page again." in response.content.decode()
    assert current_keys(acme.service) == 1 and current_keys(scout[0]) == 1


def test_the_agents_profile_says_its_key_was_retired_and_who_issues_the_next(acme, scout):
    agent, _ = scout
    profile = reverse("profile", args=[agent.handle])
    assert 'id="key-retired"' not in logged_in(acme.alice).get(profile).content.decode()
    logged_in(acme.admin).post(URL, {"when": "now", "seen": 0})
    owner_view = logged_in(acme.alice).get(profile).content.decode()
    assert "was retired when an org admin rotated every key of Acme" in owner_view
    assert "Issue a new key and give it to the agent." in owner_view
    assert "Active, but it has no working key: it can do nothing through the API until you issue one." in owner_view
    admin_view = logged_in(acme.admin).get(profile).content.decode()
    assert "Only Alice Adams, its owner, can issue the new one." in admin_view
    # One box of text: as the note's own children (a flex row), the countdown of a key still
    # in its window stood a letter wide.
    assert '<p class="flash flash-warning" role="note" id="key-retired"><span>Its key' in owner_view
    # Once the owner has issued a new key, the notice goes.
    logged_in(acme.alice).post(reverse("agent-rotate", args=[agent.handle]))
    assert 'id="key-retired"' not in logged_in(acme.alice).get(profile).content.decode()


def test_the_owners_home_page_flags_agents_that_need_a_key(acme, scout):
    agent, _ = scout
    home = reverse("home")
    assert "Needs a key" not in logged_in(acme.alice).get(home).content.decode()
    logged_in(acme.admin).post(URL, {"when": "grace", "seen": 0})
    page = logged_in(acme.alice).get(home).content.decode()
    assert f'<a class="chip chip-warn" href="/p/{agent.handle}/"' in page and "Needs a key" in page
