"""Workspace settings: name, description, visibility and restriction, changed by those who
manage the workspace (page) or the operator (CLI), with what rested on the old setting
removed in the same transaction."""

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from audit.refs import SYSTEM
from conftest import actions_since, audit_mark
from dock.workspaces import services
from dock.workspaces.models import Elevation, Proposal, ProposalStatus, Workspace
from identity import access
from identity.errors import InvalidInput
from identity.tests.cli_support import dock, fails


@pytest.fixture
def team(make):
    """Acme's roadmap: Alice (admin) with Scribe, Bob (editor) with Builder (who may
    delete), Dana in Acme but not a member; Builder has asked to delete the plan."""
    acme = make.org("acme", "Acme")
    alice = make.human(acme, "Alice Adams", email="alice@acme.test")
    bob = make.human(acme, "Bob Baker", email="bob@acme.test")
    dana = make.human(acme, "Dana Diaz", email="dana@acme.test")
    workspace = make.workspace(acme, "roadmap", name="Roadmap", visibility="org")
    make.member(workspace, alice, "admin")
    make.member(workspace, bob, "editor")
    scribe, _ = make.agent(alice, "Scribe", scope="read,comment,write")
    builder, _ = make.agent(bob, "Builder", scope="read,write,delete")
    document = make.document(workspace, alice, title="Plan")
    proposal = services.proposal_create(actor=builder, document=document, reason="stale")
    return {"workspace": workspace, "alice": alice, "bob": bob, "dana": dana, "scribe": scribe, "builder": builder,
            "proposal": proposal}


def _caps(principal, workspace) -> list[str]:
    return access.check(principal.pk, workspace.pk).names


def _settings_url(slug="roadmap") -> str:
    return reverse("workspace-settings", args=[slug])


def _form(workspace, **changes) -> dict:
    data = {"name": workspace.name, "visibility": workspace.visibility, "description": workspace.description}
    if workspace.restricted:
        data["restricted"] = "on"
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


# The service ----------------------------------------------------------------------------


def test_restricting_takes_members_agents_access_and_cancels_what_they_can_no_longer_do(team):
    workspace, builder = team["workspace"], team["builder"]
    assert _caps(builder, workspace) == ["read", "write", "delete"]
    mark = audit_mark()

    result = services.workspace_update(actor=team["alice"], workspace=workspace, restricted=True)

    assert result.changed == {"restricted": {"from": False, "to": True}} and result.proposals_cancelled == 1
    # Org visibility still lets Acme's agents read; nothing more without an elevation.
    assert _caps(builder, workspace) == ["read"] and _caps(team["scribe"], workspace) == ["read"]
    assert _caps(team["bob"], workspace) == ["read", "comment", "write", "delete"]  # humans keep their role
    proposal = Proposal.objects.get(pk=team["proposal"].pk)
    assert (proposal.status, proposal.cancelled_because) == (ProposalStatus.CANCELLED, "workspace restricted")
    assert actions_since(mark) == ["workspace.updated", "proposal.cancelled"]
    event = AuditEvent.objects.get(id__gt=mark, action="workspace.updated")
    assert (event.actor_id, event.workspace, event.details) == (
        team["alice"].public_id, "roadmap", {"restricted": {"from": False, "to": True}},
    )


def test_restricting_keeps_the_proposals_of_elevated_agents(team):
    # An elevation left from before lifting removed them: the agent keeps its role's access
    # (and what it asked for) when the workspace is restricted again.
    workspace = team["workspace"]
    Elevation.objects.create(workspace=workspace, agent=team["builder"], granted_by=team["alice"])

    result = services.workspace_update(actor=team["alice"], workspace=workspace, restricted=True)

    assert result.proposals_cancelled == 0
    assert Proposal.objects.get(pk=team["proposal"].pk).status == ProposalStatus.PENDING
    assert _caps(team["builder"], workspace) == ["read", "write", "delete"]


