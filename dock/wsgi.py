import os

import django

from dock.handlers import WSGIHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dock.settings")
django.setup(set_prefix=False)  # as django.core.wsgi.get_wsgi_application does, with Dock's handler
application = WSGIHandler()
