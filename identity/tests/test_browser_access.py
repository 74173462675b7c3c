"""Journey 8: the agent's profile explains its access in each workspace: the chain, or
the rule that denies it."""

import pytest
from playwright.sync_api import Page, expect

from .browser_support import PASSWORD, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_agent_profile_explains_access_per_workspace(page: Page, live_server, make):
    org = make.org(slug="acme", name="Acme")
    alice = make.human(org, "Alice Adams", email="alice@acme.test", password=PASSWORD)
    roadmap = make.workspace(org, "roadmap", name="Roadmap")
    make.member(roadmap, alice, "editor")
    make.workspace(org, "handbook", name="Handbook", visibility="org")
    vault = make.workspace(org, "vault", name="Vault", restricted=True)
    make.member(vault, alice, "admin")
    make.workspace(org, "hidden", name="Hidden")  # Alice cannot see it: it is never named
    agent, _ = make.agent(alice, "Scout", scope="read,comment")

    log_in(page, live_server, "alice@acme.test")
    page.goto(f"{live_server.url}/p/{agent.handle}/")
    access = page.locator("#access")
    expect(access.locator("li[data-workspace]")).to_have_count(3)
    expect(access).not_to_contain_text("Hidden")

    def row(slug):
        return access.locator(f"li[data-workspace='{slug}']")

    expect(row("roadmap").locator(".chip-cap")).to_have_text(["read", "comment"])
    steps = row("roadmap").locator("ol.steps li")
    expect(steps).to_have_text([
        "Scout is an active agent with scope: read, comment.",
        "It is owned by Alice Adams (active).",
        "Alice Adams is editor of Roadmap → read, comment, write, delete.",
        "Capped by the agent's scope → read, comment.",
        "Effective: read, comment.",
    ])

    expect(row("handbook").locator(".chip-cap")).to_have_text(["read"])
    expect(row("handbook")).to_contain_text("readable by everyone in Acme (org visibility)")

    expect(row("vault").locator(".chip-danger")).to_have_text("No access")
    expect(row("vault")).to_contain_text("Vault is restricted and Scout has not been elevated there")
    expect(row("vault")).to_contain_text("denied by default")
