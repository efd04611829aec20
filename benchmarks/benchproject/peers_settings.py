"""Settings of django_websocket's stack in ``peers.py``: sessions, auth and a database.

``broadcast_settings`` (the groups backend from ``BENCH_GROUPS``) plus what the
handshake benchmark needs: Django's session and authentication middleware and the
SQLite database at ``BENCH_DB`` (``peers.py`` migrates it and logs a user in). The
middleware runs once per handshake, never per message. ``WEBSOCKET_MAX_SYNC_VIEWS`` is
raised so that the 5,000 idle sockets of the memory benchmark can each hold a sync view.
"""

import os

from .broadcast_settings import *  # noqa: F403

DJANGO_APPS = ["django.contrib.auth", "django.contrib.contenttypes", "django.contrib.sessions"]
INSTALLED_APPS = ["django_websocket", *DJANGO_APPS]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("BENCH_DB", "bench.sqlite3"),
    }
}
WEBSOCKET_MAX_SYNC_VIEWS = 6000
