"""Benchmarks run against their own database, never the demo's.

The peers Dock is compared with (bench/cases_peers.py) are installed from
requirements-bench.txt and configured here only: the product's settings know nothing of
them.
"""

import os

os.environ.setdefault("DOCK_VAR_DIR", os.path.join(os.path.dirname(os.path.dirname(__file__)), "var", "bench"))

from dock.settings import *  # noqa: E402,F403
from dock.settings import INSTALLED_APPS  # noqa: E402

INSTALLED_APPS = [
    *INSTALLED_APPS,
    "rest_framework",
    "rest_framework.authtoken",
    "knox",
    "guardian",
    "auditlog",
    "bench.peers",
]

# guardian: object permissions through the auth backends, as its documentation sets up.
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
ANONYMOUS_USER_NAME = None  # no anonymous user row (Dock's users need a principal)

# knox: its own authentication code, with its documented custom token model, which joins
# the principal (see bench/peers/models.py).
KNOX_TOKEN_MODEL = "peers.KnoxToken"
