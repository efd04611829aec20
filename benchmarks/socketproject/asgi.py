"""Django's own ``asgi.py``, unchanged: django-socket widens Django's handler itself."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "socketproject.settings")

application = get_asgi_application()
