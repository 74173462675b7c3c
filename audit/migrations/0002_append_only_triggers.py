from django.db import migrations

from audit.triggers import migration_install, migration_uninstall


class Migration(migrations.Migration):
    """The database refuses UPDATE and DELETE on audit events.

    A later migration that rebuilds the table (SQLite does for many ALTERs) drops these
    triggers: such a migration must run `migration_install` again. A test checks that the
    triggers exist after every migration has run.
    """

    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunPython(migration_install, migration_uninstall)]
