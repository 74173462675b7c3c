from django.contrib import admin
from django.urls import include, path, register_converter

from identity.api.urls import no_such_endpoint
from identity.avatar_views import avatar

from . import views
from .converters import Segment

# Before the includes below: every urls module names its free-text segments <seg:…>.
register_converter(Segment, "seg")

# Operators log in and out of the admin, and change their password, through the site's
# own views, which lock accounts and addresses after failed attempts and record what
# they do (dock.views.admin_login).
admin.site.login = views.admin_login
admin.site.logout = views.admin_logout
admin.site.password_change = views.admin_password_change

handler400 = "dock.views.bad_request"
handler500 = "dock.views.server_error"

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("a/<seg:public_id>.png", avatar, name="avatar"),
    path("admin/", admin.site.urls),
    # The API's base path without its slash is answered in the API's shape, not redirected
    # (by APPEND_SLASH, with an HTML response) to a path that is not an endpoint either.
    path("api/v1", no_such_endpoint, name="api-base"),
    path("api/v1/", include("identity.api.urls")),
    path("audit/", include("audit.urls")),
    path("", include("dock.workspaces.urls")),
    path("", include("identity.urls")),
]
