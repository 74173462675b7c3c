"""Django admin: a read-only window on orgs, principals, logins and keys.

Every change to these rows goes through a service that records its audit event (the
dashboard, the API or `manage.py dock`), so the admin offers no add, change or delete.
Key digests and password hashes are never shown.
"""

from django.contrib import admin

from .models import ApiKey, Org, Principal, User


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Org)
class OrgAdmin(ReadOnlyAdmin):
    list_display = ("name", "slug", "created_at")
    search_fields = ("name", "slug")
    fields = ("name", "slug", "created_at")


@admin.register(Principal)
class PrincipalAdmin(ReadOnlyAdmin):
    list_display = ("display_name", "handle", "kind", "status", "org", "owner", "created_at")
    list_filter = ("kind", "status")
    search_fields = ("display_name", "handle", "public_id")
    list_select_related = ("org", "owner")
    fields = ("public_id", "handle", "display_name", "kind", "status", "org", "owner", "scope_names", "avatar", "bio", "created_at")
    readonly_fields = ("scope_names",)

    @admin.display(description="Scope")
    def scope_names(self, obj):
        return ", ".join(obj.scope_names) or "—"


@admin.register(User)
class UserAdmin(ReadOnlyAdmin):
    list_display = ("email", "principal", "org_role", "is_staff", "last_login")
    list_filter = ("org_role", "is_staff")
    search_fields = ("email", "principal__display_name", "principal__handle")
    list_select_related = ("principal", "principal__org")
    # Never `password`: the hash stays out of every page.
    fields = ("email", "principal", "org_role", "is_staff", "is_superuser", "last_login")


@admin.register(ApiKey)
class ApiKeyAdmin(ReadOnlyAdmin):
    list_display = ("display", "principal", "created_at", "last_used_at", "expires_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("prefix", "principal__handle", "principal__display_name")
    list_select_related = ("principal",)
    # Never `digest`.
    fields = ("prefix", "principal", "created_by", "created_at", "last_used_at", "expires_at", "revoked_at", "replaced_by")

    def get_queryset(self, request):
        return super().get_queryset(request).defer("digest")
