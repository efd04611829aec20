"""What an idle socket's request keeps: one guard per view, one copy of the scope.

The figure itself is ``benchmarks/idle.py`` (RSS per idle socket on uvicorn); these
tests pin the changes that brought it down, each of which a regression would undo
silently.
"""

from __future__ import annotations

import io
from typing import Any

from django.http import HttpRequest

from django_websocket import accept_websocket
from django_websocket.asgi import WebSocketHandler
from django_websocket.protocol import Protocol
from django_websocket.request import SESSION, WebSocketASGIRequest, handshake_scope


@accept_websocket
async def _view(request: HttpRequest) -> None:
    pass


class _Session:
    """A session that says which front end the request asked for."""

    def __init__(self) -> None:
        self.protocol = Protocol(max_queue=4, max_size=100)
        self.asked: list[bool] = []

    def front_end(self, *, is_async: bool) -> Any:
        self.asked.append(is_async)
        return object()


def test_a_view_is_guarded_once_for_every_handshake() -> None:
    handler = WebSocketHandler()
    assert handler.guard(_view) is handler.guard(_view)


def test_an_unhashable_view_is_guarded_each_time() -> None:
    class Unhashable:
        __hash__ = None  # type: ignore[assignment]

        def __call__(self, request: HttpRequest) -> None:
            pass

    view = Unhashable()
    handler = WebSocketHandler()
    assert callable(handler.guard(view))
    assert handler.guard(view) is not handler.guard(view)


def test_the_request_keeps_the_one_copy_of_the_scope() -> None:
    server_scope = {"type": "websocket", "scheme": "wss", "path": "/ws", "headers": []}
    session = _Session()
    scope = handshake_scope(server_scope, session)
    request = WebSocketASGIRequest(scope, io.BytesIO())
    assert request.scope is scope
    assert (request.method, request.scheme, request.websocket_session) == ("GET", "https", session)
    assert server_scope == {"type": "websocket", "scheme": "wss", "path": "/ws", "headers": []}


def test_the_request_copies_a_server_scope_it_is_given() -> None:
    session = _Session()
    server_scope = {"type": "websocket", "scheme": "ws", "path": "/ws", SESSION: session}
    request = WebSocketASGIRequest(server_scope, io.BytesIO())
    assert request.scope is not server_scope
    assert (request.method, request.scheme, request.websocket_session) == ("GET", "http", session)
    assert "method" not in server_scope
