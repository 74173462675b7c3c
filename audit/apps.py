from django.apps import AppConfig
from django.db.backends.signals import connection_created


def _register_sqlite_functions(sender, connection, **kwargs):
    """SQLite has no SHA-256: the append statement (audit.services) calls this one."""
    if connection.vendor == "sqlite":
        from .chain import sha256_hex

        connection.connection.create_function("dock_sha256", 1, sha256_hex, deterministic=True)


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit"

    def ready(self):
        connection_created.connect(_register_sqlite_functions, dispatch_uid="audit_sqlite_functions")
