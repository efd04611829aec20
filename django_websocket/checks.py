"""System checks for the ``WEBSOCKET_*`` settings, each with a stable id."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

from . import metrics
from .conf import conf

__all__ = [
    "E001",
    "E002",
    "E003",
    "E004",
    "E005",
    "W001",
    "W002",
    "W003",
    "W004",
    "check_app_order",
    "check_deploy",
    "check_settings",
    "register",
]

E001 = checks.Error(
    "WEBSOCKET_MAX_SYNC_VIEWS must be a positive integer.",
    hint="It bounds how many sync WebSocket views run at once (default 200).",
    id="django_websocket.E001",
)
E002 = checks.Error(
    "WEBSOCKET_MAX_QUEUE must be a positive integer.",
    hint="It bounds the unread messages buffered per connection (default 32).",
    id="django_websocket.E002",
)
E003 = checks.Error(
    "WEBSOCKET_GROUP_BUFFER must be a positive integer.",
    hint="It bounds the broadcast messages waiting per socket (default 64).",
    id="django_websocket.E003",
)
E004 = checks.Error(
    'WEBSOCKET_SLOW_CLIENT must be "drop" or "close".',
    hint="It says what happens to a socket whose group buffer is full (default drop).",
    id="django_websocket.E004",
)
E005 = checks.Error(
    'WEBSOCKET_RATE_LIMIT must be None or a rate such as "60/m".',
    hint='Messages per period, per connection: "10/s", "100/5m", "60/m", "1000/h" '
    "(units s, m, h, d).",
    id="django_websocket.E005",
)
E006 = checks.Error(
    "WEBSOCKET_METRICS is on but prometheus-client is not installed.",
    hint="pip install django-websocket-views[prometheus], or turn WEBSOCKET_METRICS off.",
    id="django_websocket.E006",
)

W001 = checks.Warning(
    "WEBSOCKET_GROUPS uses the in-memory backend: a broadcast reaches only the sockets "
    "of the process that sends it.",
    hint="With more than one server process, use "
    "django_websocket.groups.redis.RedisBackend (docs/groups.md).",
    id="django_websocket.W001",
)
W002 = checks.Warning(
    "WEBSOCKET_ACCEPT_ALL is on: every view accepts WebSocket handshakes.",
    hint="Mark the WebSocket views with @accept_websocket or @require_websocket instead.",
    id="django_websocket.W002",
)
W003 = checks.Warning(
    "WEBSOCKET_CHECK_ORIGIN is off: any web site can open WebSockets with your users' "
    "cookies (cross-site WebSocket hijacking).",
    hint="Leave the check on; list other sites in WEBSOCKET_ALLOWED_ORIGINS.",
    id="django_websocket.W003",
)

W004 = checks.Warning(
    '"django_websocket" comes after "django.contrib.staticfiles" in INSTALLED_APPS, so '
    "manage.py runserver is staticfiles' WSGI server and WebSocket handshakes fail there.",
    hint='Put "django_websocket" before "django.contrib.staticfiles" in INSTALLED_APPS.',
    id="django_websocket.W004",
)


def _is_positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def check_settings(**kwargs: Any) -> list[checks.CheckMessage]:
    """Report ``WEBSOCKET_*`` settings that cannot work."""
    errors: list[checks.CheckMessage] = []
    if not _is_positive_int(getattr(settings, "WEBSOCKET_MAX_SYNC_VIEWS", 200)):
        errors.append(E001)
    if not _is_positive_int(getattr(settings, "WEBSOCKET_MAX_QUEUE", 32)):
        errors.append(E002)
    if not _is_positive_int(getattr(settings, "WEBSOCKET_GROUP_BUFFER", 64)):
        errors.append(E003)
    if getattr(settings, "WEBSOCKET_SLOW_CLIENT", "drop") not in ("drop", "close"):
        errors.append(E004)
    try:
        conf.RATE_LIMIT  # noqa: B018 (reading it parses it)
    except (TypeError, ValueError):
        errors.append(E005)
    if conf.METRICS and not metrics.available():
        errors.append(E006)
    return errors


def check_deploy(**kwargs: Any) -> list[checks.CheckMessage]:
    """Warn about settings that are risky on a public site (``check --deploy``)."""
    warnings: list[checks.CheckMessage] = []
    if conf.GROUPS.get("BACKEND") == "django_websocket.groups.memory.MemoryBackend":
        warnings.append(W001)
    if getattr(settings, "WEBSOCKET_ACCEPT_ALL", False):
        warnings.append(W002)
    if not getattr(settings, "WEBSOCKET_CHECK_ORIGIN", True):
        warnings.append(W003)
    return warnings


def check_app_order(**kwargs: Any) -> list[checks.CheckMessage]:
    """Warn when another app's ``runserver`` would shadow this one (the first app wins)."""
    installed = list(settings.INSTALLED_APPS)
    ours = next((i for i, name in enumerate(installed) if name.startswith("django_websocket")), 0)
    if "django.contrib.staticfiles" in installed[:ours]:
        return [W004]
    return []


def register() -> None:
    """Register the checks with Django (called from ``AppConfig.ready``)."""
    checks.register(check_settings)
    checks.register(check_app_order)
    checks.register(check_deploy, checks.Tags.security, deploy=True)
