"""An in-process test client for WebSocket views: no server, no port.

The client drives the project's ASGI application (by default
:class:`~django_websocket.asgi.ASGIApplication`, so the real handler, middleware and
URLconf) by feeding it ASGI ``websocket.*`` events and reading the events it sends back::

    from django_websocket.testing import WebSocketClient

    client = WebSocketClient()
    client.force_login(user)
    with client.websocket("/chat/", subprotocols=["chat.v1"]) as ws:
        ws.send("hi")
        assert ws.wait() == "hi"

:class:`AsyncWebSocketClient` has the same methods, awaited, for async tests. A refused
handshake raises :class:`HandshakeDenied`, which carries the response's status, headers
and body. See docs/testing.md.
"""

from .client import AsyncWebSocketClient, ClientWebSocket, WebSocketClient
from .connection import DEFAULT_TIMEOUT, AsyncClientWebSocket, HandshakeDenied

__all__ = [
    "DEFAULT_TIMEOUT",
    "AsyncClientWebSocket",
    "AsyncWebSocketClient",
    "ClientWebSocket",
    "HandshakeDenied",
    "WebSocketClient",
]
