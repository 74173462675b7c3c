from django.contrib import admin
from django.urls import include, path, register_converter

from identity.avatar_views import avatar

from . import views
from .converters import Segment

# Before the includes below: every urls module names its free-text segments <seg:…>.
register_converter(Segment, "seg")

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("a/<seg:public_id>.png", avatar, name="avatar"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("identity.api.urls")),
    path("audit/", include("audit.urls")),
    path("", include("dock.workspaces.urls")),
    path("", include("identity.urls")),
]
