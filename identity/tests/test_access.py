"""SPEC "Access": every rule and every listed consequence, each as a named test."""

import pytest
from django.db import transaction

from audit.models import AuditEvent
from audit.refs import SYSTEM
from conftest import actions_since, audit_mark, refresh
from dock.workspaces import services as ws
from dock.workspaces.models import Document, Elevation, Membership, Proposal
from identity import access, consent
from identity import capabilities as caps
from identity.errors import InvalidTransition
from identity.models import ApiKey, Principal, Status
from identity.services import agents, users

ALL = caps.READ | caps.COMMENT | caps.WRITE | caps.DELETE


@pytest.fixture
def world(make):
    org = make.org("acme")
    alice = make.human(org, "Alice Adams")
    roadmap = make.workspace(org, "roadmap")
    make.member(roadmap, alice, "editor")
    bot, key = make.agent(alice, "Research Bot", scope="read,comment,write")
    return org, alice, roadmap, bot, key


def caps_of(principal, workspace):
    return access.check(principal.pk, workspace.pk).caps


# Rule 1 ---------------------------------------------------------------------------------


@pytest.mark.parametrize("transition", ["pause", "revoke"])
def test_rule1_inactive_agent_can_do_nothing(world, transition):
    _, alice, roadmap, bot, _ = world
    getattr(agents, f"agent_{transition}")(actor=alice, agent=bot)
    decision = access.check(bot.pk, roadmap.pk)
    assert decision.caps == 0 and decision.rule == access.INACTIVE


def test_rule1_suspended_agent_can_do_nothing(world):
    _, alice, roadmap, bot, _ = world
    users.user_deactivate(actor=SYSTEM, user=alice.user)
    assert refresh(bot).status == Status.SUSPENDED
    assert access.check(bot.pk, roadmap.pk).rule == access.INACTIVE


# Rule 2 ---------------------------------------------------------------------------------


def test_rule2_agent_gets_owner_role_capped_by_scope(world):
    _, _, roadmap, bot, _ = world
    decision = access.check(bot.pk, roadmap.pk)
    assert decision.rule == access.OWNER_MEMBERSHIP
    assert decision.caps == caps.READ | caps.COMMENT | caps.WRITE  # editor ∩ scope: no delete


def test_rule2_scope_never_exceeds_owner_role(make, world):
    org, alice, _, _, _ = world
    viewer_space = make.workspace(org)
    make.member(viewer_space, alice, "viewer")
    strong, _ = make.agent(alice, scope="read,comment,write,delete")
    assert caps_of(strong, viewer_space) == caps.READ


def test_rule2_agents_never_manage_even_when_owner_is_admin(make, world):
    org, alice, _, _, _ = world
    space = make.workspace(org)
    make.member(space, alice, "admin")
    strong, _ = make.agent(alice, scope="read,comment,write,delete")
    assert caps_of(alice, space) & caps.MANAGE
    assert caps_of(strong, space) == ALL


def test_rule2_restricted_workspace_needs_elevation(make, world):
    org, alice, _, bot, _ = world
    secret = make.workspace(org, restricted=True)
    make.member(secret, alice, "editor")
    assert caps_of(bot, secret) == 0
    assert access.check(bot.pk, secret.pk).rule == access.DENY
    ws.elevation_grant(actor=alice, workspace=secret, agent=bot)
    decision = access.check(bot.pk, secret.pk)
    assert decision.rule == access.ELEVATION
    assert decision.caps == caps.READ | caps.COMMENT | caps.WRITE


def test_rule2_elevation_without_owner_membership_gives_nothing(make, world):
    org, alice, _, bot, _ = world
    secret = make.workspace(org, restricted=True)
    with pytest.raises(InvalidTransition, match="not a member"):  # nothing would remove it when they leave
        ws.elevation_grant(actor=SYSTEM, workspace=secret, agent=bot)
    Elevation.objects.create(workspace=secret, agent=bot)  # and one that lingered gives nothing
    assert caps_of(bot, secret) == 0


# Rule 3 ---------------------------------------------------------------------------------


def test_rule3_org_visible_workspace_gives_read_within_scope(make, world):
    org, alice, _, bot, _ = world
    handbook = make.workspace(org, visibility="org")
    decision = access.check(bot.pk, handbook.pk)
    assert decision.rule == access.ORG_VISIBILITY and decision.caps == caps.READ


