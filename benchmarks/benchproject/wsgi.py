"""The Django WSGI application of the benchmark project, as a user writes theirs."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchproject.settings")

from django_websocket.wsgi import get_wsgi_application

application = get_wsgi_application()
