from django.db import migrations, models

import identity.ids


def name_existing(apps, schema_editor):
    """Invitations made before they had a public id get one. (Audit events already written
    keep the id they recorded: the log is append-only.)"""
    Invitation = apps.get_model("workspaces", "Invitation")
    for invitation in Invitation.objects.filter(public_id__isnull=True).only("pk").iterator():
        Invitation.objects.filter(pk=invitation.pk).update(public_id=identity.ids.new_public_id("inv"))


class Migration(migrations.Migration):

    dependencies = [
        ('workspaces', '0002_proposal_cancelled_because'),
    ]

    operations = [
        migrations.AddField(
            model_name='invitation',
            name='public_id',
            field=models.CharField(editable=False, max_length=40, null=True),
        ),
        migrations.RunPython(name_existing, migrations.RunPython.noop),
        migrations.AlterField(
            model_name='invitation',
            name='public_id',
            field=models.CharField(editable=False, max_length=40, unique=True),
        ),
    ]