def test_lifting_the_restriction_removes_the_elevations_it_made_needless(team):
    workspace = team["workspace"]
    services.workspace_update(actor=team["alice"], workspace=workspace, restricted=True)
    services.elevation_grant(actor=team["alice"], workspace=workspace, agent=team["scribe"])
    mark = audit_mark()

    result = services.workspace_update(actor=team["alice"], workspace=workspace, restricted=False)

    assert result.elevations_removed == 1 and not Elevation.objects.exists()
    assert actions_since(mark) == ["workspace.updated", "agent.elevation_removed"]
    removal = AuditEvent.objects.get(id__gt=mark, action="agent.elevation_removed")
    assert (removal.target_id, removal.details) == (team["scribe"].public_id, {"reason": "workspace no longer restricted"})
    assert _caps(team["scribe"], workspace) == ["read", "comment", "write"]  # by Alice's role again
    # Restricting again starts with nobody elevated: the old elevation does not come back.
    services.workspace_update(actor=team["alice"], workspace=workspace, restricted=True)
    assert _caps(team["scribe"], workspace) == ["read"]


def test_members_only_stops_the_orgs_other_people_and_their_agents_reading(team, make):
    workspace, dana = team["workspace"], team["dana"]
    courier, _ = make.agent(dana, "Courier", scope="read,comment")
    assert _caps(dana, workspace) == ["read"] and _caps(courier, workspace) == ["read"]

    services.workspace_update(actor=team["alice"], workspace=workspace, visibility="members")

    assert _caps(dana, workspace) == [] and _caps(courier, workspace) == []
    assert _caps(team["scribe"], workspace) == ["read", "comment", "write"]  # a member's agent: by role


def test_renaming_and_describing_are_recorded_and_no_change_records_nothing(team):
    workspace = team["workspace"]
    mark = audit_mark()
    result = services.workspace_update(
        actor=team["alice"], workspace=workspace, name="  Roadmap 2027 ", description="What we ship\nnext year.",
    )
    assert result.changed == {
        "name": {"from": "Roadmap", "to": "Roadmap 2027"},
        "description": {"from": "", "to": "What we ship next year."},
    }
    again = services.workspace_update(actor=team["alice"], workspace=workspace, name="Roadmap 2027", visibility="org")
    assert again.changed == {}
    assert actions_since(mark) == ["workspace.updated"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"visibility": "public"}, "visibility"),
        ({"name": "   "}, "name"),
        ({"description": "x" * 501}, "description"),
        ({"restricted": "yes"}, "restricted"),
    ],
)
def test_bad_settings_are_refused_and_change_nothing(team, changes, field):
    mark = audit_mark()
    with pytest.raises(InvalidInput) as refused:
        services.workspace_update(actor=team["alice"], workspace=team["workspace"], **{"restricted": True, **changes})
    assert field in refused.value.fields
    assert actions_since(mark) == []
    assert not Workspace.objects.get(pk=team["workspace"].pk).restricted


def test_an_unknown_setting_is_refused(team):
    with pytest.raises(InvalidInput, match="slug"):
        services.workspace_update(actor=team["alice"], workspace=team["workspace"], slug="elsewhere")


# The page ---------------------------------------------------------------------------------


def test_only_those_who_manage_the_workspace_see_and_use_settings(team, login):
    bob = login(team["bob"])  # an editor
    assert "Settings" not in bob.get(reverse("workspace", args=["roadmap"])).content.decode()
    assert bob.get(_settings_url()).status_code == 403
    assert bob.post(_settings_url(), _form(team["workspace"], restricted="on")).status_code == 403
    assert not Workspace.objects.get(pk=team["workspace"].pk).restricted
    assert login(team["dana"]).get(_settings_url()).status_code == 403  # reads it by org visibility
    alice = login(team["alice"])
    assert f'href="{_settings_url()}"' in alice.get(reverse("workspace", args=["roadmap"])).content.decode()
    assert alice.get(_settings_url()).status_code == 200


def test_the_page_says_who_loses_access_before_saving(team, login):
    alice = login(team["alice"])
    response = alice.get(_settings_url())
    assert [(i.agent, i.now, i.after) for i in response.context["restriction_impact"]] == [
        (team["scribe"], ["read", "comment", "write"], ["read"]),  # Alice's, then Bob's
        (team["builder"], ["read", "write", "delete"], ["read"]),
    ]
    html = response.content.decode()
    assert "keeps only read (org visibility)" in html
    # Dana is in Acme and not a member: members only would take her reading away.
    assert response.context["org_readers"] == 1
    assert "the 1 person of Acme who is not a member stops reading here at once, and so do their agents." in html
    assert response.context["visibility_impact"] == []  # members' agents read by their owner's role