def test_rule3_needs_read_in_scope(make, world):
    org, alice, _, _, _ = world
    handbook = make.workspace(org, visibility="org")
    commenter, _ = make.agent(alice, scope="comment")
    assert caps_of(commenter, handbook) == 0


def test_rule3_restricted_org_visible_without_elevation_is_read_only(make, world):
    org, alice, _, bot, _ = world
    space = make.workspace(org, visibility="org", restricted=True)
    make.member(space, alice, "editor")
    decision = access.check(bot.pk, space.pk)
    assert decision.rule == access.ORG_VISIBILITY and decision.caps == caps.READ


def test_rule3_other_orgs_org_visible_workspace_is_invisible(make, world):
    _, _, _, bot, _ = world
    other = make.org()
    their = make.workspace(other, visibility="org")
    assert caps_of(bot, their) == 0


# Rule 4 ---------------------------------------------------------------------------------


def test_rule4_default_deny_and_404(make, world):
    org, _, _, bot, _ = world
    private = make.workspace(org)
    assert access.check(bot.pk, private.pk).rule == access.DENY
    with pytest.raises(access.NotVisible):
        access.require(bot, private, caps.READ)
    assert private not in access.visible_workspaces(refresh(bot))


def test_visible_but_lacking_capability_is_403_not_404(world):
    _, _, roadmap, bot, _ = world
    from identity.errors import Forbidden

    with pytest.raises(Forbidden):
        access.require(bot, roadmap, caps.DELETE)


# Humans and service accounts --------------------------------------------------------------


def test_human_caps_come_from_membership_role(make, world):
    org, alice, roadmap, _, _ = world
    assert caps_of(alice, roadmap) == ALL
    bob = make.human(org)
    make.member(roadmap, bob, "viewer")
    assert caps_of(bob, roadmap) == caps.READ


def test_human_reads_org_visible_workspace_of_own_org_only(make, world):
    org, alice, _, _, _ = world
    handbook = make.workspace(org, visibility="org")
    assert caps_of(alice, handbook) == caps.READ
    outsider = make.human(make.org())
    assert caps_of(outsider, handbook) == 0


def test_deactivated_human_has_nothing(world):
    _, alice, roadmap, _, _ = world
    users.user_deactivate(actor=SYSTEM, user=alice.user)
    assert caps_of(alice, roadmap) == 0


def test_service_account_has_only_explicit_grants(make, world):
    org, _, roadmap, _, _ = world
    svc, _ = make.service(org)
    handbook = make.workspace(org, visibility="org")
    assert caps_of(svc, roadmap) == 0
    assert caps_of(svc, handbook) == 0  # org visibility is not a grant
    make.member(roadmap, svc, "editor")
    decision = access.check(svc.pk, roadmap.pk)
    assert decision.rule == access.GRANT and decision.caps == ALL


def test_agents_are_never_members(world):
    _, _, roadmap, bot, _ = world
    from identity.errors import InvalidInput

    with pytest.raises(InvalidInput):
        ws.membership_add(actor=SYSTEM, workspace=roadmap, principal=bot, role="editor")


# Consequences -------------------------------------------------------------------------------


def test_invited_human_brings_agents_without_per_agent_step(make, world):
    _, alice, roadmap, _, _ = world
    globex = make.org("globex")
    farah = make.human(globex, "Farah Haddad", email="farah@globex.test")
    atlas, _ = make.agent(farah, "Atlas", scope="read,write")
    assert caps_of(atlas, roadmap) == 0
    # Invitations are sent by the workspace's admins (and stand on their right to invite).
    Membership.objects.filter(workspace=roadmap, principal=alice).update(role="admin")
    _, token = ws.invitation_create(actor=alice, workspace=roadmap, email="farah@globex.test", role="editor")
    ws.invitation_accept(actor=farah, token=token)
    assert caps_of(atlas, roadmap) == caps.READ | caps.WRITE


