"""Benchmarks run against their own database, never the demo's."""

import os

os.environ.setdefault("DOCK_VAR_DIR", os.path.join(os.path.dirname(os.path.dirname(__file__)), "var", "bench"))

from dock.settings import *  # noqa: E402,F403
