"""Message size and idle limits, against a real server."""

from __future__ import annotations

import time

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from .conftest import Server

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
