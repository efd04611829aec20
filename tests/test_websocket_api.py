"""request.websocket's methods, sync and async.

What crosses the wire (frame types, sizes, close frames, a client leaving) is tested
against uvicorn with the websockets client; the rest of the API with the in-process test
client.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from django_websocket.testing import AsyncWebSocketClient, WebSocketClient

from .conftest import Server


def test_text_arrives_as_str_and_binary_as_bytes_and_goes_back_the_same(server: Server) -> None:
    with connect(f"{server.ws}/types/") as ws:
        ws.send("text")
        assert (ws.recv(timeout=5), ws.recv(timeout=5)) == ("str", "text")
        ws.send(b"\x00\xffbin")
        assert (ws.recv(timeout=5), ws.recv(timeout=5)) == ("bytes", b"\x00\xffbin")


def test_large_message_round_trips(server: Server) -> None:
    payload = b"x" * (512 * 1024)
    with connect(f"{server.ws}/types/", max_size=None) as ws:
        ws.send(payload)
        assert ws.recv(timeout=5) == "bytes"
        assert ws.recv(timeout=5) == payload


def test_count_has_and_read_see_buffered_messages() -> None:
    with WebSocketClient().websocket("/buffered/") as ws:
        ws.send("go")
        for message in ["a", "b", "c"]:
            ws.send(message)
        report = ws.wait_json()
    assert report["after"] == {"count": 3, "has": True}
    assert report["read"] == ["a", "b", "c"]
    assert report["read_empty"] is None


def test_wait_with_timeout_raises_timeout_error() -> None:
    with WebSocketClient().websocket("/timeout/") as ws:
        assert ws.wait() == "timed out"


def test_send_json_and_wait_json_round_trip() -> None:
    with WebSocketClient().websocket("/json_echo/") as ws:
        ws.send_json({"n": [1, 2]})
        assert ws.wait_json() == {"got": {"n": [1, 2]}}


@pytest.mark.parametrize(("code", "reason"), [(1000, ""), (4000, "custom reason"), (1008, "é")])
def test_close_sends_code_and_reason(server: Server, code: int, reason: str) -> None:
    server.events()
    query = urllib.parse.urlencode({"code": code, "reason": reason})
    with connect(f"{server.ws}/close_with/?{query}") as ws, pytest.raises(ConnectionClosed):
        ws.recv(timeout=5)
    assert (ws.close_code, ws.close_reason) == (code, reason)
    [event] = server.wait_for_events(1)
    assert event == {"view": "close_with", "closed": True, "code": code}


def test_close_with_a_reserved_code_raises_value_error() -> None:
    with WebSocketClient().websocket("/bad_close/") as ws:
        assert str(ws.wait()).startswith("ValueError: 1005")


def test_view_returning_closes_with_1000(server: Server) -> None:
    with connect(f"{server.ws}/returns/") as ws:
        assert ws.recv(timeout=5) == "bye"
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
    assert ws.close_code == 1000


def test_view_returning_untouched_accepts_and_closes_with_1000(server: Server) -> None:
    with connect(f"{server.ws}/returns_untouched/") as ws, pytest.raises(ConnectionClosed):
        ws.recv(timeout=5)
    assert ws.close_code == 1000


def test_client_going_away_ends_wait_and_send_raises_quietly(server: Server) -> None:
    server.events()
    log_before = len(server.log())
    with connect(f"{server.ws}/client_goes_away/") as ws:
        assert ws.recv(timeout=5) == "ready"
        ws.close(4002, "leaving")
    events = server.wait_for_events(2)
    assert events[0] == {
        "view": "client_goes_away",
        "wait": None,
        "closed": True,
        "code": 4002,
        "reason": "leaving",
    }
    assert events[1] == {
        "view": "client_goes_away",
        "send_raised": "ConnectionClosedError",
        "code": 4002,
    }
    time.sleep(0.2)
    new_log = server.log()[log_before:]
    assert "Traceback" not in new_log  # the escaping ConnectionClosed is not an error
    assert "Error" not in new_log


def test_async_view_echoes(server: Server) -> None:
    with connect(f"{server.ws}/async_echo/") as ws:
        for message in ["one", b"two"]:
            ws.send(message)
            assert ws.recv(timeout=5) == message


async def test_async_view_gets_the_same_methods_awaited() -> None:
    client = AsyncWebSocketClient()
    async with client.websocket("/async_api/", subprotocols=["proto.a"]) as ws:
        await ws.send("first")
        await ws.send("second")
        await asyncio.sleep(0.5)
        await ws.send(json.dumps([1, "x"]))
        report = await ws.wait_json()
        assert await ws.wait() == b"\x00binary"
        assert await ws.wait() is None  # the view closed
    assert report == {
        "first": "first",
        "counted": {"count": 1, "has": True},
        "second": "second",
        "nothing": None,
        "timed_out": True,
        "json": [1, "x"],
        "subprotocol": "proto.a",
        "kind": "AsyncWebSocket",
    }
    assert (ws.close_code, ws.close_reason) == (4001, "async done")


def test_async_accept_websocket_serves_http_too(server: Server) -> None:
    assert server.get("/async_both/")[2] == b"async http"
    with connect(f"{server.ws}/async_both/") as ws:
        assert ws.recv(timeout=5) == "async websocket"
