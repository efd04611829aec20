"""The ASGI entry point of the test project, written as a user writes theirs."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.project.settings")

from django_websocket.asgi import get_asgi_application

application = get_asgi_application()
