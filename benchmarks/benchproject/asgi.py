"""The Django ASGI application of the benchmark project, as a user writes theirs."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchproject.settings")

from django_websocket.asgi import get_asgi_application

application = get_asgi_application()
