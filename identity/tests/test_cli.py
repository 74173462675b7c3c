"""The operator CLI: JSON on stdout, one line on stderr and exit 1 for bad input."""

import io
import json

import pytest
from django.core.management import call_command

from audit.models import AuditEvent
from identity.models import ApiKey, Principal, Status
from identity.tests.cli_support import dock, fails


def exported(capsys, *args) -> list[dict]:
    """The rows `dock audit export *args` writes (JSON Lines), read from its output alone."""
    capsys.readouterr()
    call_command("dock", "audit", "export", *args)
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


@pytest.fixture
def acme(db):
    dock("org", "create", "acme", "--name", "Acme Robotics")
    dock("user", "create", "alice@acme.test", "--org", "acme", "--name", "Alice Adams", "--role", "owner")
    dock("workspace", "create", "roadmap", "--org", "acme", "--name", "Roadmap")
    dock("member", "add", "roadmap", "alice@acme.test", "--role", "editor")


def test_every_create_prints_ids_and_slugs(db):
    org = dock("org", "create", "acme", "--name", "Acme")
    assert org["slug"] == "acme"
    user = dock("user", "create", "alice@acme.test", "--org", "acme", "--name", "Alice Adams")
    assert user["id"].startswith("usr_") and user["handle"] == "alice-adams" and user["org_role"] == "member"
    w = dock("workspace", "create", "roadmap", "--org", "acme", "--name", "Roadmap", "--visibility", "org", "--restricted")
    assert w == {"slug": "roadmap", "name": "Roadmap", "org": "acme", "visibility": "org", "restricted": True}
    agent = dock("agent", "create", "--owner", "alice@acme.test", "--name", "Scout", "--scope", "read,comment")
    assert {"handle", "id", "key"} <= set(agent) and agent["id"].startswith("agt_")
    assert agent["scope"] == ["read", "comment"] and agent["owner"]["id"] == user["id"]
    svc = dock("service", "create", "Nightly Digest", "--org", "acme")
    assert svc["id"].startswith("svc_") and svc["key"].startswith("dock_")


def test_password_stdin(db, monkeypatch):
    from django.contrib.auth import authenticate

    dock("org", "create", "acme", "--name", "Acme")
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough passphrase\n"))
    dock("user", "create", "bob@acme.test", "--org", "acme", "--password-stdin")
    assert authenticate(username="bob@acme.test", password="a long enough passphrase") is not None


def test_agent_lifecycle_through_the_cli(acme):
    agent = dock("agent", "create", "--owner", "alice@acme.test", "--name", "Scout")
    handle = agent["handle"]
    assert dock("agent", "pause", handle)["status"] == "paused"
    assert dock("agent", "resume", handle)["status"] == "active"
    rotated = dock("agent", "rotate", handle)
    assert rotated["key"].startswith("dock_") and rotated["key"] != agent["key"] and rotated["old_key_valid_until"]
    dock("workspace", "create", "vault", "--org", "acme", "--name", "Vault", "--restricted")
    dock("member", "add", "vault", "alice@acme.test", "--role", "editor")
    assert dock("agent", "elevate", handle, "vault")["elevated"] is True
    assert dock("agent", "revoke", handle)["status"] == "revoked"
    assert not ApiKey.objects.filter(principal__handle=handle, revoked_at__isnull=True).exists()


def test_an_agent_needs_a_scope(acme, capsys, monkeypatch):
    """`--scope ""` made an agent that could do nothing; the form has always asked for one."""
    err = fails("agent", "create", "--owner", "alice@acme.test", "--name", "Idle", "--scope", "", capsys=capsys, monkeypatch=monkeypatch)
    assert "at least one capability" in err
    assert not Principal.objects.filter(display_name="Idle").exists()


def test_a_revoked_agent_is_not_elevated(acme, capsys, monkeypatch):
    """Revoked is for good: elevating one said `"elevated": true` and recorded it."""
    handle = dock("agent", "create", "--owner", "alice@acme.test", "--name", "Gone")["handle"]
    dock("workspace", "create", "vault", "--org", "acme", "--name", "Vault", "--restricted")
    dock("agent", "revoke", handle)
    assert "is revoked" in fails("agent", "elevate", handle, "vault", capsys=capsys, monkeypatch=monkeypatch)
    assert not AuditEvent.objects.filter(action="agent.elevated").exists()


