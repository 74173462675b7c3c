"""Tells that a service account should be an agent: it works where a single person also
works, or its key is rotated by one person. Computed from memberships and audit events
in a fixed number of queries."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from audit import context as audit_context
from audit.refs import SYSTEM
from dock.workspaces import services as ws_services
from dock.workspaces.models import Membership
from identity import selectors_services
from identity.api.testing import ApiClient
from identity.services import keys as key_services
from identity.services.users import user_deactivate

from . import services_support as support
from .services_support import url
from .views_support import HTMX, logged_in

pytestmark = pytest.mark.django_db
acme = support.acme
fresh_cache = support.fresh_cache


def tells(service, **kw) -> dict[str, str]:
    found = selectors_services.tells_for([service], **kw).get(service.pk, [])
    return {t.code: t.human.handle for t in found}


def rotate(actor, service):
    with audit_context.bound():  # one request each, as through the dashboard
        key_services.key_rotate(actor=actor, key=key_services.current_key(service))


# Members -------------------------------------------------------------------------------------


def test_granted_only_where_one_person_is_a_member(acme, make):
    service, _ = make.service(acme.org, "Ops Bot")
    make.member(acme.ops, service, "editor")  # Ada is alone in Ops
    assert tells(service) == {"members": acme.admin.handle}
    make.member(acme.ops, acme.bob, "viewer")
    assert tells(service) == {}


def test_several_workspaces_must_share_their_one_person(acme, make):
    solo = make.workspace(acme.org, "solo", name="Solo")
    make.member(solo, acme.bob, "admin")
    service, _ = make.service(acme.org, "Two Places")
    make.member(acme.ops, service, "viewer")
    make.member(solo, service, "viewer")
    assert tells(service) == {}  # Ada in one, Bob in the other: nobody's alone
    make.member(solo, acme.admin, "viewer")
    make.member(acme.ops, acme.bob, "viewer")
    assert tells(service) == {}
    ws_services.membership_remove(actor=SYSTEM, membership=Membership.objects.get(workspace=solo, principal=acme.bob),
                                  allow_last_admin=True)
    ws_services.membership_remove(actor=SYSTEM, membership=Membership.objects.get(workspace=acme.ops, principal=acme.bob))
    assert tells(service) == {"members": acme.admin.handle}


def test_deactivated_people_do_not_count(acme, make):
    service, _ = make.service(acme.org, "Ops Bot")
    make.member(acme.ops, service, "editor")
    make.member(acme.ops, acme.bob, "viewer")
    user_deactivate(actor=SYSTEM, user=acme.bob.user)
    assert tells(service) == {"members": acme.admin.handle}


def test_a_shared_workspace_is_no_tell(acme):
    assert tells(acme.service) == {}  # Roadmap: Ada, Alice and Bob


# Activity ------------------------------------------------------------------------------------


def test_working_where_one_person_and_their_agents_work(acme, make):
    # Alice wrote "Plan" in Roadmap (fixture); her agent writes there too.
    scout, scout_key = make.agent(acme.alice, "Scout", scope="read,write")
    assert ApiClient(scout_key).post("/api/v1/workspaces/roadmap/documents", {"title": "Scouted", "body": ""}).status_code == 201
    assert tells(acme.service) == {}  # it has not worked yet
    assert ApiClient(acme.key).post("/api/v1/workspaces/roadmap/documents", {"title": "Digest", "body": ""}).status_code == 201
    assert tells(acme.service) == {"activity": acme.alice.handle}
    make.document(acme.roadmap, acme.bob, title="Bob was here")
    assert tells(acme.service) == {}


def test_only_recent_work_counts(acme):
    ApiClient(acme.key).post("/api/v1/workspaces/roadmap/documents", {"title": "Digest", "body": ""})
    assert tells(acme.service) == {"activity": acme.alice.handle}
    later = timezone.now() + selectors_services.ACTIVITY_WINDOW + timedelta(days=1)
    assert tells(acme.service, now=later) == {}


def test_administering_a_workspace_is_not_working_in_it(acme, make):
    ApiClient(acme.key).post("/api/v1/workspaces/roadmap/documents", {"title": "Digest", "body": ""})
    ws_services.membership_set_role(actor=acme.admin, membership=Membership.objects.get(workspace=acme.roadmap, principal=acme.bob),
                                    role="editor")
    assert tells(acme.service) == {"activity": acme.alice.handle}


# Rotations -----------------------------------------------------------------------------------


def test_key_rotated_by_one_person(acme):
    assert tells(acme.service) == {}  # created by the system: nobody rotated it
    rotate(acme.admin, acme.service)
    rotate(acme.admin, acme.service)
    assert tells(acme.service) == {"rotations": acme.admin.handle}
    found = selectors_services.tells_for([acme.service])[acme.service.pk]
    assert found[0].text == "Its key was rotated or issued 2 times, each time by Ada Admin."
    rotate(acme.owner, acme.service)
    assert tells(acme.service) == {}


def test_the_system_rotating_does_not_make_it_someones(acme):
    rotate(SYSTEM, acme.service)
    assert tells(acme.service) == {}
    rotate(acme.admin, acme.service)
    assert tells(acme.service) == {"rotations": acme.admin.handle}


def test_an_org_wide_incident_rotation_is_not_a_tell(acme, make):
    other, _ = make.service(acme.org, "Other")
    with audit_context.bound(request_id="incident-1"):
        key_services.org_keys_rotate(actor=acme.admin, org=acme.org)
    assert tells(acme.service) == {} and tells(other) == {}


def test_rotating_through_the_dashboard_counts(acme):
    client = logged_in(acme.admin)
    client.post(url("service-rotate", acme.service), headers=HTMX)
    assert tells(acme.service) == {"rotations": acme.admin.handle}


# Pages ---------------------------------------------------------------------------------------


def test_tells_page_lists_each_account_with_its_reasons_and_likely_owner(acme, make):
    ops_bot, _ = make.service(acme.org, "Ops Bot")
    make.member(acme.ops, ops_bot, "editor")
    rotate(acme.admin, ops_bot)
    quiet, _ = make.service(acme.org, "Quiet One")
    html = logged_in(acme.admin).get(reverse("service-tells")).content.decode()
    assert 'data-service="ops-bot"' in html and 'data-service="quiet-one"' not in html
    assert 'data-tell="members"' in html and 'data-tell="rotations"' in html
    assert f"{url('service-adopt', ops_bot)}?owner={acme.admin.public_id}" in html
    listing = logged_in(acme.admin).get(reverse("services")).content.decode()
    assert "Looks like an agent" in listing and "1 service account on this page looks" not in listing
    assert "One service account on this page looks like a person" in listing


def test_adopt_link_from_a_tell_opens_the_preview_for_that_owner(acme, make):
    ops_bot, _ = make.service(acme.org, "Ops Bot")
    make.member(acme.ops, ops_bot, "editor")
    response = logged_in(acme.admin).get(f"{url('service-adopt', ops_bot)}?owner={acme.admin.public_id}")
    assert response.status_code == 200 and b"Adopt as Ada Admin's agent" in response.content


def test_no_tells_says_so(acme):
    assert b"No tells" in logged_in(acme.admin).get(reverse("service-tells")).content


def test_tells_take_the_same_queries_for_two_accounts_or_twelve(acme, make):
    def more(n):
        for _ in range(n):
            service, key = make.service(acme.org, f"Bot {make.n}")
            make.member(acme.ops, service, "editor")
            make.member(acme.roadmap, service, "viewer")
            rotate(acme.admin, service)

    more(2)
    client = logged_in(acme.admin)
    client.get(reverse("service-tells"))
    with CaptureQueriesContext(connection) as few:
        assert client.get(reverse("service-tells")).status_code == 200
    more(10)
    with CaptureQueriesContext(connection) as many:
        client.get(reverse("service-tells"))
    assert len(many) == len(few) <= 12
