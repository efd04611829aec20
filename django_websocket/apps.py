"""The Django app: add ``"django_websocket"`` to ``INSTALLED_APPS``."""

from __future__ import annotations

from django.apps import AppConfig


class DjangoWebSocketConfig(AppConfig):
    """Register the system checks."""

    name = "django_websocket"
    verbose_name = "WebSocket views"

    def ready(self) -> None:
        from . import checks

        checks.register()
