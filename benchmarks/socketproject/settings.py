"""Settings of the django-socket stack in ``peers.py``.

As django-socket's README sets it up: ``django_socket`` in ``INSTALLED_APPS``, nothing
in ``asgi.py``. The database, sessions and auth are those of ``benchproject.peers_settings``
(same ``SECRET_KEY`` and ``BENCH_DB``, so the same session cookie logs in). ``BENCH_GROUPS``
picks its broadcast layer: ``memory`` or ``redis`` (``BENCH_REDIS_URL``, channel prefix
``BENCH_REDIS_PREFIX``).
"""

import os

SECRET_KEY = "benchmark-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "socketproject.urls"
USE_TZ = True
INSTALLED_APPS = [
    "django_socket",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "socketproject",
]
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
if os.environ.get("BENCH_GROUPS", "memory") == "redis":
    DJANGO_SOCKET = {
        "LAYER": "redis",
        "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
        "PREFIX": os.environ.get("BENCH_REDIS_PREFIX", "django_socket_bench:") + "djws",
    }
else:
    DJANGO_SOCKET = {"LAYER": "memory"}
