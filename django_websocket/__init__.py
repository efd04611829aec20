"""WebSocket views for Django.

The public names of the original django-websocket, on today's Django and ASGI servers::

    from django_websocket import accept_websocket, require_websocket
"""

from .decorators import accept_websocket, require_websocket
from .exceptions import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    WebSocketError,
)
from .websocket import AsyncWebSocket, WebSocket

__all__ = [
    "AsyncWebSocket",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "WebSocket",
    "WebSocketError",
    "accept_websocket",
    "require_websocket",
]
