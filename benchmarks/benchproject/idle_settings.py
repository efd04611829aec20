"""The benchmark project as a ``startproject`` site has it: sessions and auth middleware.

``benchmarks/idle.py`` serves the async echo view and a plain HTTP view through them. No
database is touched: an anonymous request reads no session.
"""

from .settings import *  # noqa: F403

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django_websocket",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = "benchproject.idle_urls"
