"""Journey 1a: signing up creates an org and its owner and lands on the dashboard."""

import pytest
from playwright.sync_api import Page, expect

from identity.models import Org, OrgRole, User

from .browser_support import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sign_up_creates_an_org_and_its_owner_and_lands_on_the_dashboard(page: Page, live_server):
    page.goto(f"{live_server.url}/signup/")
    page.get_by_label("Organisation name").fill("Harbour Labs")
    page.get_by_label("Your name").fill("Hana Ito")
    page.get_by_label("Email").fill("hana@harbour.test")

    # A weak password: the field says why, and nothing is created.
    page.get_by_label("Password").fill("password")
    page.get_by_role("button", name="Create organisation").click()
    expect(page).to_have_url(f"{live_server.url}/signup/")
    expect(page.locator("#id_password")).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".errorlist")).to_contain_text("too common")
    assert not Org.objects.filter(name="Harbour Labs").exists()
    expect(page.get_by_label("Organisation name")).to_have_value("Harbour Labs")

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create organisation").click()
    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.get_by_role("heading", name="Hello, Hana")).to_be_visible()
    expect(page.locator(".page-sub").first).to_have_text("Harbour Labs")
    expect(page.get_by_text("No workspaces yet")).to_be_visible()
    expect(page.get_by_role("link", name="Create a workspace")).to_have_attribute("href", "/w/new/")

    user = User.objects.select_related("principal__org").get(email="hana@harbour.test")
    assert user.org_role == OrgRole.OWNER and user.principal.org.name == "Harbour Labs"

    # Logged in for real: the account menu logs out again.
    page.locator("details.menu > summary").click()
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(f"{live_server.url}/login/")
