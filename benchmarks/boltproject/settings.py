"""Settings of the django-bolt stack in ``peers.py``: ``django_bolt`` installed, no database."""

SECRET_KEY = "benchmark-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "boltproject.urls"
USE_TZ = True
INSTALLED_APPS = ["django_bolt"]
MIDDLEWARE: list[str] = []
DATABASES: dict[str, dict[str, str]] = {}
