import audit.models
from django.db import migrations, models

from audit.triggers import migration_install

STATISTICS = "audit_cross_org_stats"


def statistics_install(apps, schema_editor):
    # PostgreSQL cannot estimate `org <> actor_org`; with statistics on the expression
    # `(org = actor_org)` it knows how rare cross-org events are, and reads them from the
    # partial index below instead of filtering the whole time index.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE STATISTICS IF NOT EXISTS {STATISTICS} ON ((org = actor_org)) FROM audit_auditevent"
        )


def statistics_uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP STATISTICS IF EXISTS {STATISTICS}")


class Migration(migrations.Migration):
    """The cross-org partial index over `(org = actor_org) IS FALSE` (see audit.models.CrossOrg)."""

    dependencies = [
        ("audit", "0003_cross_org_index"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="auditevent",
            name="audit_cross_org_time",
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(
                condition=models.Q(audit.models.CrossOrg()),
                fields=["actor_org", "occurred_at", "id"],
                name="audit_cross_org_time",
            ),
        ),
        migrations.RunPython(statistics_install, statistics_uninstall),
        migrations.RunPython(migration_install, migrations.RunPython.noop),
    ]