def test_removed_owner_takes_agents_out_in_same_transaction(make, world):
    _, alice, roadmap, bot, _ = world
    membership = Membership.objects.get(workspace=roadmap, principal=alice)
    with transaction.atomic():
        ws.membership_remove(actor=SYSTEM, membership=membership)
        # Inside the very transaction that removed the owner, the agent is already out.
        assert caps_of(bot, roadmap) == 0
    assert caps_of(bot, roadmap) == 0
    assert roadmap not in access.visible_workspaces(refresh(bot))


def _proposal_in_restricted_workspace(make, org, alice, role):
    """Alice (`role`) in a restricted workspace, where her elevated agent `deleter` asked
    to delete a document: (workspace, deleter, document, proposal)."""
    secret = make.workspace(org, restricted=True)
    make.member(secret, alice, role)
    deleter, _ = make.agent(alice, scope="read,delete")
    ws.elevation_grant(actor=SYSTEM, workspace=secret, agent=deleter)
    doc = make.document(secret, alice)
    return secret, deleter, doc, consent.document_delete_request(actor=deleter, document=doc)


def test_removed_owner_cascade_clears_elevations_and_proposals(make, world):
    org, alice, _, _, _ = world
    secret, deleter, _, proposal = _proposal_in_restricted_workspace(make, org, alice, "editor")
    mark = audit_mark()
    ws.membership_remove(actor=SYSTEM, membership=Membership.objects.get(workspace=secret, principal=alice), allow_last_admin=True)
    assert not Elevation.objects.filter(agent=deleter).exists()
    assert Proposal.objects.get(pk=proposal.pk).status == "cancelled"
    assert actions_since(mark) == ["agent.elevation_removed", "proposal.cancelled", "workspace.member.removed"]


def test_deleting_a_document_cancels_the_other_requests_to_delete_it(make, world):
    """They stayed pending until they expired, and approving one refused: the document
    was gone. Deleting it, by a human or by an approved proposal, cancels the rest."""
    org, alice, _, _, _ = world
    secret, deleter, doc, asked = _proposal_in_restricted_workspace(make, org, alice, "admin")
    bob = make.human(org, "Bob Brown")
    make.member(secret, bob, "admin")
    sweeper, _ = make.agent(bob, scope="read,delete")
    ws.elevation_grant(actor=SYSTEM, workspace=secret, agent=sweeper)
    also = consent.document_delete_request(actor=sweeper, document=doc)
    mark = audit_mark()
    consent.proposal_approve(actor=bob, proposal=asked)
    assert Proposal.objects.get(pk=asked.pk).status == "approved"
    assert Proposal.objects.get(pk=also.pk).status == "cancelled"
    assert actions_since(mark) == ["proposal.approved", "document.deleted", "proposal.cancelled"]

    other = make.document(secret, alice)
    pending = consent.document_delete_request(actor=deleter, document=other)
    mark = audit_mark()
    consent.document_delete_request(actor=bob, document=other)  # a human deletes at once
    assert Proposal.objects.get(pk=pending.pk).status == "cancelled"
    assert actions_since(mark) == ["document.deleted", "proposal.cancelled"]


def _narrow(how, alice, deleter, secret):
    if how == "paused":
        agents.agent_pause(actor=alice, agent=deleter)
    elif how == "scope cut to read":
        agents.agent_set_scope(actor=alice, agent=deleter, scope=caps.READ)
    else:  # out of the restricted workspace it was elevated into
        ws.elevations_remove(actor=SYSTEM, workspace=secret, agents=[deleter], reason="test")


@pytest.mark.parametrize("how", ["paused", "scope cut to read", "elevation removed"])
def test_approval_runs_only_while_the_proposer_may_still_delete(make, world, how):
    """Approval deletes as the proposing agent: an agent that can no longer delete there
    cannot have it done for it. The proposal waits (or expires); nothing is deleted."""
    org, alice, _, _, _ = world
    secret, deleter, doc, proposal = _proposal_in_restricted_workspace(make, org, alice, "admin")
    _narrow(how, alice, refresh(deleter), secret)
    mark = audit_mark()
    refusal = "is paused, so this proposal cannot run now: resume it first" if how == "paused" else "can no longer delete"
    with pytest.raises(InvalidTransition, match=refusal):
        consent.proposal_approve(actor=alice, proposal=proposal)
    assert Proposal.objects.get(pk=proposal.pk).status == "pending"
    assert Document.objects.filter(pk=doc.pk).exists()
    assert actions_since(mark) == []
    if how == "paused":  # resumed, it may again: the waiting proposal runs
        agents.agent_resume(actor=alice, agent=refresh(deleter))
        consent.proposal_approve(actor=alice, proposal=proposal)
        assert not Document.objects.filter(pk=doc.pk).exists()