def test_saving_restricts_at_once_and_says_what_went_with_it(team, login):
    alice = login(team["alice"])
    mark = audit_mark()
    response = alice.post(_settings_url(), _form(team["workspace"], restricted="on"), follow=True)
    assert response.redirect_chain == [(_settings_url(), 302)]
    html = response.content.decode()
    assert "1 pending proposal cancelled: the agent that asked can no longer delete here." in html
    assert Workspace.objects.get(pk=team["workspace"].pk).restricted
    assert _caps(team["builder"], team["workspace"]) == ["read"]
    assert actions_since(mark) == ["workspace.updated", "proposal.cancelled"]


def test_a_bad_setting_is_a_form_error_and_nothing_changes(team, login):
    alice = login(team["alice"])
    mark = audit_mark()
    response = alice.post(_settings_url(), _form(team["workspace"], name="", restricted="on"))
    assert response.status_code == 400 and response.context["form"].has_error("name")
    response = alice.post(_settings_url(), _form(team["workspace"], visibility="everyone"))
    assert response.status_code == 400 and response.context["form"].has_error("visibility")
    assert actions_since(mark) == [] and not Workspace.objects.get(pk=team["workspace"].pk).restricted


# The operator's command ---------------------------------------------------------------------


def test_cli_updates_settings_as_the_system(team):
    services.workspace_update(actor=SYSTEM, workspace=team["workspace"], restricted=True)
    services.elevation_grant(actor=SYSTEM, workspace=team["workspace"], agent=team["scribe"])
    mark = audit_mark()
    answer = dock("workspace", "update", "Roadmap", "--unrestricted", "--visibility", "members", "--name", "Plans")
    assert answer["workspace"]["slug"] == "roadmap"
    assert answer["agents_affected"] == []  # Scribe was elevated; Builder works by Bob's role, unrestricted
    assert answer["changed"] == {
        "name": {"from": "Roadmap", "to": "Plans"},
        "visibility": {"from": "org", "to": "members"},
        "restricted": {"from": True, "to": False},
    }
    assert (answer["elevations_removed"], answer["proposals_cancelled"]) == (1, 0)
    assert actions_since(mark) == ["workspace.updated", "agent.elevation_removed"]
    assert AuditEvent.objects.get(id__gt=mark, action="workspace.updated").actor_kind == "system"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["roadmap"], "nothing to change"),
        (["roadmap", "--restricted", "--unrestricted"], "not allowed with argument"),
        (["nowhere", "--name", "X"], "no workspace with the slug 'nowhere'"),
        (["roadmap", "--visibility", "public"], "invalid choice: 'public'"),
        (["roadmap", "--name", " "], "name"),
    ],
)
def test_cli_refuses_bad_input_in_one_line(team, capsys, monkeypatch, args, message):
    mark = audit_mark()
    assert message in fails("workspace", "update", *args, capsys=capsys, monkeypatch=monkeypatch)
    assert actions_since(mark) == []


def test_members_only_in_a_restricted_workspace_lists_the_agents_that_read_through_org_visibility(team, login):
    """Restricted, Scribe and Builder are not elevated: they read only because the
    workspace is open to Acme. The page says members only takes that too."""
    workspace = team["workspace"]
    services.workspace_update(actor=team["alice"], workspace=workspace, restricted=True)
    alice = login(team["alice"])
    response = alice.get(_settings_url())
    assert [(i.agent, i.now, i.after) for i in response.context["visibility_impact"]] == [
        (team["scribe"], ["read"], []), (team["builder"], ["read"], []),
    ]
    html = response.content.decode()
    assert "These members' agents, which read here through org visibility, lose it too:" in html
    assert alice.post(_settings_url(), _form(Workspace.objects.get(pk=workspace.pk), visibility="members")).status_code == 302
    assert _caps(team["scribe"], workspace) == [] and _caps(team["builder"], workspace) == []


