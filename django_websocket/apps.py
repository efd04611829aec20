"""The Django app: add ``"django_websocket"`` to ``INSTALLED_APPS``."""

from __future__ import annotations

from django.apps import AppConfig


class DjangoWebSocketConfig(AppConfig):
    """Register the system checks; let Django's own ``asgi.py`` serve WebSocket views."""

    name = "django_websocket"
    verbose_name = "WebSocket views"

    def ready(self) -> None:
        from . import checks
        from .patch import widen_asgi_handler

        checks.register()
        widen_asgi_handler()  # see patch.py: why, and what exactly it replaces
