"""The test project's ``asgi.py`` as ``startproject`` writes it: Django's own handler."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.project.settings")

application = get_asgi_application()