def test_restricting_a_workspace_where_no_agent_would_lose_anything_says_so(make, login):
    acme = make.org("acme", "Acme")
    alice = make.human(acme, "Alice Adams")
    make.workspace(acme, "notes", name="Notes")
    make.member(Workspace.objects.get(slug="notes"), alice, "admin")
    make.agent(alice, "Quiet")  # read, by Alice's role; restricted, org visibility gives none (members only)
    make.member(Workspace.objects.get(slug="notes"), make.human(acme, "Vic Viewer"), "viewer")
    html = login(alice).get(_settings_url("notes")).content.decode()
    assert "Restricting: 1 agent loses access here at once" in html
    Workspace.objects.filter(slug="notes").update(visibility="org")
    html = login(alice).get(_settings_url("notes")).content.decode()
    assert "Restricting: no member's agent would lose access here." in html  # Quiet keeps read (org visibility)


def test_the_restriction_note_counts_a_paused_agents_loss_as_from_its_resuming(team, login):
    """"2 agents lose access here at once" while one of them, paused, had none now."""
    from identity.services.agents import agent_pause

    agent_pause(actor=team["bob"], agent=team["builder"])
    html = login(team["alice"]).get(_settings_url("roadmap")).content.decode()
    assert "Restricting: 2 agents lose access here (1 of them only once active again: paused or suspended now), until" in html
    agent_pause(actor=team["alice"], agent=team["scribe"])
    html = login(team["alice"]).get(_settings_url("roadmap")).content.decode()
    assert "Restricting: 2 agents lose access here (only once active again: paused or suspended now), until" in html


def test_a_guest_admin_is_not_told_the_host_orgs_headcount(team, make, login):
    globex = make.org("globex", "Globex")
    gina = make.human(globex, "Gina Guest")
    make.member(team["workspace"], gina, "admin")
    response = login(gina).get(_settings_url())
    assert response.context["org_readers"] is None
    assert "the people of Acme who are not members stop reading here at once" in response.content.decode()


def test_restricting_keeps_a_proposal_that_could_not_run_before_it(team):
    """Builder's scope no longer holds delete: its proposal could not run before the
    restriction either, and is left as it was (approving it refuses)."""
    from identity import capabilities
    from identity.services.agents import agent_set_scope

    agent_set_scope(actor=team["bob"], agent=team["builder"], scope=capabilities.parse("read,write"))
    result = services.workspace_update(actor=team["alice"], workspace=team["workspace"], restricted=True)
    assert result.proposals_cancelled == 0
    assert Proposal.objects.get(pk=team["proposal"].pk).status == ProposalStatus.PENDING


def test_restricting_cancels_a_paused_agents_proposal_it_takes_the_ground_from(team):
    from identity.services.agents import agent_pause

    agent_pause(actor=team["bob"], agent=team["builder"])
    result = services.workspace_update(actor=team["alice"], workspace=team["workspace"], restricted=True)
    assert result.proposals_cancelled == 1


def test_an_empty_post_is_a_form_error(team, login):
    response = login(team["alice"]).post(_settings_url())
    assert response.status_code == 400 and response.context["form"].has_error("name")


def test_no_description_is_an_empty_one(team):
    result = services.workspace_update(actor=SYSTEM, workspace=team["workspace"], description=None, name="Roadmap")
    assert result.changed == {} and Workspace.objects.get(pk=team["workspace"].pk).description == ""


def test_each_setting_is_read_out_with_what_changing_it_takes(team, login):
    alice = login(team["alice"])
    html = alice.get(_settings_url()).content.decode()
    assert 'aria-describedby="id_restricted_helptext restriction-impact-summary"' in html
    assert 'aria-describedby="id_visibility_helptext visibility-impact"' in html
    html = alice.post(_settings_url(), _form(team["workspace"], name="")).content.decode()
    assert 'aria-describedby="id_name_error"' in html  # Django's own, kept on the fields this page does not touch


def test_cli_lists_the_agents_a_change_takes_access_from(team):
    answer = dock("workspace", "update", "roadmap", "--restricted", "--visibility", "members")
    assert answer["agents_affected"] == [team["scribe"].handle, team["builder"].handle]
    assert _caps(team["scribe"], team["workspace"]) == [] and _caps(team["builder"], team["workspace"]) == []
