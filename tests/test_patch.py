"""Django's own ``asgi.py`` serves WebSocket views once the app is installed (patch.py).

The same behaviours on uvicorn, as a real process, for the ``asgi.py`` that
``startproject`` writes (``django.core.asgi``) and for the library's own.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.handlers.asgi import ASGIHandler
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from django_websocket.asgi import ASGIApplication, WebSocketHandler
from django_websocket.patch import is_widened, widen_asgi_handler

from .conftest import Server, serve

APPS = {
    "django": "tests.project.asgi_django:application",  # startproject's asgi.py
    "library": "tests.project.asgi:application",  # django_websocket.asgi
}


@pytest.fixture(scope="module", params=sorted(APPS))
def running(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    with serve(tmp_path_factory.mktemp(request.param), app=APPS[request.param]) as server:
        yield server


def test_both_asgi_py_serve_sync_and_async_views(running: Server) -> None:
    for path in ("echo_once", "async_echo"):
        with connect(f"{running.ws}/{path}/", open_timeout=10) as ws:
            ws.send("Hello")
            assert ws.recv(timeout=10) == "Hello"
    assert running.get("/lower_case/?message=HTTP")[::2] == (200, b"http")
    assert running.get("/echo_once/")[0] == 426
    assert "Exception in ASGI application" not in running.log()


def test_both_asgi_py_deny_with_the_views_response(running: Server) -> None:
    with pytest.raises(InvalidStatus) as caught:
        connect(f"{running.ws}/deny/", open_timeout=10)
    response = caught.value.response
    assert (response.status_code, response.body) == (418, b"no entry")


def test_djangos_asgi_py_closes_sockets_with_1001_on_sigterm(tmp_path: Any) -> None:
    # The lifespan scope reaches the library too, so its shutdown runs before uvicorn's.
    with serve(tmp_path, app=APPS["django"]) as server:
        with connect(f"{server.ws}/hold/", open_timeout=10) as ws:
            assert ws.recv(timeout=10) == "holding"
            server.process.send_signal(signal.SIGTERM)
            with pytest.raises(ConnectionClosed):
                ws.recv(timeout=10)
        assert (ws.close_code, ws.close_reason) == (1001, "server shutting down")
        server.process.wait(10)  # and the server stops


def test_the_app_widens_djangos_handler_once_and_leaves_subclasses_alone() -> None:
    assert is_widened()  # ready() ran: the test project installs the app
    widened = ASGIHandler.__call__
    widen_asgi_handler()
    assert ASGIHandler.__call__ is widened
    assert WebSocketHandler.__call__ is not widened


async def test_a_widened_handler_routes_websocket_scopes_to_one_application() -> None:
    handler = ASGIHandler()
    sent: list[dict[str, Any]] = []
    events = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])

    async def receive() -> dict[str, Any]:
        return next(events)

    async def send(event: dict[str, Any]) -> None:
        sent.append(event)

    await handler({"type": "lifespan"}, receive, send)
    assert [event["type"] for event in sent] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]
    application = handler._django_websocket_application  # type: ignore[attr-defined]
    assert isinstance(application, ASGIApplication)
    assert application.http_handler is handler  # HTTP stays on the user's handler
    with pytest.raises(ValueError, match="not spdy"):  # other scopes: Django's answer
        await handler({"type": "spdy"}, receive, send)
