import json

from django.core.management.base import BaseCommand, CommandError

from audit.selectors import verify_chain
from dock.commands import ErrorsInOneLine


class Command(ErrorsInOneLine, BaseCommand):
    help = "Recompute the audit hash chain; exit non-zero naming the first bad event."

    def handle(self, *args, **options):
        result = verify_chain()
        if not result.ok:
            where = f"event {result.bad_event_id}" if result.bad_event_id else "chain head"
            raise CommandError(f"audit chain broken at {where}: {result.reason}")
        self.stdout.write(json.dumps({"ok": True, "count": result.count, "head": result.head}))
