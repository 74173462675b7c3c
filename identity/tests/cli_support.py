"""Running `manage.py dock` in tests: its JSON answer, or its one-line refusal."""

import io
import json

import pytest
from django.core.management import call_command

from identity.management.commands.dock import Command


def dock(*args) -> dict:
    out = io.StringIO()
    call_command("dock", *args, stdout=out)
    text = out.getvalue().strip()
    return json.loads(text) if text else {}



def fails(*args, capsys, monkeypatch) -> str:
    """Run as from the shell: returns stderr; asserts exit status 1 and a single line."""
    # run_from_argv closes every connection when it ends; keep the test's transaction.
    monkeypatch.setattr("django.core.management.base.connections.close_all", lambda: None)
    with pytest.raises(SystemExit) as exit_info:
        Command().run_from_argv(["manage.py", "dock", *args])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err and "\n" not in err and "Traceback" not in err
    return err
