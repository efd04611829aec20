"""The benchmark project's settings, with the message limit raised for the Autobahn suite.

Group 9 of the suite sends messages of up to 16 MiB; the library's default
``WEBSOCKET_MAX_MESSAGE_SIZE`` is 1 MiB (a larger message closes with 1009), so the
echo views would fail those cases by design. ``run.py`` gives uvicorn the same limit
(``--ws-max-size``); ``manage.py runserver`` takes it from this setting.
"""

from benchproject.settings import *  # noqa: F403

INSTALLED_APPS = ["django_websocket", "autobahnproject"]
ROOT_URLCONF = "benchproject.urls"  # /sync and /async, the benchmark's echo views
WEBSOCKET_MAX_MESSAGE_SIZE = 16 * 1024 * 1024  # the largest message of the suite (9.1.6)
