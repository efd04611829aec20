"""The request a WebSocket handshake becomes, and the attributes the seed's API adds.

A handshake reaches Django as a GET request of :class:`WebSocketASGIRequest` (ASGI
servers) or :class:`WebSocketWSGIRequest` (WSGI servers): Django's own request classes
with ``websocket`` and ``is_websocket()``, built from the connection's *session* that the
server adapter puts in the ASGI scope or WSGI environ under :data:`SESSION`. Plain HTTP
requests keep Django's classes; the decorators and ``WebSocketMiddleware`` give them
``websocket = None`` and ``is_websocket() -> False``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from typing import Protocol as _Interface

from django.core.handlers.asgi import ASGIRequest
from django.core.handlers.wsgi import WSGIRequest
from django.http import HttpRequest

if TYPE_CHECKING:
    from .protocol import Protocol
    from .websocket import AsyncWebSocket, WebSocket

__all__ = [
    "SESSION",
    "Session",
    "WebSocketASGIRequest",
    "WebSocketRequest",
    "WebSocketWSGIRequest",
    "attach_http",
    "handshake_scope",
    "is_websocket_request",
]

SESSION = "django_websocket.session"
"""The key of the connection's :class:`Session` in the ASGI scope or the WSGI environ."""

_SCHEMES = {"ws": "http", "wss": "https"}


class Session(_Interface):
    """What a server adapter knows about one handshake, for the request and the view."""

    protocol: Protocol
    """The connection core."""

    def front_end(self, *, is_async: bool) -> WebSocket | AsyncWebSocket:
        """Return ``request.websocket`` for a sync (blocking) or async view."""
        ...


class WebSocketRequest(HttpRequest):
    """What every WebSocket handshake request has (a base of both request classes).

    Attributes:
        websocket: the blocking :class:`~django_websocket.websocket.WebSocket` until the
            view runs, then the form that fits the view (``AsyncWebSocket`` for
            ``async def`` views).
        websocket_session: the connection's session (see :data:`SESSION`).
    """

    websocket: WebSocket | AsyncWebSocket
    websocket_session: Session

    def _start_websocket(self, session: Session) -> None:
        self.websocket_session = session
        self.websocket = session.front_end(is_async=False)

    def is_websocket(self) -> bool:
        """Return ``True``: this is a WebSocket handshake."""
        return True


def handshake_scope(scope: dict[str, Any], session: Session) -> dict[str, Any]:
    """Make an ASGI ``websocket`` scope fit Django's request, in place, and return it: a
    GET, with the connection's ``session`` under :data:`SESSION`.

    The request keeps the server's own scope (as ``request.scope``, ``scheme`` still
    ``ws`` or ``wss``) for the socket's life: no copy per idle socket. No server reads a
    scope back once it has handed it to the application.
    """
    scope["method"] = "GET"
    scope[SESSION] = session
    return scope


class WebSocketASGIRequest(WebSocketRequest, ASGIRequest):
    """A WebSocket handshake from an ASGI server, as a GET request (``ws`` → ``http``).

    Args:
        scope: what :func:`handshake_scope` returns (kept as it is), or a ``websocket``
            scope with the session under :data:`SESSION` (copied first).
        body_file: the request body (a handshake has none).
    """

    def __init__(self, scope: dict[str, Any], body_file: Any) -> None:
        if scope.get("method") != "GET":  # not through handshake_scope(): leave it be
            scope = handshake_scope(dict(scope), scope[SESSION])
        super().__init__(scope, body_file)
        self._start_websocket(scope[SESSION])

    def _get_scheme(self) -> str:
        # The scope's ws / wss, as the http / https that Django's request speaks.
        scheme = self.scope.get("scheme") or "ws"
        return _SCHEMES.get(scheme, scheme)


class WebSocketWSGIRequest(WebSocketRequest, WSGIRequest):
    """A WebSocket handshake from a WSGI server."""

    def __init__(self, environ: dict[str, Any]) -> None:
        super().__init__(environ)
        self._start_websocket(environ[SESSION])


def _false() -> bool:
    return False


def attach_http(request: HttpRequest) -> None:
    """Give a plain HTTP request ``websocket = None`` and ``is_websocket() -> False``."""
    if not hasattr(request, "websocket"):
        request.websocket = None  # type: ignore[attr-defined]
        request.is_websocket = _false  # type: ignore[attr-defined]


def is_websocket_request(request: HttpRequest) -> bool:
    """Return whether ``request`` is a WebSocket handshake served by this library."""
    return isinstance(request, WebSocketRequest)
