"""Message size, rate and idle limits, against a real server."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from .conftest import Server, serve

MIB = 1024 * 1024


def test_oversized_message_closes_1009_and_other_connections_carry_on(server: Server) -> None:
    server.events()
    with connect(f"{server.ws}/async_echo/") as bystander:
        with connect(f"{server.ws}/size_report/", max_size=None) as ws:
            ws.send(b"x" * MIB)  # exactly the limit: fine
            assert ws.recv(timeout=10) == str(MIB)
            ws.send(b"x" * (MIB + 1))
            with pytest.raises(ConnectionClosed):
                ws.recv(timeout=10)
        assert (ws.close_code, ws.close_reason) == (1009, "message too big")
        bystander.send("still here")
        assert bystander.recv(timeout=5) == "still here"
    assert server.wait_for_events(1) == [
        {"view": "size_report", "code": 1009, "reason": "message too big"}
    ]


def test_text_size_counts_utf8_bytes(server: Server) -> None:
    with connect(f"{server.ws}/size_report/", max_size=None) as ws:
        ws.send("é" * (MIB // 2))  # 1 MiB in UTF-8
        assert ws.recv(timeout=10) == str(MIB // 2)
        ws.send("é" * (MIB // 2 + 1))
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)
    assert ws.close_code == 1009


def test_idle_timeout_closes_a_silent_client(server: Server) -> None:
    server.events()
    with connect(f"{server.ws}/idle/") as ws:
        ws.send("ping")
        assert ws.recv(timeout=5) == "ping"
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)  # nothing sent: closed after 0.5 s of silence
    assert (ws.close_code, ws.close_reason) == (1000, "idle timeout")
    assert server.wait_for_events(1) == [{"view": "idle", "code": 1000, "reason": "idle timeout"}]


def test_idle_timeout_spares_a_client_that_keeps_talking(server: Server) -> None:
    with connect(f"{server.ws}/idle/") as ws:
        for n in range(8):  # 1.6 s of traffic against a 0.5 s idle timeout
            ws.send(str(n))
            assert ws.recv(timeout=5) == str(n)
            time.sleep(0.2)
        assert ws.close_code is None


# -- The rate limit: the views allow 5 messages an hour, the setting 3 ----------------


@pytest.fixture(scope="module", params=["uvicorn", "gthread"])
def limited_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """The test project with WEBSOCKET_RATE_LIMIT = "3/h", on uvicorn and on gunicorn gthread."""
    tmp_path: Path = tmp_path_factory.mktemp(f"rate-{request.param}")
    with serve(tmp_path, kind=request.param, TEST_WEBSOCKET_RATE_LIMIT="3/h") as running:
        yield running


def flood(server: Server, view: str, result: dict[str, object]) -> None:
    """Send as fast as possible until the server closes; keep what came back."""
    with connect(f"{server.ws}/{view}/") as ws:
        with contextlib.suppress(ConnectionClosed):
            for n in range(2000):
                ws.send(f"m{n}")
        echoes = []
        with contextlib.suppress(ConnectionClosed):
            while True:
                echoes.append(ws.recv(timeout=20))
    result.update(echoes=echoes, close=(ws.close_code, ws.close_reason))


@pytest.mark.parametrize("view", ["rate_limited", "async_rate_limited"])
def test_a_flood_past_the_rate_limit_closes_1008_and_costs_a_bystander_nothing(
    limited_server: Server, view: str
) -> None:
    with connect(f"{limited_server.ws}/unlimited/") as bystander:
        bystander.send("before")
        assert bystander.recv(timeout=10) == "before"
        result: dict[str, object] = {}
        flooder = threading.Thread(target=flood, args=(limited_server, view, result))
        flooder.start()
        said = 0
        while flooder.is_alive() or said < 20:  # round trips during the flood, and after
            bystander.send(f"b{said}")
            assert bystander.recv(timeout=10) == f"b{said}"
            said += 1
        flooder.join()
        assert bystander.close_code is None  # still open, every answer in order
    # The bucket held 5: the view got exactly 5 messages, then the 6th closed the
    # connection. (What the view answers depends on how far the server read ahead: the
    # close may come first.)
    assert result["close"] == (1008, "rate limit exceeded")
    echoes = result["echoes"]
    assert isinstance(echoes, list) and echoes == [f"m{n}" for n in range(len(echoes))]
    assert limited_server.wait_for_events(1) == [
        {"view": view, "received": 5, "code": 1008, "reason": "rate limit exceeded"}
    ]


def test_the_rate_limit_setting_applies_to_views_without_their_own(limited_server: Server) -> None:
    with connect(f"{limited_server.ws}/async_echo/") as ws:
        for n in range(3):  # the bucket's 3, one at a time: fine
            ws.send(str(n))
            assert ws.recv(timeout=10) == str(n)
        ws.send("one too many")
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)
    assert (ws.close_code, ws.close_reason) == (1008, "rate limit exceeded")


def test_rate_limit_false_exempts_a_view_from_the_setting(limited_server: Server) -> None:
    with connect(f"{limited_server.ws}/unlimited/") as ws:
        for n in range(50):
            ws.send(str(n))
        assert [ws.recv(timeout=10) for _ in range(50)] == [str(n) for n in range(50)]
        assert ws.close_code is None


def test_messages_within_the_rate_limit_are_answered(server: Server) -> None:
    server.events()
    with connect(f"{server.ws}/rate_limited/") as ws:
        for n in range(5):
            ws.send(str(n))
            assert ws.recv(timeout=10) == str(n)
        ws.send("6th")
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)
    assert (ws.close_code, ws.close_reason) == (1008, "rate limit exceeded")
    assert server.wait_for_events(1) == [
        {"view": "rate_limited", "received": 5, "code": 1008, "reason": "rate limit exceeded"}
    ]
