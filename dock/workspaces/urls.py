from django.urls import path

from . import views

# Fixed segments come before <slug>/<handle> ones so no name can shadow them.
urlpatterns = [
    path("w/new/", views.workspace_new, name="workspace-new"),
    path("w/<slug:slug>/", views.workspace, name="workspace"),
    path("w/<slug:slug>/d/<seg:doc_id>/", views.document, name="document"),
    path("w/<slug:slug>/d/<seg:doc_id>/edit/", views.document_edit, name="document-edit"),
    path("w/<slug:slug>/d/<seg:doc_id>/delete/", views.document_delete, name="document-delete"),
    path("w/<slug:slug>/d/<seg:doc_id>/comments/", views.document_comment, name="document-comment"),
    path("w/<slug:slug>/settings/", views.workspace_settings, name="workspace-settings"),
    path("w/<slug:slug>/members/", views.members, name="workspace-members"),
    path("w/<slug:slug>/members/<seg:handle>/", views.member, name="workspace-member"),
    path("w/<slug:slug>/members/<seg:handle>/role/", views.member_role, name="workspace-member-role"),
    path("w/<slug:slug>/members/<seg:handle>/remove/", views.member_remove, name="workspace-member-remove"),
    path("w/<slug:slug>/invitations/", views.invitation_create, name="workspace-invite"),
    path("w/<slug:slug>/invitations/<seg:public_id>/revoke/", views.invitation_revoke, name="invitation-revoke"),
    path("w/<slug:slug>/elevations/<seg:handle>/", views.elevation_grant, name="elevation-grant"),
    path("w/<slug:slug>/elevations/<seg:handle>/remove/", views.elevation_remove, name="elevation-remove"),
    path("invites/<seg:token>/", views.invite_accept, name="invite-accept"),
]
