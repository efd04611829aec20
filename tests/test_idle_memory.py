"""What an idle socket's request keeps: one guard per view, the server's own scope.

The figure itself is ``benchmarks/idle.py`` (RSS per idle socket on uvicorn); these
tests pin the changes that brought it down, each of which a regression would undo
silently.
"""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

import pytest
from django import urls
from django.conf import settings
from django.http import HttpRequest

from django_websocket import accept_websocket
from django_websocket.asgi import ASGIApplication, WebSocketHandler
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


def test_the_request_keeps_the_servers_own_scope() -> None:
    server_scope = {"type": "websocket", "scheme": "wss", "path": "/ws", "headers": []}
    session = _Session()
    scope = handshake_scope(server_scope, session)
    request = WebSocketASGIRequest(scope, io.BytesIO())
    assert request.scope is server_scope
    assert (request.method, request.scheme, request.websocket_session) == ("GET", "https", session)
    assert request.is_secure()


def test_the_request_copies_a_scope_not_made_fit_for_it() -> None:
    session = _Session()
    server_scope = {"type": "websocket", "scheme": "ws", "path": "/ws", SESSION: session}
    request = WebSocketASGIRequest(server_scope, io.BytesIO())
    assert request.scope is not server_scope
    assert (request.method, request.scheme, request.websocket_session) == ("GET", "http", session)
    assert "method" not in server_scope


def test_a_scope_without_a_scheme_is_plain_http() -> None:
    scope = handshake_scope({"type": "websocket", "path": "/ws"}, _Session())
    assert WebSocketASGIRequest(scope, io.BytesIO()).scheme == "http"


async def _url_locals(root_path: str) -> list[Any]:
    # One connection to the url_locals view, straight through the ASGI application.
    incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    sent: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    scope = {
        "type": "websocket", "path": f"{root_path}/url_locals/", "root_path": root_path,
        "query_string": b"", "headers": [(b"host", b"testserver")], "scheme": "ws",
        "server": ("testserver", 80), "client": ("127.0.0.1", 50000), "subprotocols": [],
    }  # fmt: skip
    incoming.put_nowait({"type": "websocket.connect"})
    task = asyncio.create_task(ASGIApplication()(scope, incoming.get, sent.put))
    assert (await asyncio.wait_for(sent.get(), 10))["type"] == "websocket.accept"
    report = json.loads((await asyncio.wait_for(sent.get(), 10))["text"])
    assert (await asyncio.wait_for(sent.get(), 10))["type"] == "websocket.close"
    incoming.put_nowait({"type": "websocket.disconnect", "code": 1000})
    await asyncio.wait_for(task, 10)
    return report  # type: ignore[no-any-return]


@pytest.fixture
def url_writes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    """The writes to Django's script prefix and URLconf locals, recorded."""
    writes: list[tuple[str, Any]] = []
    for name in ("set_script_prefix", "set_urlconf"):
        original = getattr(urls, name)

        def record(value: Any, name: str = name, original: Any = original) -> None:
            writes.append((name, value))
            original(value)

        monkeypatch.setattr(urls, name, record)
    return writes


async def test_the_url_locals_in_force_are_not_written_again(url_writes: list[Any]) -> None:
    # Each write would keep a dict in every idle socket's context.
    assert await _url_locals("") == ["/", None]
    assert url_writes == []


async def test_a_script_prefix_reaches_reverse(url_writes: list[Any]) -> None:
    assert await _url_locals("/sub") == ["/sub/", None]
    assert url_writes == [("set_script_prefix", "/sub/")]


async def test_stale_url_locals_are_reset_for_the_connection(url_writes: list[Any]) -> None:
    urls.set_script_prefix("/stale/")
    urls.set_urlconf("tests.project.elsewhere")
    try:
        assert await _url_locals("") == ["/", settings.ROOT_URLCONF]
    finally:
        urls.set_script_prefix("/")
        urls.set_urlconf(None)
