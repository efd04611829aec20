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
from .groups import (
    abroadcast,
    abroadcast_json,
    agroup_size,
    broadcast,
    broadcast_json,
    group_size,
)
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
    "agroup_size",
    "broadcast",
    "broadcast_json",
    "group_size",
    "require_websocket",
]
