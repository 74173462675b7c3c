"""Peer-side models, each set up the way its library documents for speed.

- guardian: "direct foreign key" object-permission models for Workspace (guardian's own
  advice for large tables: an integer foreign key instead of a generic content type +
  text object_pk). One row per (user, permission, workspace).
- DRF: a proxy of its Token model whose default queryset also joins the user's
  principal, its org and its owner (the same facts Dock's one authentication query
  fetches). Dock's User keeps `is_active` on its principal, so without the join DRF would
  pay an extra query per request that it would not pay with Django's stock user model.
- knox: its documented custom token model (`KNOX_TOKEN_MODEL`, a subclass of its
  AbstractAuthToken: the same table as knox.AuthToken), with the same join.
The token models only make the peers faster; their authentication code runs unchanged.
"""

from django.db import models
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase
from knox.models import AbstractAuthToken, AuthTokenManager
from rest_framework.authtoken.models import Token

from dock.workspaces.models import Workspace


class WorkspaceUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(Workspace, on_delete=models.CASCADE)

    class Meta(UserObjectPermissionBase.Meta):
        pass


class WorkspaceGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Workspace, on_delete=models.CASCADE)

    class Meta(GroupObjectPermissionBase.Meta):
        pass


_JOIN = ("user__principal__org", "user__principal__owner")


class _TokenManager(models.Manager):
    def get_queryset(self):
        return super().get_queryset().select_related(*_JOIN)


class DrfToken(Token):
    objects = _TokenManager()

    class Meta:
        proxy = True


class _KnoxTokenManager(AuthTokenManager):
    def get_queryset(self):
        return super().get_queryset().select_related(*_JOIN)


class KnoxToken(AbstractAuthToken):
    objects = _KnoxTokenManager()