def test_lowered_owner_role_narrows_agents_at_once(world):
    _, alice, roadmap, bot, _ = world
    membership = Membership.objects.get(workspace=roadmap, principal=alice)
    ws.membership_set_role(actor=SYSTEM, membership=membership, role="viewer", allow_last_admin=True)
    assert caps_of(bot, roadmap) == caps.READ


def test_deactivated_owner_suspends_agents_and_revokes_keys_in_one_transaction(make, world):
    _, alice, roadmap, bot, key = world
    second, _ = make.agent(alice)
    mark = audit_mark()
    users.user_deactivate(actor=SYSTEM, user=alice.user)
    for agent in (bot, second):
        assert refresh(agent).status == Status.SUSPENDED
        assert not ApiKey.objects.filter(principal=agent, revoked_at__isnull=True).exists()
    assert caps_of(bot, roadmap) == 0
    got = actions_since(mark)
    assert got[0] == "human.deactivated"
    assert got.count("agent.suspended") == 2 and got.count("agent.key.revoked") == 2


def test_no_agent_goes_to_a_human_deactivated_since_the_request_read_them(make, world):
    """A request that loaded the owner before a deactivation committed (a session's
    viewer, a form's choice) reads them again, locked, before handing them an agent: a
    new agent of a deactivated human would hold a working key."""
    from identity.errors import InvalidInput

    org, alice, _, bot, _ = world
    bob = make.human(org, "Bob Brown")
    stale_alice, stale_bob = Principal.objects.get(pk=alice.pk), Principal.objects.get(pk=bob.pk)
    users.user_deactivate(actor=SYSTEM, user=alice.user)
    users.user_deactivate(actor=SYSTEM, user=bob.user)
    mark = audit_mark()
    with pytest.raises(InvalidTransition, match="not active"):
        agents.agent_create(actor=stale_alice, owner=stale_alice, name="Late bot")
    assert not Principal.objects.filter(display_name="Late bot").exists()
    with pytest.raises(InvalidInput, match="active human"):
        agents.agent_transfer(actor=SYSTEM, agent=refresh(bot), new_owner=stale_bob)
    assert refresh(bot).owner_id == alice.pk
    assert actions_since(mark) == []


def test_suspended_agent_cannot_resume_only_restore_after_owner_returns(world):
    from identity.errors import InvalidTransition

    _, alice, roadmap, bot, _ = world
    users.user_deactivate(actor=SYSTEM, user=alice.user)
    with pytest.raises(InvalidTransition):
        agents.agent_resume(actor=alice, agent=bot)
    with pytest.raises(InvalidTransition):
        agents.agent_restore(actor=SYSTEM, agent=bot)
    users.user_reactivate(actor=SYSTEM, user=refresh(alice).user)
    agents.agent_restore(actor=SYSTEM, agent=bot)
    assert refresh(bot).status == Status.ACTIVE
    assert caps_of(bot, roadmap) == caps.READ | caps.COMMENT | caps.WRITE


def test_restore_returns_an_agent_its_owner_had_paused_to_paused(make, world):
    """Restoring set every suspended agent active: one its owner had paused (say, because
    it misbehaved) came back working on an admin's restore, which lifts only the suspension."""
    _, alice, roadmap, bot, _ = world
    running, _ = make.agent(alice, "Runner")
    agents.agent_pause(actor=alice, agent=bot)
    users.user_deactivate(actor=SYSTEM, user=alice.user)
    users.user_reactivate(actor=SYSTEM, user=refresh(alice).user)
    mark = audit_mark()
    agents.agent_restore(actor=SYSTEM, agent=bot)
    agents.agent_restore(actor=SYSTEM, agent=running)
    assert (refresh(bot).status, refresh(running).status) == (Status.PAUSED, Status.ACTIVE)
    assert caps_of(bot, roadmap) == 0
    restored = AuditEvent.objects.filter(id__gt=mark, action="agent.restored").order_by("id")
    assert [event.details for event in restored] == [{"to": "paused"}, {"to": "active"}]
    agents.agent_resume(actor=alice, agent=refresh(bot))
    assert caps_of(bot, roadmap) == caps.READ | caps.COMMENT | caps.WRITE


