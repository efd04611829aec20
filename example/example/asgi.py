"""The ASGI entry point: serve it with ``uvicorn example.asgi:application``.

django_websocket's ``get_asgi_application`` replaces Django's: HTTP goes to Django as
usual, WebSocket connections go to the views marked with the decorators.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example.settings")

from django.conf import settings
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

from django_websocket.asgi import get_asgi_application

application = get_asgi_application()

if settings.DEBUG:
    # Serve the admin's CSS as ``runserver`` would; WebSockets pass straight through.
    application = ASGIStaticFilesHandler(application)