def test_deactivate_and_restore(acme):
    agent = dock("agent", "create", "--owner", "alice@acme.test", "--name", "Scout")
    out = dock("user", "deactivate", "alice@acme.test")
    assert out["status"] == "deactivated" and out["agents_suspended"] == [agent["handle"]]
    assert Principal.objects.get(handle=agent["handle"]).status == Status.SUSPENDED


def test_member_remove_reports_affected_agents(acme):
    agent = dock("agent", "create", "--owner", "alice@acme.test", "--name", "Scout")
    out = dock("member", "remove", "roadmap", "alice@acme.test")
    assert out["agents_affected"] == [agent["handle"]]


def test_proposals_through_the_cli(acme):
    from dock.workspaces.models import Workspace
    from dock.workspaces.services import document_create
    from identity import consent

    bot = dock("agent", "create", "--owner", "alice@acme.test", "--name", "Sweeper", "--scope", "read,delete")
    sweeper = Principal.objects.get(handle=bot["handle"])
    alice = Principal.objects.get(handle="alice-adams")
    doc = document_create(actor=alice, workspace=Workspace.objects.get(slug="roadmap"), title="Old notes")
    proposal = consent.document_delete_request(actor=sweeper, document=doc)
    listed = dock("proposal", "list", "--as", "alice@acme.test")["items"]
    assert [p["id"] for p in listed] == [proposal.public_id]
    assert dock("proposal", "approve", proposal.public_id, "--as", "alice@acme.test")["status"] == "approved"
    deleted = AuditEvent.objects.get(action="document.deleted")
    assert deleted.actor_id == sweeper.public_id and deleted.details["approved_by"] == alice.public_id


def test_the_operator_decides_a_proposal_without_as(acme):
    """Without --as the CLI decides as the system, approving as well as rejecting; the
    approval's delete names the system as its approver (it raised on it before)."""
    from dock.workspaces.models import Document, Workspace
    from dock.workspaces.services import document_create
    from identity import consent

    bot = dock("agent", "create", "--owner", "alice@acme.test", "--name", "Sweeper", "--scope", "read,delete")
    sweeper = Principal.objects.get(handle=bot["handle"])
    alice = Principal.objects.get(handle="alice-adams")
    roadmap = Workspace.objects.get(slug="roadmap")
    kept, gone = (document_create(actor=alice, workspace=roadmap, title=title) for title in ("Keep", "Old notes"))
    rejected = dock("proposal", "reject", consent.document_delete_request(actor=sweeper, document=kept).public_id)
    approved = dock("proposal", "approve", consent.document_delete_request(actor=sweeper, document=gone).public_id)
    assert (rejected["status"], approved["status"]) == ("rejected", "approved")
    assert list(Document.objects.filter(workspace=roadmap, title__in=["Keep", "Old notes"]).values_list("title", flat=True)) == ["Keep"]
    deleted = AuditEvent.objects.get(action="document.deleted")
    assert deleted.actor_id == sweeper.public_id
    assert (deleted.details["approved_by"], deleted.details["approved_by_name"]) == ("system", "Dock")


def test_service_accounts_through_the_cli(acme):
    svc = dock("service", "create", "Nightly Digest", "--org", "acme")
    assert dock("service", "grant", "Nightly Digest", "roadmap", "--role", "viewer")["role"] == "viewer"
    assert dock("service", "rotate", svc["handle"])["key"] != svc["key"]
    adopted = dock("service", "adopt", svc["handle"], "--owner", "alice@acme.test")
    assert adopted["id"] == svc["id"] and adopted["kind"] == "agent" and adopted["owner"]["handle"] == "alice-adams"
    other = dock("service", "create", "Janitor", "--org", "acme")
    assert dock("service", "revoke", other["handle"])["status"] == "revoked"


def test_audit_export_and_head(acme, capsys):
    call_command("dock", "audit", "export", "--kind", "system")
    lines = capsys.readouterr().out.strip().splitlines()
    rows = [json.loads(line) for line in lines]
    assert rows and all(r["actor_kind"] == "system" for r in rows)
    assert list(rows[0]) == [
        "occurred_at", "action", "actor_id", "actor_kind", "actor_name", "owner_id", "owner_name", "org",
        "workspace", "target_kind", "target_id", "target_name", "details", "request_id", "ip", "prev_hash", "hash",
    ]
    call_command("dock", "audit", "export", "--format", "csv", "--workspace", "roadmap")
    csv_lines = capsys.readouterr().out.strip().splitlines()
    assert csv_lines[0].startswith("occurred_at,action,actor_id") and len(csv_lines) == 1 + AuditEvent.objects.filter(workspace="roadmap").count()
    head = dock("audit", "head")
    assert head["count"] == AuditEvent.objects.count() and len(head["hash"]) == 64


