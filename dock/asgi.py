import os

import django

from dock.handlers import ASGIHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dock.settings")
django.setup(set_prefix=False)  # as django.core.asgi.get_asgi_application does, with Dock's handler
application = ASGIHandler()
