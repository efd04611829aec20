"""Settings of the benchmark project: as little as a WebSocket view needs.

``MIDDLEWARE`` is empty and there is no database (Django's dummy backend), so the
figures measure django_websocket's per-message path, not middleware or queries.
Middleware runs once per connection (at the handshake), never per message, so adding
the usual stack would not change the steady-state echo rate.
"""

SECRET_KEY = "benchmark-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "benchproject.urls"
USE_TZ = True
INSTALLED_APPS = ["django_websocket"]
MIDDLEWARE: list[str] = []
DATABASES: dict[str, dict[str, str]] = {}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django.request": {"handlers": ["console"], "level": "WARNING"}},
}
