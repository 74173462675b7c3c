"""Django admin: read-only, and never a key digest or a password hash on the page."""

import pytest

from identity.models import ApiKey, User

from .views_support import Team, logged_in


@pytest.fixture
def staff(make):
    team = Team(make)
    User.objects.filter(pk=team.admin.user.pk).update(is_staff=True, is_superuser=True)
    return team


def test_admin_lists_and_shows_without_secrets(staff, make):
    agent, _ = make.agent(staff.alice, "Scout")
    key = ApiKey.objects.get(principal=agent)
    client = logged_in(staff.admin)
    pages = [
        "/admin/identity/org/",
        "/admin/identity/principal/",
        f"/admin/identity/principal/{agent.pk}/change/",
        "/admin/identity/user/",
        f"/admin/identity/user/{staff.alice.user.pk}/change/",
        "/admin/identity/apikey/",
        f"/admin/identity/apikey/{key.pk}/change/",
    ]
    password_hash = User.objects.get(pk=staff.alice.user.pk).password
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        body = response.content.decode()
        assert key.digest not in body and password_hash not in body, url


@pytest.mark.parametrize("model", ["org", "principal", "user", "apikey"])
def test_admin_cannot_add_change_or_delete(staff, model):
    client = logged_in(staff.admin)
    assert client.get(f"/admin/identity/{model}/add/").status_code == 403
    page = client.get(f"/admin/identity/{model}/").content.decode()
    assert "delete_selected" not in page


def test_admin_is_for_staff_only(staff):
    response = logged_in(staff.alice).get("/admin/identity/apikey/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
