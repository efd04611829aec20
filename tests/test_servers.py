"""The same behaviours on every supported ASGI server, each run as a real process.

Where a server cannot do something, the test asserts what it really does, with a comment;
docs/deployment.md has the same findings as a table.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from django_websocket.asgi import ASGIApplication

from .conftest import SERVERS, Server, serve

ONE_MIB = 1024 * 1024  # the default WEBSOCKET_MAX_MESSAGE_SIZE


def ready(server: Server) -> Server:
    """Wait until a worker answers HTTP (gunicorn and granian bind before workers boot)."""
    deadline = time.monotonic() + 60
    while True:
        with contextlib.suppress(OSError):  # refused, reset or timed out: not ready yet
            if server.get("/http_ok/")[0] == 200:
                return server
        if time.monotonic() > deadline:
            raise RuntimeError(f"server never answered:\n{server.log()}")
        time.sleep(0.2)


@pytest.fixture(scope="module", params=SERVERS)
def running(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """The test project on each server with its default options."""
    with serve(tmp_path_factory.mktemp(request.param), kind=request.param) as server:
        yield ready(server)


def closed_with(ws: ClientConnection) -> tuple[int | None, str | None]:
    """Read until the server closes; return the close code and reason the client got."""
    with pytest.raises(ConnectionClosed):
        while True:
            ws.recv(timeout=10)
    return ws.close_code, ws.close_reason


# --- The seed's two examples and an async view. ---------------------------------------


def test_echo_once_echoes_one_message_then_closes_1000(running: Server) -> None:
    with connect(f"{running.ws}/echo_once/", open_timeout=20) as ws:
        ws.send("Hello, World")
        assert ws.recv(timeout=10) == "Hello, World"
        assert closed_with(ws) == (1000, "")


def test_lower_case_over_websocket_and_http(running: Server) -> None:
    with connect(f"{running.ws}/lower_case/", open_timeout=20) as ws:
        for message in ["HeLLo", "ÀÉÎ"]:
            ws.send(message)
            assert ws.recv(timeout=10) == message.lower()
    assert running.get("/lower_case/?message=ShOuT")[::2] == (200, b"shout")
    assert running.get("/echo_once/")[0] == 426  # require_websocket, over plain HTTP


def test_async_view_echoes_text_and_binary(running: Server) -> None:
    if running.kind == "gevent":
        # asyncio allows one running loop per OS thread, and gevent's greenlets share
        # one: async views are refused there, with a 503 that says what to do.
        with pytest.raises(InvalidStatus) as caught:
            connect(f"{running.ws}/async_echo/", open_timeout=20)
        assert caught.value.response.status_code == 503
        assert b"write it as a sync view" in caught.value.response.body
        return
    with connect(f"{running.ws}/async_echo/", open_timeout=20) as ws:
        for message in ["one", b"\x00two"]:
            ws.send(message)
            assert ws.recv(timeout=10) == message


# --- Handshakes. ----------------------------------------------------------------------


def test_denial_response(running: Server) -> None:
    with pytest.raises(InvalidStatus) as caught:
        connect(f"{running.ws}/deny/", open_timeout=20)
    response = caught.value.response
    if running.kind in {"daphne", "gunicorn-asgi"}:
        # Neither has the websocket.http.response extension: a bare close, which each
        # answers with 403 and no body.
        assert (response.status_code, response.body) == (403, b"")
    else:
        assert (response.status_code, response.body) == (418, b"no entry")
        assert response.headers["X-Why"] == "teapot"


@pytest.mark.parametrize(
    ("offered", "chosen"), [(["chat.v1", "chat.v2"], "chat.v2"), (["chat.v1"], "chat.v1")]
)
def test_subprotocol_negotiation(running: Server, offered: list[str], chosen: str) -> None:
    with connect(f"{running.ws}/negotiated/", subprotocols=offered, open_timeout=20) as ws:
        assert ws.subprotocol == chosen
        assert ws.recv(timeout=10) == repr(chosen)


def test_permessage_deflate(running: Server) -> None:
    # The websockets client offers permessage-deflate; which servers take it up.
    with connect(f"{running.ws}/lower_case/", open_timeout=20) as ws:
        negotiated = ws.response.headers.get("Sec-WebSocket-Extensions", "")
    if running.kind in {"daphne", "granian", "gunicorn-asgi"}:
        assert negotiated == ""  # none of them negotiates compression
    else:
        assert negotiated.startswith("permessage-deflate")


# --- Close codes and reasons. ----------------------------------------------------------


@pytest.mark.parametrize(("code", "reason"), [(4000, "x"), (1008, "é")])
def test_close_code_and_reason_reach_the_client(running: Server, code: int, reason: str) -> None:
    query = urllib.parse.urlencode({"code": code, "reason": reason})
    with connect(f"{running.ws}/close_with/?{query}", open_timeout=20) as ws:
        got = closed_with(ws)
    if running.kind == "daphne":
        # Daphne drops close reasons, and autobahn under it refuses codes other than
        # 1000 and 3000-4999: the library closes with 1000 instead.
        assert got == ((code if code >= 3000 else 1000), "")
    else:
        assert got == (code, reason)


def test_client_close_code_and_reason_reach_the_view(running: Server) -> None:
    with connect(f"{running.ws}/client_goes_away/", open_timeout=20) as ws:
        assert ws.recv(timeout=10) == "ready"
        ws.close(4002, "leaving")
    # Views record in their own process (gunicorn has two): poll until the event arrives.
    deadline, seen = time.monotonic() + 30, []
    while not seen and time.monotonic() < deadline:
        seen = [e for e in running.events() if e.get("view") == "client_goes_away" and "wait" in e]
        time.sleep(0.05)
    [event] = seen
    assert event["wait"] is None  # wait() woke up with None
    expected = {
        "uvicorn": (4002, "leaving"),
        "gunicorn": (4002, "leaving"),
        # gunicorn's own ASGI worker passes the code on, not the reason.
        "gunicorn-asgi": (4002, ""),
        # hypercorn reports every client-initiated close as 1006 to the application.
        "hypercorn": (1006, ""),
        # daphne and granian pass the code on, not the reason.
        "daphne": (4002, ""),
        "granian": (4002, ""),
        # The WSGI driver reads the close frame itself.
        "gthread": (4002, "leaving"),
        "gevent": (4002, "leaving"),
    }
    assert (event["code"], event["reason"]) == expected[running.kind]


# --- Messages. -------------------------------------------------------------------------


def test_text_and_binary_frames_keep_their_type(running: Server) -> None:
    with connect(f"{running.ws}/types/", open_timeout=20) as ws:
        ws.send("text")
        assert (ws.recv(timeout=10), ws.recv(timeout=10)) == ("str", "text")
        ws.send(b"\x00\xffbin")
        assert (ws.recv(timeout=10), ws.recv(timeout=10)) == ("bytes", b"\x00\xffbin")


@pytest.mark.parametrize("message", [b"x" * ONE_MIB, "é" * (ONE_MIB // 2)], ids=["bytes", "text"])
def test_a_message_of_exactly_the_default_limit_round_trips(
    running: Server, message: str | bytes
) -> None:
    # Every server's own default limit is at least 1 MiB (daphne's is exactly 1 MiB).
    with connect(f"{running.ws}/types/", max_size=None, open_timeout=20) as ws:
        ws.send(message)
        assert ws.recv(timeout=30) == type(message).__name__
        assert ws.recv(timeout=30) == message


def test_one_byte_more_closes_the_connection(running: Server) -> None:
    with connect(f"{running.ws}/types/", max_size=None, open_timeout=20) as ws:
        ws.send(b"x" * (ONE_MIB + 1))
        got = closed_with(ws)
    if running.kind == "daphne":
        # Daphne's own limit (--websocket-max-message-size, 1 MiB) drops the TCP
        # connection before the library sees the message: no close frame.
        assert got == (1006, "")
    else:
        assert got == (1009, "message too big")  # the library's limit


# --- Graceful shutdown. ----------------------------------------------------------------


SHUTDOWN_CLOSE = {
    # uvicorn would close every WebSocket itself with 1012 before lifespan "shutdown";
    # the library's signal handler (shutdown.py) closes them first, with 1001. gunicorn's
    # uvicorn workers are uvicorn. The views see the close and end.
    "uvicorn": (1001, "server shutting down"),
    "gunicorn": (1001, "server shutting down"),
}


def closes_at_sigterm(server: Server, echo: str = "/async_echo/") -> list[tuple[int, str]]:
    """Hold three sync views blocked in ``wait()`` and three echoes, then SIGTERM the server.

    Returns how each of the six sockets was closed (code, reason).
    """
    with contextlib.ExitStack() as stack:
        holding = [stack.enter_context(connect(f"{server.ws}/hold/")) for _ in range(3)]
        echoing = [stack.enter_context(connect(f"{server.ws}{echo}")) for _ in range(3)]
        for ws in holding:
            assert ws.recv(timeout=10) == "holding"
        for ws in echoing:
            ws.send("here")
            assert ws.recv(timeout=10) == "here"
        server.process.send_signal(signal.SIGTERM)
        return [closed_with(ws) for ws in holding + echoing]


@pytest.mark.parametrize("server_kind", list(SHUTDOWN_CLOSE))
def test_sigterm_closes_every_connection_and_exits(tmp_path, server_kind: str) -> None:
    with serve(tmp_path, kind=server_kind) as server:
        closes = closes_at_sigterm(ready(server))
        assert closes == [SHUTDOWN_CLOSE[server_kind]] * 6
        # Sync views blocked in wait() woke up (None) and returned: the process exits.
        server.process.wait(30)
    assert "Internal Server Error" not in server.log()


def test_sigterm_on_gunicorns_asgi_worker_drops_sockets_at_the_graceful_timeout(tmp_path) -> None:
    # gunicorn's own ASGI worker takes SIGTERM with loop.add_signal_handler (nothing the
    # library can chain in front of), stops accepting and waits --graceful-timeout for
    # every connection to end by itself; the master kills it at that same timeout,
    # before its lifespan "shutdown" (and so the library's 1001) runs: no close frame.
    with serve(tmp_path, "--graceful-timeout", "3", kind="gunicorn-asgi") as server:
        assert closes_at_sigterm(ready(server)) == [(1006, "")] * 6
        server.process.wait(30)
    assert "Waiting for" in server.log()  # the worker's own graceful wait
    assert "Internal Server Error" not in server.log()


def test_a_second_sigint_still_forces_uvicorn_to_exit(tmp_path) -> None:
    with serve(tmp_path) as server, connect(f"{server.ws}/sleep_through_close/") as ws:
        assert ws.recv(timeout=10) == "sleeping"
        server.process.send_signal(signal.SIGINT)
        assert closed_with(ws) == (1001, "server shutting down")  # Ctrl-C: 1001 too
        # The view sleeps on (60 s) and uvicorn waits for it, until a second Ctrl-C.
        with pytest.raises(subprocess.TimeoutExpired):
            server.process.wait(1)
        server.process.send_signal(signal.SIGINT)
        server.process.wait(10)


async def test_lifespan_shutdown_closes_sockets_still_open_with_1001() -> None:
    # Servers that send lifespan "shutdown" while sockets are open (not uvicorn, see
    # above) get them closed with 1001; views blocked in wait() wake up and end.
    app = ASGIApplication()
    sockets = []
    for path in ["/hold/", "/async_echo/"]:
        incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        sent: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        scope = {
            "type": "websocket",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"testserver")],
            "scheme": "ws",
            "server": ("testserver", 80),
            "client": ("127.0.0.1", 50000),
            "subprotocols": [],
        }
        incoming.put_nowait({"type": "websocket.connect"})
        task = asyncio.create_task(app(scope, incoming.get, sent.put))
        assert (await asyncio.wait_for(sent.get(), 10))["type"] == "websocket.accept"
        sockets.append((task, incoming, sent))
    [(_, _, hold_sent), (_, echo_incoming, echo_sent)] = sockets
    assert (await asyncio.wait_for(hold_sent.get(), 10))["text"] == "holding"
    echo_incoming.put_nowait({"type": "websocket.receive", "text": "here"})
    assert (await asyncio.wait_for(echo_sent.get(), 10))["text"] == "here"

    lifespan_in: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    lifespan_out: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    lifespan = asyncio.create_task(app({"type": "lifespan"}, lifespan_in.get, lifespan_out.put))
    lifespan_in.put_nowait({"type": "lifespan.startup"})
    assert (await asyncio.wait_for(lifespan_out.get(), 10))["type"] == "lifespan.startup.complete"
    lifespan_in.put_nowait({"type": "lifespan.shutdown"})
    done = await asyncio.wait_for(lifespan_out.get(), 10)
    assert done["type"] == "lifespan.shutdown.complete"
    await asyncio.wait_for(lifespan, 10)

    for task, incoming, sent in sockets:
        close = await asyncio.wait_for(sent.get(), 10)
        assert close == {"type": "websocket.close", "code": 1001, "reason": "server shutting down"}
        incoming.put_nowait({"type": "websocket.disconnect", "code": 1001})
        await asyncio.wait_for(task, 10)  # the view ended: the sync one woke from wait()
