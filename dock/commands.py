"""What Dock's management commands share: bad arguments and database errors are one line
on stderr and exit 1, never argparse's usage block or a traceback."""

import argparse
import sys

from django.core.management.base import CommandError
from django.db import DatabaseError


def database_refusal(exc: DatabaseError) -> CommandError:
    """`exc` as a command's one-line error; a missing table asks whether migrate has run."""
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    missing = "no such table" in first or ("relation" in first and "does not exist" in first)
    return CommandError(f"database error: {first}" + (" (has `manage.py migrate` run?)" if missing else ""))


class OneLineParser(argparse.ArgumentParser):
    """A parser (or subcommand parser) whose refusal is a CommandError: one line, exit 1."""

    def error(self, message):
        raise CommandError(f"{self.prog}: {message}")


class ErrorsInOneLine:
    """Mixed in before BaseCommand."""

    def run_from_argv(self, argv):
        try:
            for arg in argv:  # bytes that are not UTF-8 arrive as lone surrogates
                try:
                    arg.encode()
                except UnicodeEncodeError:
                    raise CommandError(f"an argument is not valid UTF-8: {arg.encode(errors='backslashreplace').decode()}") from None
            return super().run_from_argv(argv)
        except CommandError as exc:  # raised while parsing, before Django's own handler
            if "--traceback" in argv:
                raise
            self.stderr.write(f"CommandError: {exc}")
            sys.exit(exc.returncode)

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.error = OneLineParser.error.__get__(parser)
        return parser

    def execute(self, *args, **options):
        try:
            return super().execute(*args, **options)
        except DatabaseError as exc:
            raise database_refusal(exc) from None
