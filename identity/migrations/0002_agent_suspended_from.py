from django.db import migrations, models


def from_the_log(apps, schema_editor):
    """Agents suspended before this column existed: the status their suspension took them
    from is in its audit event ("from"), the one record of it. Read in one pass per chunk
    of agents, the latest suspension of each."""
    Principal = apps.get_model("identity", "Principal")
    AuditEvent = apps.get_model("audit", "AuditEvent")
    suspended = dict(Principal.objects.filter(kind="agent", status="suspended").values_list("public_id", "pk"))
    ids = list(suspended)
    for start in range(0, len(ids), 500):
        latest = {}
        events = AuditEvent.objects.filter(action="agent.suspended", target_id__in=ids[start:start + 500])
        for target_id, details in events.order_by("id").values_list("target_id", "details").iterator():
            latest[target_id] = details or {}
        paused = [suspended[target] for target, details in latest.items() if details.get("from") == "paused"]
        Principal.objects.filter(pk__in=paused).update(suspended_from="paused")


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
