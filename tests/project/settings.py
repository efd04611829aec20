"""Settings of the project the test suite serves."""

import json
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
SECRET_KEY = "tests-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "tests.project.urls"
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django_websocket",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "tests.project.middleware.private_redirect",
]
if os.environ.get("TEST_MIDDLEWARE") == "sessions_auth":  # async-capable only
    MIDDLEWARE = [
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
    ]
if os.environ.get("TEST_WEBSOCKET_MIDDLEWARE") == "1":
    MIDDLEWARE.append("django_websocket.middleware.WebSocketMiddleware")
if os.environ.get("TEST_WEBSOCKET_ACCEPT_ALL") == "1":
    WEBSOCKET_ACCEPT_ALL = True
if os.environ.get("TEST_WEBSOCKET_MAX_SYNC_VIEWS"):
    WEBSOCKET_MAX_SYNC_VIEWS = int(os.environ["TEST_WEBSOCKET_MAX_SYNC_VIEWS"])
if os.environ.get("TEST_WEBSOCKET_MAX_QUEUE"):
    WEBSOCKET_MAX_QUEUE = int(os.environ["TEST_WEBSOCKET_MAX_QUEUE"])

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("TEST_DATABASE_NAME", str(BASE_DIR / "test.sqlite3")),
    }
}
if os.environ.get("TEST_DATABASE_JSON"):  # a whole DATABASES["default"], e.g. PostgreSQL
    DATABASES["default"] = json.loads(os.environ["TEST_DATABASE_JSON"])
CSRF_TRUSTED_ORIGINS = ["https://trusted.example", "https://*.corp.example"]
if os.environ.get("TEST_WEBSOCKET_ALLOWED_ORIGINS"):
    WEBSOCKET_ALLOWED_ORIGINS = os.environ["TEST_WEBSOCKET_ALLOWED_ORIGINS"].split(",")
if os.environ.get("TEST_WEBSOCKET_MAX_MESSAGE_SIZE"):
    WEBSOCKET_MAX_MESSAGE_SIZE = int(os.environ["TEST_WEBSOCKET_MAX_MESSAGE_SIZE"])
if os.environ.get("TEST_WEBSOCKET_RATE_LIMIT"):
    WEBSOCKET_RATE_LIMIT = os.environ["TEST_WEBSOCKET_RATE_LIMIT"]
if os.environ.get("TEST_WEBSOCKET_GROUPS"):  # JSON, e.g. the Redis backend
    WEBSOCKET_GROUPS = json.loads(os.environ["TEST_WEBSOCKET_GROUPS"])
if os.environ.get("TEST_WEBSOCKET_GROUP_BUFFER"):
    WEBSOCKET_GROUP_BUFFER = int(os.environ["TEST_WEBSOCKET_GROUP_BUFFER"])
if os.environ.get("TEST_WEBSOCKET_SLOW_CLIENT"):
    WEBSOCKET_SLOW_CLIENT = os.environ["TEST_WEBSOCKET_SLOW_CLIENT"]
for _name in ("PING_INTERVAL", "PING_TIMEOUT"):
    if os.environ.get(f"TEST_WEBSOCKET_{_name}"):
        globals()[f"WEBSOCKET_{_name}"] = float(os.environ[f"TEST_WEBSOCKET_{_name}"])
if os.environ.get("TEST_WEBSOCKET_METRICS") == "1":
    WEBSOCKET_METRICS = True
LOGIN_URL = "/login/"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django.request": {"handlers": ["console"], "level": "WARNING"},
        "django.dispatch": {"handlers": ["console"], "level": "ERROR"},  # raising receivers
        "django_websocket": {"handlers": ["console"], "level": "INFO"},  # the connection log
        "django_websocket.framing": {"level": "WARNING"},
    },
}
