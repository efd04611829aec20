"""The test project's ``wsgi.py`` as ``startproject`` writes it: Django's own handler."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.project.settings")

application = get_wsgi_application()
