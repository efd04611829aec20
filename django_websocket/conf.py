"""Settings of django_websocket, with their defaults.

Every setting is read from ``django.conf.settings`` when it is used, never at import.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from .protocol import RateLimit

__all__ = ["DEFAULT_GROUPS", "conf"]

DEFAULT_GROUPS: dict[str, Any] = {"BACKEND": "django_websocket.groups.memory.MemoryBackend"}


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
    def CHECK_ORIGIN(self) -> bool:
        """``WEBSOCKET_CHECK_ORIGIN``: refuse cross-site handshakes with 403 (on by default)."""
        return bool(getattr(settings, "WEBSOCKET_CHECK_ORIGIN", True))

    @property
    def ALLOWED_ORIGINS(self) -> list[str]:
        """``WEBSOCKET_ALLOWED_ORIGINS``: more origins that may connect (``"*"``: any)."""
        return list(getattr(settings, "WEBSOCKET_ALLOWED_ORIGINS", []))

    @property
    def MAX_MESSAGE_SIZE(self) -> int:
        """``WEBSOCKET_MAX_MESSAGE_SIZE``: bytes in one incoming message; past it, 1009."""
        return int(getattr(settings, "WEBSOCKET_MAX_MESSAGE_SIZE", 1024 * 1024))

    @property
    def IDLE_TIMEOUT(self) -> float | None:
        """``WEBSOCKET_IDLE_TIMEOUT``: seconds without a message before closing; ``None``."""
        value = getattr(settings, "WEBSOCKET_IDLE_TIMEOUT", None)
        return None if value is None else float(value)

    @property
    def RATE_LIMIT(self) -> RateLimit | None:
        """``WEBSOCKET_RATE_LIMIT``: messages a client may send per connection, such as
        ``"60/m"``; past it, 1008. ``None`` (the default): no limit.

        Raises:
            ValueError, TypeError: the setting is not such a rate (check E005 says so).
        """
        value = getattr(settings, "WEBSOCKET_RATE_LIMIT", None)
        return None if value is None else RateLimit.parse(value)

    @property
    def PING_INTERVAL(self) -> float | None:
        """``WEBSOCKET_PING_INTERVAL``: seconds between keepalive pings on WSGI servers
        (ASGI servers ping by themselves); ``None``: no pings."""
        value = getattr(settings, "WEBSOCKET_PING_INTERVAL", 20.0)
        return None if value is None else float(value)

    @property
    def PING_TIMEOUT(self) -> float | None:
        """``WEBSOCKET_PING_TIMEOUT``: seconds to wait for a pong before closing with 1011;
        ``None``: wait for ever."""
        value = getattr(settings, "WEBSOCKET_PING_TIMEOUT", 20.0)
        return None if value is None else float(value)

    @property
    def MAX_QUEUE(self) -> int:
        """``WEBSOCKET_MAX_QUEUE``: unread incoming messages buffered per connection."""
        return int(getattr(settings, "WEBSOCKET_MAX_QUEUE", 32))

    @property
    def GROUPS(self) -> dict[str, Any]:
        """``WEBSOCKET_GROUPS``: the groups backend, configured like ``CACHES["default"]``."""
        return dict(getattr(settings, "WEBSOCKET_GROUPS", None) or DEFAULT_GROUPS)

    @property
    def GROUP_BUFFER(self) -> int:
        """``WEBSOCKET_GROUP_BUFFER``: broadcast messages buffered per socket before the
        slow-client policy applies."""
        return int(getattr(settings, "WEBSOCKET_GROUP_BUFFER", 64))

    @property
    def SLOW_CLIENT(self) -> str:
        """``WEBSOCKET_SLOW_CLIENT``: ``"drop"`` or ``"close"`` (1013) when a socket's
        broadcast buffer is full."""
        return str(getattr(settings, "WEBSOCKET_SLOW_CLIENT", "drop"))

    @property
    def METRICS(self) -> bool:
        """``WEBSOCKET_METRICS``: record Prometheus metrics (needs ``prometheus-client``)."""
        return bool(getattr(settings, "WEBSOCKET_METRICS", False))


conf = _Settings()
