"""The WSGI entry point of the test project, written as a user writes theirs."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.project.settings")

from django_websocket.wsgi import get_wsgi_application

application = get_wsgi_application()