def test_every_command_is_audited_as_the_system_with_a_request_id(acme):
    events = AuditEvent.objects.order_by("id")
    assert {e.actor_kind for e in events} == {"system"}
    assert all(e.request_id.startswith("cli-") for e in events)


@pytest.mark.parametrize(
    "args, message",
    [
        (["agent", "create", "--owner", "nobody@acme.test", "--name", "X"], "no user"),
        (["org", "create", "acme", "--name", "Again"], "already exists"),
        (["agent", "create", "--owner", "alice@acme.test", "--name", "X", "--scope", "read,fly"], "unknown capability"),
        (["workspace", "create", "Bad Slug!", "--org", "acme", "--name", "X"], "not a valid slug"),
        (["workspace", "create", "roadmap", "--org", "acme", "--name", "X"], "already exists"),
        (["workspace", "create", "bell", "--org", "acme", "--name", "\x07"], "A name is required"),  # not "a title"
        (["user", "create", "not-an-email", "--org", "acme"], "not a valid email"),
        (["user", "create", "bob@acme.test", "--org", "nowhere"], "no org"),
        (["member", "add", "roadmap", "alice@acme.test"], "already a member"),
        (["member", "remove", "nowhere", "alice@acme.test"], "no workspace"),
        (["agent", "pause", "ghost"], "no agent"),
        (["proposal", "approve", "prp_missing"], "no proposal"),
        (["audit", "export", "--since", "yesterday"], "not an ISO date"),
        (["audit", "export", "--until", "2026-13-45"], "not an ISO date"),
        (["audit", "export", "--since", "2026-02-01", "--until", "2026-01-01"], "after"),
        (["audit", "export", "--since", "2026-02-02", "--until", "2026-02-01"], "after"),
        (["audit", "export", "--until", "9999-12-31"], "out of range"),
        (["audit", "export", "--action", "agent.key.rotate"], "no audit action"),
        (["audit", "export", "--action", "agnet.*"], "no audit action"),
        (["audit", "export", "--action", "agent"], "no audit action"),
        (["bogus"], "invalid choice"),
        (["service", "grant", "ci", "roadmap", "--role", "admin"], "(choose from 'viewer', 'editor')"),
        (["org", "create", "bad", "--name", "A\udcffB"], "not valid UTF-8"),  # the byte 0xff, as Python hands it on
        (["agent", "create", "--name", "X"], "required"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(acme, capsys, monkeypatch, args, message):
    before = AuditEvent.objects.count()
    assert message in fails(*args, capsys=capsys, monkeypatch=monkeypatch)
    assert AuditEvent.objects.count() == before


def test_resuming_a_revoked_agent_is_refused(acme, capsys, monkeypatch):
    agent = dock("agent", "create", "--owner", "alice@acme.test", "--name", "Scout")
    dock("agent", "revoke", agent["handle"])
    assert "revoked" in fails("agent", "resume", agent["handle"], capsys=capsys, monkeypatch=monkeypatch)


def test_reserved_workspace_slug_is_refused(acme, capsys, monkeypatch):
    assert "reserved" in fails("workspace", "create", "new", "--org", "acme", "--name", "New", capsys=capsys, monkeypatch=monkeypatch)


def test_org_wide_key_rotation_prints_service_keys_and_retires_agent_keys(acme):
    agent = dock("agent", "create", "--owner", "alice@acme.test", "--name", "Scout")
    svc = dock("service", "create", "Nightly Digest", "--org", "acme")
    out = dock("org", "rotate-keys", "acme", "--now")
    assert out["grace_seconds"] == 0 and out["cut_short"] == []
    assert [(s["handle"], s["key"] != svc["key"]) for s in out["services"]] == [(svc["handle"], True)]
    assert [(a["handle"], a["owner"]) for a in out["agents_retired"]] == [(agent["handle"], "alice-adams")]
    assert "key" not in out["agents_retired"][0]  # an agent's next key is its owner's to issue
    assert not ApiKey.objects.filter(principal__public_id=agent["id"], expires_at__isnull=True).exists()
    assert AuditEvent.objects.filter(action="org.keys.rotated", actor_kind="system").count() == 1


def test_org_wide_key_rotation_of_an_unknown_org_is_refused(acme, capsys, monkeypatch):
    assert "no org" in fails("org", "rotate-keys", "nowhere", capsys=capsys, monkeypatch=monkeypatch)


def test_audit_export_until_a_date_takes_in_that_day_as_the_audit_logs_to_date_does(acme, capsys, client):
    """`--since D --until D` is day D, the set the audit log's From D To D exports."""
    from datetime import UTC

    from identity.models import User

    day = AuditEvent.objects.latest("id").occurred_at.astimezone(UTC).date().isoformat()
    expected = [e.hash for e in AuditEvent.objects.order_by("id") if e.occurred_at.astimezone(UTC).date().isoformat() == day]
    hashes = [row["hash"] for row in exported(capsys, "--since", day, "--until", day)]
    assert hashes == expected
    client.force_login(User.objects.get(email="alice@acme.test"))
    page = client.get("/audit/export.jsonl", {"since": day, "until": day})
    assert [json.loads(line)["hash"] for line in b"".join(page.streaming_content).decode().splitlines()] == hashes


def test_audit_export_actor_is_read_as_the_audit_log_reads_a_handle(acme, make, capsys, monkeypatch):
    """`--actor @alice-adams` and `--actor Alice-Adams` are Alice, as in the audit log's
    Actor box; a handle nobody has is refused, not answered with an empty export."""
    from dock.workspaces.models import Workspace

    alice = Principal.objects.get(handle="alice-adams")
    make.document(Workspace.objects.get(slug="roadmap"), alice, title="Field notes")
    expected = list(AuditEvent.objects.filter(actor_id=alice.public_id).order_by("id").values_list("hash", flat=True))
    assert expected
    for typed in ("alice-adams", "@alice-adams", "Alice-Adams", alice.public_id):
        assert [row["hash"] for row in exported(capsys, "--actor", typed)] == expected, typed
    assert "no principal" in fails("audit", "export", "--actor", "alice-adamz", capsys=capsys, monkeypatch=monkeypatch)


@pytest.mark.parametrize("option", ["--actor", "--owner", "--workspace", "--action", "--since", "--until"])
@pytest.mark.parametrize("value", ["", "  "])
def test_audit_export_refuses_an_empty_filter_rather_than_exporting_without_it(acme, capsys, monkeypatch, option, value):
    """`--actor "$AGENT"` with the variable unset gave the whole log: an export handed on
    as one agent's activity would carry everyone's."""
    err = fails("audit", "export", option, value, capsys=capsys, monkeypatch=monkeypatch)
    assert option in err and capsys.readouterr().out == ""


def test_audit_export_action_takes_a_name_or_a_group_as_the_audit_log_offers_them(acme, capsys):
    dock("agent", "create", "--owner", "alice@acme.test", "--name", "Scout")
    for action, want in (("agent.created", {"agent.created"}), ("agent.*", {"agent.created", "agent.key.issued"})):
        got = {row["action"] for row in exported(capsys, "--action", action)}
        assert got == want & set(AuditEvent.objects.values_list("action", flat=True)) and "agent.created" in got


def test_agent_create_refuses_a_second_agent_of_one_name_for_one_owner(acme, capsys, monkeypatch):
    first = dock("agent", "create", "--owner", "alice@acme.test", "--name", "Scout")
    err = fails("agent", "create", "--owner", "alice@acme.test", "--name", "scout", capsys=capsys, monkeypatch=monkeypatch)
    assert f"already has an agent called 'scout' (@{first['handle']})" in err


def test_a_service_accounts_name_is_its_own_in_its_org(acme, capsys, monkeypatch):
    dock("service", "create", "Nightly Digest", "--org", "acme")
    err = fails("service", "create", "nightly digest", "--org", "acme", capsys=capsys, monkeypatch=monkeypatch)
    assert "acme already has a service account called 'nightly digest' (@nightly-digest)" in err
    dock("org", "create", "globex", "--name", "Globex")
    assert dock("service", "create", "Nightly Digest", "--org", "globex")["handle"] == "nightly-digest-2"


def test_a_service_named_what_could_be_two_accounts_is_refused_with_their_ids(acme, capsys, monkeypatch):
    """`service revoke alpha` revoked acme's @alpha while globex's account is called
    "alpha": a permanent change to the account the operator may not have meant."""
    dock("org", "create", "globex", "--name", "Globex")
    acmes = dock("service", "create", "Alpha", "--org", "acme")
    globexs = dock("service", "create", "alpha", "--org", "globex")
    assert (acmes["handle"], globexs["handle"]) == ("alpha", "alpha-2")
    err = fails("service", "revoke", "alpha", capsys=capsys, monkeypatch=monkeypatch)
    assert "could be more than one service account" in err
    assert f"{acmes['id']} (@alpha of acme)" in err and f"{globexs['id']} (@alpha-2 of globex)" in err
    assert set(Principal.objects.filter(kind="service").values_list("status", flat=True)) == {"active"}
    # acme's revoked by its id: "alpha" still means it too, never only globex's (a retried
    # `revoke alpha` revoked the account nobody named).
    dock("service", "revoke", acmes["id"])
    err = fails("service", "revoke", "alpha", capsys=capsys, monkeypatch=monkeypatch)
    assert "could be more than one service account" in err and acmes["id"] in err and globexs["id"] in err
    assert Principal.objects.get(public_id=globexs["id"]).status == "active"
    # An @ means a handle, nothing else; a handle is never another account's.
    assert "already revoked" in fails("service", "revoke", "@alpha", capsys=capsys, monkeypatch=monkeypatch)
    assert dock("service", "rotate", "alpha-2")["handle"] == "alpha-2"
    # A revoked account's name no longer names it, in any case.
    gone = dock("service", "create", "Nightly Job", "--org", "acme")
    dock("service", "revoke", gone["id"])
    again = dock("service", "create", "nightly job", "--org", "globex")
    assert dock("service", "rotate", "NIGHTLY JOB")["handle"] == again["handle"] != gone["handle"]


def test_password_stdin_takes_the_line_without_its_crlf_ending(db, monkeypatch):
    """A password piped from a CRLF file (or a Windows terminal) kept its "\r": the user
    could never sign in with the password they had typed."""
    from django.contrib.auth import authenticate

    dock("org", "create", "acme", "--name", "Acme")
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough passphrase\r\n"))
    dock("user", "create", "bob@acme.test", "--org", "acme", "--password-stdin")
    assert authenticate(username="bob@acme.test", password="a long enough passphrase") is not None


def test_an_email_longer_than_the_column_is_refused_in_one_line(acme, capsys, monkeypatch):
    """The validator lets 320 characters through; the column and the login form hold 254.
    SQLite kept such an address (nobody could ever sign in with it), PostgreSQL answered
    with a database error."""
    email = "x@" + ".".join(["a" * 60] * 5) + ".test"
    assert len(email) > 254
    assert "at most 254 characters" in fails("user", "create", email, "--org", "acme", capsys=capsys, monkeypatch=monkeypatch)
    assert not Principal.objects.filter(display_name="x").exists()


def test_a_tab_or_line_break_in_a_name_separates_its_words(acme):
    """Dropped with the other control characters, they ran words together: "EveEvil"."""
    user = dock("user", "create", "eve@acme.test", "--org", "acme", "--name", "Eve\r\nEvil\tTwin")
    assert (user["display_name"], user["handle"]) == ("Eve Evil Twin", "eve-evil-twin")
    w = dock("workspace", "create", "tabs", "--org", "acme", "--name", "Q3\tplans")
    assert w["name"] == "Q3 plans"


def test_handles_and_slugs_are_read_as_the_pages_show_them(acme):
    handle = dock("agent", "create", "--owner", "alice@acme.test", "--name", "Scout")["handle"]
    assert dock("agent", "pause", f"@{handle.capitalize()}")["status"] == "paused"
    dock("user", "create", "bob@acme.test", "--org", "Acme")
    assert dock("member", "add", "Roadmap", "Bob@Acme.test")["workspace"] == "roadmap"


def test_deactivate_lists_only_the_agents_it_suspends_and_reactivate_those_to_restore(acme, capsys, monkeypatch):
    working = dock("agent", "create", "--owner", "alice@acme.test", "--name", "Scout")["handle"]
    paused = dock("agent", "create", "--owner", "alice@acme.test", "--name", "Ledger")["handle"]
    gone = dock("agent", "create", "--owner", "alice@acme.test", "--name", "Gone")["handle"]
    dock("agent", "pause", paused)
    dock("agent", "revoke", gone)
    assert dock("user", "deactivate", "alice@acme.test")["agents_suspended"] == [working, paused]
    assert "not active" in fails("agent", "restore", working, capsys=capsys, monkeypatch=monkeypatch)
    last = AuditEvent.objects.latest("id").id
    out = dock("user", "reactivate", "alice@acme.test")
    assert (out["status"], out["agents_to_restore"]) == ("active", [working, paused])
    assert list(AuditEvent.objects.filter(id__gt=last).values_list("action", "actor_kind")) == [("human.reactivated", "system")]
    assert Principal.objects.get(handle=working).status == Status.SUSPENDED  # an admin's decision, still
    assert dock("agent", "restore", working)["status"] == "active"
    # Deactivated again: only the one that was working is suspended by it.
    assert dock("user", "deactivate", "alice@acme.test")["agents_suspended"] == [working]
    dock("user", "reactivate", "alice@acme.test")
    assert "is not deactivated" in fails("user", "reactivate", "alice@acme.test", capsys=capsys, monkeypatch=monkeypatch)


def test_member_remove_lists_the_agents_that_lose_access_as_the_members_page_does(acme):
    """It listed every agent the member had, revoked ones and ones with nothing here too."""
    dock("workspace", "create", "vault", "--org", "acme", "--name", "Vault", "--restricted")
    dock("member", "add", "vault", "alice@acme.test", "--role", "editor")
    elevated = dock("agent", "create", "--owner", "alice@acme.test", "--name", "Elevated")["handle"]
    paused = dock("agent", "create", "--owner", "alice@acme.test", "--name", "Paused")["handle"]
    dock("agent", "create", "--owner", "alice@acme.test", "--name", "Unelevated")
    gone = dock("agent", "create", "--owner", "alice@acme.test", "--name", "Gone")["handle"]
    dock("agent", "elevate", elevated, "vault")
    dock("agent", "elevate", paused, "vault")
    dock("agent", "pause", paused)
    dock("agent", "revoke", gone)
    out = dock("member", "remove", "vault", "alice@acme.test")
    assert out["agents_affected"] == [elevated, paused]


def test_an_agent_is_elevated_only_where_the_workspace_is_restricted(acme, capsys, monkeypatch):
    """Elsewhere it already works by its owner's role: the elevation was recorded all the
    same, to wait unseen for the workspace to be restricted one day."""
    handle = dock("agent", "create", "--owner", "alice@acme.test", "--name", "Scout")["handle"]
    assert "not restricted" in fails("agent", "elevate", handle, "roadmap", capsys=capsys, monkeypatch=monkeypatch)
    assert not AuditEvent.objects.filter(action="agent.elevated").exists()


def test_audit_export_owner_and_workspace_are_read_as_the_audit_log_offers_them(acme, make, capsys, monkeypatch):
    from dock.workspaces.models import Workspace

    alice = Principal.objects.get(handle="alice-adams")
    make.document(Workspace.objects.get(slug="roadmap"), alice, title="Field notes")
    expected = list(AuditEvent.objects.filter(owner_id=alice.public_id).order_by("id").values_list("hash", flat=True))
    assert expected
    for typed in ("alice@acme.test", "alice-adams", "@Alice-Adams", alice.public_id):
        assert [row["hash"] for row in exported(capsys, "--owner", typed)] == expected, typed
    assert {row["workspace"] for row in exported(capsys, "--workspace", "Roadmap")} == {"roadmap"}
    for args, message in (
        (["--owner", "usr_nobody0000"], "no human"),
        (["--owner", "nobody@acme.test"], "no user"),
        (["--workspace", "nowhere"], "no workspace"),
    ):
        assert message in fails("audit", "export", *args, capsys=capsys, monkeypatch=monkeypatch)


def test_seed_demo_refuses_in_one_line_where_a_demo_org_is_taken(db, capsys, monkeypatch):
    """Real data holding a demo's slug or address: a traceback, before."""
    from identity.management.commands.seed_demo import Command as SeedDemo

    dock("org", "create", "globex", "--name", "Globex")
    monkeypatch.setattr("django.core.management.base.connections.close_all", lambda: None)
    before = AuditEvent.objects.count()
    with pytest.raises(SystemExit) as exit_info:
        SeedDemo().run_from_argv(["manage.py", "seed_demo"])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip()
    assert "globex" in err and "\n" not in err and "Traceback" not in err
    assert AuditEvent.objects.count() == before and not Principal.objects.exists()
