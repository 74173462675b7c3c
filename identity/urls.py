from django.urls import path

from .views import agents, auth, home, people, profiles, proposals, service_accounts

urlpatterns = [
    path("signup/", auth.signup, name="signup"),
    path("login/", auth.login_view, name="login"),
    path("logout/", auth.logout_view, name="logout"),
    path("account/password/", auth.password_change, name="password-change"),
    path("", home.home, name="home"),
    path("people/", people.people, name="people"),
    path("p/<slug:handle>/", profiles.profile, name="profile"),
    path("agents/new/", agents.agent_new, name="agent-new"),
    path("agents/<slug:handle>/pause/", agents.agent_pause, name="agent-pause"),
    path("agents/<slug:handle>/resume/", agents.agent_resume, name="agent-resume"),
    path("agents/<slug:handle>/rotate/", agents.agent_rotate, name="agent-rotate"),
    path("agents/<slug:handle>/revoke/", agents.agent_revoke, name="agent-revoke"),
    path("agents/<slug:handle>/restore/", agents.agent_restore, name="agent-restore"),
    path("agents/<slug:handle>/transfer/", agents.agent_transfer, name="agent-transfer"),
    path("services/", service_accounts.services, name="services"),
    path("services/new/", service_accounts.service_new, name="service-new"),
    path("services/tells/", service_accounts.service_tells, name="service-tells"),
    path("services/rotate-all/", service_accounts.org_keys_rotate, name="org-keys-rotate"),
    path("services/<seg:public_id>/", service_accounts.service_admin, name="service-admin"),
    path("services/<seg:public_id>/rotate/", service_accounts.service_rotate, name="service-rotate"),
    path("services/<seg:public_id>/keys/<seg:prefix>/revoke/", service_accounts.service_key_revoke, name="service-key-revoke"),
    path("services/<seg:public_id>/revoke/", service_accounts.service_revoke, name="service-revoke"),
    path("services/<seg:public_id>/grants/", service_accounts.service_grant, name="service-grant"),
    path("services/<seg:public_id>/grants/<slug:slug>/remove/", service_accounts.service_grant_remove, name="service-grant-remove"),
    path("services/<seg:public_id>/adopt/", service_accounts.service_adopt, name="service-adopt"),
    path("proposals/", proposals.proposals, name="proposals"),
    path("proposals/<seg:public_id>/approve/", proposals.proposal_approve, name="proposal-approve"),
    path("proposals/<seg:public_id>/reject/", proposals.proposal_reject, name="proposal-reject"),
]
