from django.contrib import admin
from django.urls import include, path

from identity.avatar_views import avatar

from . import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("a/<str:public_id>.png", avatar, name="avatar"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("identity.api.urls")),
    path("audit/", include("audit.urls")),
    path("", include("dock.workspaces.urls")),
    path("", include("identity.urls")),
]
