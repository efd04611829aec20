"""Settings of django_websocket, with their defaults.

Every setting is read from ``django.conf.settings`` when it is used, never at import.
"""

from __future__ import annotations

from django.conf import settings

__all__ = ["conf"]


class _Settings:
    """One property per ``WEBSOCKET_*`` setting."""

    @property
    def ACCEPT_ALL(self) -> bool:
        """``WEBSOCKET_ACCEPT_ALL``: accept handshakes on views that are not marked."""
        return bool(getattr(settings, "WEBSOCKET_ACCEPT_ALL", False))

    @property
    def MAX_SYNC_VIEWS(self) -> int:
        """``WEBSOCKET_MAX_SYNC_VIEWS``: sync views running at once; past it, 503."""
        return int(getattr(settings, "WEBSOCKET_MAX_SYNC_VIEWS", 200))

    @property
    def MAX_QUEUE(self) -> int:
        """``WEBSOCKET_MAX_QUEUE``: unread incoming messages buffered per connection."""
        return int(getattr(settings, "WEBSOCKET_MAX_QUEUE", 32))


conf = _Settings()
