"""What Dock's management commands share: a database error is one line, not a traceback."""

from django.core.management.base import CommandError
from django.db import DatabaseError


def database_refusal(exc: DatabaseError) -> CommandError:
    """`exc` as a command's one-line error; a missing table asks whether migrate has run."""
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    missing = "no such table" in first or ("relation" in first and "does not exist" in first)
    return CommandError(f"database error: {first}" + (" (has `manage.py migrate` run?)" if missing else ""))


class DatabaseErrorsInOneLine:
    """Mixed in before BaseCommand."""

    def execute(self, *args, **options):
        try:
            return super().execute(*args, **options)
        except DatabaseError as exc:
            raise database_refusal(exc) from None
