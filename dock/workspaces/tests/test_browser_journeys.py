"""The workspace journeys in headless chromium: invite and join (new person, existing
account, another org with agents), and removal with its impact preview — each checked
against the agent API afterwards."""

import io
import json
import re
import urllib.error
import urllib.request

import pytest
from playwright.sync_api import expect

from dock.workspaces.models import Membership

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a sturdy passphrase 42"


def api_get(live_server, path: str, key: str) -> tuple[int, dict]:
    request = urllib.request.Request(f"{live_server.url}/api/v1{path}", headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        body = error.read()
        try:
            return error.code, json.loads(body or b"{}")
        except ValueError:
            raise AssertionError(f"{error.code}: {body[:2000]!r}") from None


def invite(page, email: str, role: str) -> str:
    """On the members page: send an invitation and return the link shown to copy."""
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Role", exact=True).select_option(role)
    page.get_by_role("button", name="Send invitation").click()
    link = page.locator("#invite-link")
    expect(link).to_be_visible()
    expect(page.locator("#invitations")).to_contain_text(email)
    return link.inner_text().strip()


def test_owner_creates_workspace_and_a_new_teammate_joins_through_the_link(make, live_server, logged_in_page, mailoutbox):
    acme = make.org("acme", "Acme")
    alice = make.human(acme, "Alice Adams", email="alice@acme.test")

    owner = logged_in_page(alice)
    owner.goto("/w/new/")
    owner.get_by_label("Name").fill("Launch plan")
    owner.get_by_text("Members only").click()
    owner.get_by_role("button", name="Create workspace").click()
    expect(owner).to_have_url(re.compile(r"/w/launch-plan/$"))
    expect(owner.get_by_role("heading", level=1)).to_have_text("Launch plan")
    owner.get_by_role("link", name="Members", exact=True).click()
    expect(owner.locator("#member-alice-adams")).to_contain_text("Alice Adams")

    members_url = owner.url
    link = invite(owner, "bob@acme.test", "editor")
    assert owner.url == members_url  # swapped in place by htmx, no navigation
    assert len(mailoutbox) == 1 and link in mailoutbox[0].body

    teammate = logged_in_page()  # a second browser context, not logged in
    teammate.goto(link)
    expect(teammate.get_by_role("heading", level=1)).to_have_text("Join Launch plan")
    expect(teammate.get_by_label("Email")).to_have_value("bob@acme.test")
    teammate.get_by_label("Your name").fill("Bob Baker")
    teammate.get_by_label("Password").fill(PASSWORD)
    teammate.get_by_role("button", name="Create account and join").click()
    expect(teammate).to_have_url(re.compile(r"/w/launch-plan/$"))
    teammate.get_by_role("link", name="Members", exact=True).click()
    expect(teammate.locator("#member-alice-adams")).to_contain_text("Alice Adams")
    expect(teammate.locator("#member-bob-baker")).to_contain_text("Bob Baker")

    owner.reload()
    expect(owner.locator("#member-bob-baker")).to_contain_text("Bob Baker")
    expect(owner.locator("#member-bob-baker select")).to_have_value("editor")
    expect(owner.locator("#invitations")).not_to_contain_text("bob@acme.test")  # used up

    # The link works once.
    again = logged_in_page()
    again.goto(link)
    expect(again.get_by_role("alert")).to_contain_text("already been used")


def test_teammate_with_an_account_logs_in_to_accept(make, live_server, logged_in_page):
    acme = make.org("acme", "Acme")
    alice = make.human(acme, "Alice Adams", email="alice@acme.test")
    make.human(acme, "Bob Baker", email="bob@acme.test", password=PASSWORD)
    workspace = make.workspace(acme, "launch-plan", name="Launch plan")
    make.member(workspace, alice, "admin")

    owner = logged_in_page(alice)
    owner.goto("/w/launch-plan/members/")
    link = invite(owner, "bob@acme.test", "viewer")

    teammate = logged_in_page()
    teammate.goto(link)
    teammate.get_by_role("link", name="Log in to accept").click()
    expect(teammate).to_have_url(re.compile(r"/login/\?next=/invites/"))
    teammate.get_by_label("Email").fill("bob@acme.test")
    teammate.get_by_label("Password").fill(PASSWORD)
    teammate.get_by_role("button", name="Log in").click()
    expect(teammate).to_have_url(link)
    teammate.get_by_role("button", name="Join Launch plan").click()
    expect(teammate).to_have_url(re.compile(r"/w/launch-plan/$"))
    expect(teammate.get_by_text("You are viewer", exact=True)).to_be_visible()
    teammate.goto("/w/launch-plan/members/")
    expect(teammate.locator("#member-alice-adams")).to_be_visible()
    expect(teammate.locator("#member-bob-baker")).to_be_visible()
    owner.reload()
    expect(owner.locator("#member-bob-baker")).to_contain_text("Bob Baker")


def test_someone_from_another_org_joins_and_their_agents_come_along(make, live_server, logged_in_page):
    acme, globex = make.org("acme", "Acme"), make.org("globex", "Globex")
    alice = make.human(acme, "Alice Adams", email="alice@acme.test")
    carol = make.human(globex, "Carol Chen", email="carol@globex.test")
    courier, courier_key = make.agent(carol, "Courier", scope="read,comment")
    workspace = make.workspace(acme, "roadmap", name="Roadmap")
    make.member(workspace, alice, "admin")
    make.document(workspace, alice, title="Q3 plan")
    assert api_get(live_server, "/workspaces/roadmap/documents", courier_key)[0] == 404  # not yet

    owner = logged_in_page(alice)
    owner.goto("/w/roadmap/members/")
    link = invite(owner, "carol@globex.test", "editor")

    guest = logged_in_page(carol)
    guest.goto(link)
    guest.get_by_role("button", name="Join Roadmap").click()
    expect(guest).to_have_url(re.compile(r"/w/roadmap/$"))
    expect(guest.get_by_role("link", name="Q3 plan")).to_be_visible()

    owner.reload()
    carol_row = owner.locator("#member-carol-chen")
    agent_row = carol_row.locator("#agent-courier")
    expect(agent_row).to_contain_text("Courier")
    expect(agent_row).to_contain_text("agent · owned by Carol Chen")
    expect(agent_row.locator(".chip-cap")).to_have_text(["read", "comment"])  # editor ∩ scope

    status, body = api_get(live_server, "/workspaces/roadmap/documents", courier_key)
    assert status == 200, body
    assert [d["title"] for d in body["items"]] == ["Q3 plan"]


def test_removing_a_member_previews_the_agents_that_lose_access(make, live_server, logged_in_page):
    acme = make.org("acme", "Acme")
    alice = make.human(acme, "Alice Adams", email="alice@acme.test")
    bob = make.human(acme, "Bob Baker", email="bob@acme.test")
    builder, builder_key = make.agent(bob, "Builder", scope="read,write")
    notes, notes_key = make.agent(bob, "Note Taker", scope="read")
    workspace = make.workspace(acme, "roadmap", name="Roadmap")
    make.member(workspace, alice, "admin")
    make.member(workspace, bob, "editor")
    make.document(workspace, bob, title="Build log")
    assert api_get(live_server, "/workspaces/roadmap/documents", builder_key)[0] == 200
    assert api_get(live_server, "/workspaces/roadmap/documents", notes_key)[0] == 200

    owner = logged_in_page(alice)
    owner.goto("/w/roadmap/members/")
    members_url = owner.url
    bob_row = owner.locator("#member-bob-baker")
    bob_row.get_by_role("link", name="Remove…").click()
    preview = bob_row.locator(".impact")
    expect(preview).to_contain_text("Their agents' access here, the moment they are removed:")
    expect(preview).to_contain_text("Builder")
    expect(preview).to_contain_text("loses read, write — no access left")
    expect(preview).to_contain_text("Note Taker")
    assert owner.url == members_url  # the preview loaded into place
    assert Membership.objects.filter(principal=bob).exists()  # nothing happened yet

    preview.get_by_role("button", name="Remove Bob Baker").click()
    expect(owner.locator("#member-bob-baker")).to_contain_text("Removed Bob Baker from Roadmap. 2 of their agents lost access.")
    assert not Membership.objects.filter(principal=bob).exists()

    for key in (builder_key, notes_key):
        status, body = api_get(live_server, "/workspaces/roadmap/documents", key)
        assert status == 404 and body["error"] == "not_found"
    owner.reload()
    expect(owner.locator("#member-bob-baker")).to_have_count(0)


def test_remove_preview_cancel_puts_the_row_back(make, live_server, logged_in_page):
    acme = make.org("acme", "Acme")
    alice = make.human(acme, "Alice Adams", email="alice@acme.test")
    bob = make.human(acme, "Bob Baker", email="bob@acme.test")
    make.agent(bob, "Builder", scope="read,write")
    workspace = make.workspace(acme, "roadmap", name="Roadmap")
    make.member(workspace, alice, "admin")
    make.member(workspace, bob, "editor")

    owner = logged_in_page(alice)
    owner.goto("/w/roadmap/members/")
    row = owner.locator("#member-bob-baker")
    row.get_by_role("link", name="Remove…").click()
    expect(row.locator(".impact")).to_be_visible()
    row.get_by_role("link", name="Cancel").click()
    expect(owner.locator("#member-bob-baker .impact")).to_have_count(0)
    expect(owner.locator("#member-bob-baker")).to_contain_text("Builder")
    assert Membership.objects.filter(principal=bob).exists()


def test_after_commenting_the_keyboard_is_on_the_new_comment(make, live_server, logged_in_page):
    """The comments and their form are swapped in whole: focus goes to the comment just
    posted (a screen reader reads it out), and after a refused one back to the text."""
    acme = make.org("acme", "Acme")
    alice = make.human(acme, "Alice Adams", email="alice@acme.test")
    workspace = make.workspace(acme, "roadmap", name="Roadmap")
    make.member(workspace, alice, "editor")
    document = make.document(workspace, alice, title="Plan")

    page = logged_in_page(alice)
    page.goto(f"/w/roadmap/d/{document.public_id}/")
    page.get_by_label("Comment", exact=True).fill("Ship it on Monday.")
    page.get_by_label("Comment", exact=True).press("Tab")
    page.keyboard.press("Enter")  # the Comment button, from the keyboard
    posted = page.locator("li.comment", has_text="Ship it on Monday.")
    expect(posted).to_be_focused()
    expect(page.get_by_label("Comment", exact=True)).to_have_value("")

    page.get_by_label("Comment", exact=True).fill("   ")
    page.get_by_role("button", name="Comment").click()
    expect(page.get_by_text("Write something first.")).to_be_visible()
    expect(page.get_by_label("Comment", exact=True)).to_be_focused()


def test_on_a_phone_no_line_of_a_byline_starts_with_a_dot(make, live_server, logged_in_page):
    """A byline's parts wrap on a narrow screen. The dot between two parts shows where
    they share a line and is clipped off where a part starts one; it was a "·" in the
    text, so a wrapped line began with it."""
    from PIL import Image

    acme = make.org("acme", "Acme")
    alice = make.human(acme, "Alice Adams", email="alice@acme.test")
    owner = make.human(acme, "Maximilian Featherstonehaugh-Worthington")
    workspace = make.workspace(acme, "roadmap", name="Roadmap")
    make.member(workspace, alice, "editor")
    make.member(workspace, owner, "editor")
    draftsmith, _key = make.agent(owner, "Draftsmith", scope="read,comment,write")
    document = make.document(workspace, draftsmith, title="Plan")
    from dock.workspaces.services import comment_create, document_update

    document_update(actor=alice, document=document, body="Edited.")
    comment_create(actor=draftsmith, document=document, body="Noted.")
    comment_create(actor=alice, document=document, body="Thanks.")  # a short byline: one line

    page = logged_in_page(alice)
    page.set_viewport_size({"width": 375, "height": 900})
    starts = shares = 0
    for path in ("/w/roadmap/", f"/w/roadmap/d/{document.public_id}/"):
        page.goto(path)
        shot = Image.open(io.BytesIO(page.screenshot(full_page=True))).convert("RGB")
        for byline in page.locator(".byline").all():
            box = byline.bounding_box()
            parts = [part.bounding_box() for part in byline.locator(":scope > .byline-part").all()]
            assert len(parts) >= 2, path
            for i, part in enumerate(parts):
                # A part's dot is centred in the first 1.25rem (20 px) of its box.
                strip = shot.crop((round(part["x"]) + 6, round(part["y"]), round(part["x"]) + 15,
                                   round(part["y"] + part["height"])))
                inked = len(set(strip.get_flattened_data())) > 1
                if round(part["x"]) <= round(box["x"]):  # it starts a line
                    starts += i > 0  # a wrapped one
                    assert not inked, f"{path}: part {i} starts a line with a dot"
                else:
                    shares += 1
                    assert inked, f"{path}: part {i} follows another on its line without a dot"
    assert starts and shares  # both were seen: a part that wraps to a new line, one that shares it


def test_a_name_without_spaces_does_not_push_the_page_sideways(make, live_server, logged_in_page):
    """The form takes a 200-letter name with no space: the workspace's header and the
    pages naming it ran to 3,000 pixels wide."""
    acme = make.org("acme", "Acme")
    alice = make.human(acme, "Alice Adams")
    workspace = make.workspace(acme, "long", name="x" * 200)
    make.member(workspace, alice, "admin")
    page = logged_in_page(alice)
    for width in (375, 1280):
        page.set_viewport_size({"width": width, "height": 900})
        for path in ("/w/long/", "/w/long/members/", "/"):
            page.goto(path)
            assert page.evaluate("document.documentElement.scrollWidth") == width, (width, path)


def settled(page) -> None:
    """htmx has finished with the last swap (the new controls answer the keyboard)."""
    expect(page.locator(".htmx-added, .htmx-settling")).to_have_count(0)


def test_on_the_members_page_the_keyboard_stays_where_the_work_is(make, live_server, logged_in_page):
    """Every control on the members page swaps its row (or the invitations) in place. The
    focus went with the old markup, to the page's body: the next Tab started again at the
    top of the page. It now lands on the control again, or on what replaced it."""
    acme = make.org("acme", "Acme")
    alice = make.human(acme, "Alice Adams", email="alice@acme.test")
    bob = make.human(acme, "Bob Baker", email="bob@acme.test")
    make.agent(bob, "Builder", scope="read,write")
    workspace = make.workspace(acme, "vault", name="Vault", restricted=True)
    make.member(workspace, alice, "admin")
    make.member(workspace, bob, "editor")

    page = logged_in_page(alice)
    page.goto("/w/vault/members/")
    row = page.locator("#member-bob-baker")

    page.get_by_label("Role of Bob Baker").select_option("viewer")
    row.evaluate("el => el.setAttribute('data-before', '')")  # gone once the row is swapped
    row.get_by_role("button", name="Change role").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#member-bob-baker[data-before]")).to_have_count(0)
    expect(page.locator("#member-bob-baker select")).to_have_value("viewer")
    expect(row.get_by_role("button", name="Change role")).to_be_focused()
    settled(page)

    row.get_by_role("button", name="Elevate").focus()
    page.keyboard.press("Enter")
    expect(row.get_by_role("button", name="Remove elevation")).to_be_focused()
    settled(page)
    page.keyboard.press("Enter")
    expect(row.get_by_role("button", name="Elevate")).to_be_focused()
    settled(page)

    row.get_by_role("link", name="Remove…").click()
    expect(row.locator(".impact")).to_be_visible()
    # Focus goes to the question, as Revoke's and Approve's do, not left on the trigger.
    expect(row.get_by_text("Remove Bob Baker from Vault?")).to_be_focused()
    settled(page)
    row.get_by_role("link", name="Cancel").focus()
    page.keyboard.press("Enter")
    expect(row.locator(".impact")).to_have_count(0)
    expect(row.get_by_role("link", name="Remove…")).to_be_focused()
    settled(page)

    row.get_by_role("link", name="Remove…").click()
    expect(row.locator(".impact")).to_be_visible()
    settled(page)
    row.get_by_role("button", name="Remove Bob Baker").focus()
    page.keyboard.press("Enter")
    expect(row.get_by_role("status")).to_contain_text("Removed Bob Baker from Vault.")
    expect(row.get_by_role("status")).to_be_focused()

    invitations = page.locator("#invitations")
    page.get_by_label("Email", exact=True).fill("not an address")
    invitations.get_by_role("button", name="Send invitation").click()
    expect(invitations).to_contain_text("Enter a valid email address.")
    expect(page.get_by_label("Email", exact=True)).to_be_focused()
    settled(page)
    page.get_by_label("Email", exact=True).fill("carol@acme.test")
    page.keyboard.press("Enter")
    expect(page.locator("#invite-link")).to_be_visible()
    expect(invitations.get_by_role("button", name="Copy")).to_be_focused()


def test_an_elevated_agents_remove_elevation_stays_at_the_right_of_its_row(make, live_server, logged_in_page):
    """With four capabilities and 'elevated' the row has no room left for Remove elevation
    at 1280 pixels: it wrapped to the left edge, under the tree, away from its agent."""
    acme = make.org("acme", "Acme")
    alice = make.human(acme, "Alice Adams", email="alice@acme.test")
    workspace = make.workspace(acme, "vault", name="Vault", restricted=True)
    make.member(workspace, alice, "admin")
    agent, _ = make.agent(alice, "Draftsmith", scope="read,comment,write,delete")
    from dock.workspaces.services import elevation_grant

    elevation_grant(actor=alice, workspace=workspace, agent=agent)
    page = logged_in_page(alice, viewport={"width": 1280, "height": 900})
    page.goto("/w/vault/members/")
    row = page.locator("#agent-draftsmith .member-row")
    button = row.get_by_role("button", name="Remove elevation").bounding_box()
    caps = row.locator(".caps").bounding_box()
    assert button["x"] + button["width"] >= caps["x"] + caps["width"] - 1, (button, caps)


def test_paging_the_documents_with_the_keyboard_lands_on_the_list(make, live_server, logged_in_page):
    """Older and Newer swap the list they sit in: focus fell to the page's body, and the
    next Tab started again at the top. It goes to the list's heading."""
    acme = make.org("acme", "Acme")
    alice = make.human(acme, "Alice Adams", email="alice@acme.test")
    workspace = make.workspace(acme, "notes", name="Notes")
    make.member(workspace, alice, "editor")
    for n in range(31):
        make.document(workspace, alice, title=f"Note {n:02}")
    page = logged_in_page(alice)
    page.goto("/w/notes/")
    page.get_by_role("link", name="Older").focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/w/notes/\?page=2$"))
    expect(page.locator("#documents-title")).to_be_focused()
    page.get_by_role("link", name="Newer").focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/w/notes/\?page=1$"))
    expect(page.locator("#documents-title")).to_be_focused()


def test_restricting_a_workspace_in_its_settings_shows_who_loses_access_then_takes_it(make, live_server, logged_in_page):
    """Alice opens Settings, reads which agent restricting would cut off, ticks Restricted
    and saves: the agent's key answers 404 at once, and Members offers to elevate it."""
    acme = make.org("acme", "Acme")
    alice = make.human(acme, "Alice Adams", email="alice@acme.test")
    bob = make.human(acme, "Bob Baker", email="bob@acme.test")
    builder, builder_key = make.agent(bob, "Builder", scope="read,write")
    workspace = make.workspace(acme, "roadmap", name="Roadmap")
    make.member(workspace, alice, "admin")
    make.member(workspace, bob, "editor")
    assert api_get(live_server, "/workspaces/roadmap/documents", builder_key)[0] == 200

    owner = logged_in_page(alice)
    owner.goto("/w/roadmap/")
    owner.get_by_role("navigation", name="Workspace").get_by_role("link", name="Settings").click()
    restricted = owner.get_by_label("Restricted")
    expect(restricted).not_to_be_checked()
    note = owner.locator("#restriction-impact")
    expect(note).to_contain_text("Restricting: 1 agent loses access here at once")
    expect(note).to_contain_text("Builder")
    expect(note).to_contain_text("loses read, write — no access left")
    expect(restricted).to_have_attribute("aria-describedby", re.compile(r"\brestriction-impact-summary\b"))

    restricted.check()
    owner.get_by_role("button", name="Save settings").click()
    expect(owner.get_by_text("Saved Roadmap's settings.")).to_be_visible()
    expect(owner.get_by_label("Restricted")).to_be_checked()
    expect(owner.locator(".page-sub")).to_contain_text("Restricted")
    status, body = api_get(live_server, "/workspaces/roadmap/documents", builder_key)
    assert status == 404 and body["error"] == "not_found"

    owner.get_by_role("navigation", name="Workspace").get_by_role("link", name="Members").click()
    expect(owner.locator("#member-bob-baker")).to_contain_text("not elevated")
