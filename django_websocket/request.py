"""The attributes the seed's API adds to a request: ``is_websocket()`` and ``websocket``."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

__all__ = ["attach_http", "attach_websocket", "is_websocket_request"]


def _true() -> bool:
    return True


def _false() -> bool:
    return False


def attach_websocket(request: HttpRequest, websocket: Any) -> None:
    """Give a WebSocket handshake request its ``websocket`` and ``is_websocket()``."""
    request.websocket = websocket  # type: ignore[attr-defined]
    request.is_websocket = _true  # type: ignore[attr-defined]


def attach_http(request: HttpRequest) -> None:
    """Give a plain HTTP request ``websocket = None`` and ``is_websocket() -> False``."""
    if not hasattr(request, "websocket"):
        request.websocket = None  # type: ignore[attr-defined]
        request.is_websocket = _false  # type: ignore[attr-defined]


def is_websocket_request(request: HttpRequest) -> bool:
    """Return whether ``request`` is a WebSocket handshake served by this library."""
    return getattr(request, "websocket", None) is not None
