"""WebSocket views for Django.

The public names of the original django-websocket, on today's Django and ASGI servers::

    from django_websocket import accept_websocket, require_websocket
"""

from .decorators import accept_websocket, require_websocket
from .exceptions import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    GroupBackendError,
    WebSocketError,
)
from .groups import abroadcast, abroadcast_json, broadcast, broadcast_json
from .websocket import AsyncWebSocket, WebSocket

__all__ = [
    "AsyncWebSocket",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "GroupBackendError",
    "WebSocket",
    "WebSocketError",
    "abroadcast",
    "abroadcast_json",
    "accept_websocket",
    "broadcast",
    "broadcast_json",
    "require_websocket",
]
