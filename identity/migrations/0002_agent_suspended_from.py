from django.db import migrations, models


def from_the_log(apps, schema_editor):
    """Agents suspended before this column existed: the status their suspension took them
    from is in its audit event ("from"), the one record of it."""
    Principal = apps.get_model("identity", "Principal")
    AuditEvent = apps.get_model("audit", "AuditEvent")
    for agent in Principal.objects.filter(kind="agent", status="suspended").only("pk", "public_id"):
        event = AuditEvent.objects.filter(action="agent.suspended", target_id=agent.public_id).order_by("-id").first()
        if event is not None and event.details.get("from") == "paused":
            Principal.objects.filter(pk=agent.pk).update(suspended_from="paused")


class Migration(migrations.Migration):
    dependencies = [
        ("identity", "0001_initial"),
        ("audit", "0005_lean_append"),
    ]

    operations = [
        migrations.AddField(
            model_name="principal",
            name="suspended_from",
            field=models.CharField(blank=True, default="", max_length=16),
        ),
        migrations.RunPython(from_the_log, migrations.RunPython.noop),
    ]
