"""The WSGI application of the conformance project, for gunicorn's gthread and gevent workers.

The same as ``benchmarks/benchproject/wsgi.py`` (``django_websocket.wsgi``, the WebSocket
views through the WSGI driver), with this project's settings: the 16 MiB message limit
the suite's group 9 needs.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "autobahnproject.settings")

from django_websocket.wsgi import get_wsgi_application

application = get_wsgi_application()