def test_deleted_owner_deletes_agents_and_audit_stays(world):
    _, alice, _, bot, _ = world
    bot_id = bot.public_id
    users.user_delete(actor=SYSTEM, user=alice.user)
    assert not Principal.objects.filter(public_id=bot_id).exists()
    assert AuditEvent.objects.filter(actor_id=bot_id).exists() or AuditEvent.objects.filter(target_id=bot_id).exists()
    assert AuditEvent.objects.filter(action="agent.deleted", target_id=bot_id).exists()
    assert AuditEvent.objects.filter(action="agent.created", target_id=bot_id).exists()


def test_transfer_recomputes_access_from_new_owner(make, world):
    org, alice, roadmap, bot, _ = world
    bruno = make.human(org, "Bruno Silva")
    other = make.workspace(org)
    make.member(other, bruno, "viewer")
    agents.agent_transfer(actor=SYSTEM, agent=bot, new_owner=bruno)
    assert caps_of(bot, roadmap) == 0
    assert caps_of(bot, other) == caps.READ


def test_visible_workspaces_agree_with_check(make, world):
    org, alice, roadmap, bot, _ = world
    spaces = [roadmap, make.workspace(org, visibility="org"), make.workspace(org, restricted=True),
              make.workspace(org), make.workspace(make.org(), visibility="org")]
    make.member(spaces[2], alice, "admin")
    for principal in (refresh(bot), refresh(alice)):
        listed = {w.pk: w.caps for w in access.visible_workspaces(principal)}
        for w in spaces:
            assert listed.get(w.pk, 0) == caps_of(principal, w)


def test_access_check_is_one_query(world, django_assert_num_queries):
    _, _, roadmap, bot, _ = world
    with django_assert_num_queries(1):
        access.check(bot.pk, roadmap.pk)


# The explainer -------------------------------------------------------------------------------


def test_explainer_gives_the_chain(world):
    _, _, roadmap, bot, _ = world
    explanation = access.explain(refresh(bot), roadmap)
    text = " ".join(explanation.steps)
    assert "Alice Adams" in text and "editor" in text and "scope" in text
    assert explanation.allowed == ["read", "comment", "write"]


def test_explainer_names_the_denying_rule(make, world):
    org, _, _, bot, _ = world
    private = make.workspace(org, name="Board minutes")
    explanation = access.explain(refresh(bot), private)
    assert explanation.decision.rule == access.DENY
    assert explanation.steps[-1] == "No rule grants access: denied by default, so Board minutes is hidden from Research Bot altogether."


def test_explainer_for_paused_agent_says_the_first_rule_in_words(world):
    _, alice, roadmap, bot, _ = world
    agents.agent_pause(actor=alice, agent=bot)
    explanation = access.explain(refresh(bot), roadmap)
    assert explanation.steps == ["Research Bot is paused, and only an active agent can do anything, anywhere."]


# Org admins ---------------------------------------------------------------------------------


def test_org_admin_is_an_active_owner_or_admin_of_that_org(make, world):
    org, alice, _, bot, _ = world
    admin = make.human(org, "Ada Admin", role="admin")
    owner = make.human(org, "Olu Owner", role="owner")
    auditor = make.human(org, "Dana Auditor", role="auditor")
    other = make.org("globex")
    assert access.is_org_admin(admin) and access.is_org_admin(admin, org.pk)
    assert access.is_org_admin(owner, org.pk)
    assert not access.is_org_admin(admin, other.pk)  # an admin of acme only
    assert not access.is_org_admin(alice) and not access.is_org_admin(auditor)
    assert not access.is_org_admin(bot)  # an agent has no org role
    users.user_deactivate(actor=SYSTEM, user=admin.user)
    assert not access.is_org_admin(refresh(admin), org.pk)
    # The same rule decides who manages an agent besides its owner.
    assert agents.may_manage_agent(owner, bot) and not agents.may_manage_agent(auditor, bot)
    assert not agents.may_manage_agent(refresh(admin), bot)
