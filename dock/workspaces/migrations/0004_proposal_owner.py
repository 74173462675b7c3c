"""Proposal.owner: the proposer's owner when it asked. Existing proposals take it from
their `proposal.created` audit event, which recorded it then; one without such an event
takes the proposer's present owner."""

import django.db.models.deletion
from django.db import migrations, models


def backfill(apps, schema_editor):
    Proposal = apps.get_model("workspaces", "Proposal")
    Principal = apps.get_model("identity", "Principal")
    AuditEvent = apps.get_model("audit", "AuditEvent")
    recorded = {}  # proposal public id -> its owner's public id ("" for none), first event wins
    for target_id, owner_id in (
        AuditEvent.objects.filter(action="proposal.created").order_by("-id").values_list("target_id", "owner_id").iterator(chunk_size=5000)
    ):
        recorded[target_id] = owner_id
    owners = dict(Principal.objects.filter(public_id__in={o for o in recorded.values() if o}).values_list("public_id", "pk"))
    for pk, public_id, present_owner in Proposal.objects.values_list("pk", "public_id", "proposer__owner_id").iterator(chunk_size=2000):
        owner = owners.get(recorded[public_id]) if public_id in recorded else present_owner
        if owner is not None:
            Proposal.objects.filter(pk=pk).update(owner_id=owner)


class Migration(migrations.Migration):

    dependencies = [
        ("audit", "0005_lean_append"),
        ("identity", "0001_initial"),
        ("workspaces", "0003_invitation_public_id"),
    ]

    operations = [
        migrations.AddField(
            model_name="proposal",
            name="owner",
            field=models.ForeignKey(
                blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+",
                to="identity.principal",
            ),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
