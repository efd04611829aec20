"""``WebSocketMiddleware``: give every request ``is_websocket()`` and ``websocket``.

Optional, as in the original django-websocket: the decorators work without it. It does
not open any view to WebSockets; mark views with the decorators (or set the view's
``accept_websocket`` attribute), or set ``WEBSOCKET_ACCEPT_ALL = True``.
"""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.deprecation import MiddlewareMixin

from .request import attach_http

__all__ = ["WebSocketMiddleware"]


class WebSocketMiddleware(MiddlewareMixin):
    """Add ``request.is_websocket()`` and ``request.websocket`` (``None`` for HTTP)."""

    sync_capable = True
    async_capable = True

    def process_request(self, request: HttpRequest) -> None:
        """Attach the attributes to plain HTTP requests (WebSocket ones have them)."""
        attach_http(request)
