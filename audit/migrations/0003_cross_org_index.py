from django.db import migrations, models

from audit.triggers import migration_install


class Migration(migrations.Migration):
    """Auditors' scope reads the events an org's principals caused in other orgs from a
    small partial index instead of scanning all of that org's principals' events.

    Index changes do not rebuild the table, but the triggers are re-installed anyway
    (idempotent) so that this stays true if the operations here ever grow."""

    dependencies = [
        ("audit", "0002_append_only_triggers"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="auditevent",
            name="audit_actor_org_time",
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(
                condition=models.Q(("org", models.F("actor_org")), _negated=True),
                fields=["actor_org", "occurred_at", "id"],
                name="audit_cross_org_time",
            ),
        ),
        migrations.RunPython(migration_install, migrations.RunPython.noop),
    ]
