"""A slow client never slows the others: per-socket outboxes and the slow-client policy."""

from __future__ import annotations

import base64
import os
import socket
import threading
import time
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from .conftest import Server, serve
from .test_groups import member, send_to, wait_for_size

SIZE = 128 * 1024  # big messages fill the socket buffers of a client that stops reading
ENV = {"TEST_WEBSOCKET_GROUP_BUFFER": "64"}  # room for a fast reader that lags a little


def small_socket(server: Server) -> socket.socket:
    """A socket to the server with a small receive buffer, so not reading shows soon."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.port))
    return sock


def raw_member(server: Server, group: str) -> socket.socket:
    """Join ``group`` over a raw socket that never reads a byte."""
    sock = small_socket(server)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET /group_member/?group={group} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    return sock


def slow_client(server: Server, group: str) -> ClientConnection:
    """Join ``group`` with a websockets client that stops reading once a message waits."""
    return connect(
        f"{server.ws}/group_member/?group={group}",
        sock=small_socket(server),
        max_queue=1,
        max_size=None,
        compression=None,  # dots compress to nothing: keep the frames big
    )


class Reader(threading.Thread):
    """Read a client's messages as fast as they come; keep their numbers."""

    def __init__(self, ws: ClientConnection) -> None:
        super().__init__(daemon=True)
        self.ws = ws
        self.numbers: list[int] = []

    def run(self) -> None:
        try:
            for message in self.ws:
                self.numbers.append(int(str(message).rstrip(".")))
        except ConnectionClosed:
            pass

    def wait_for(self, count: int) -> list[int]:
        deadline = time.monotonic() + 60
        while len(self.numbers) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.numbers


def flood_until_slow_is_out(server: Server, group: str) -> tuple[int, list[int]]:
    """Broadcast numbered big messages until only the fast member takes them, then 20 more.

    Returns how many were broadcast and the counts the broadcasts returned.
    """
    counts: list[int] = []
    sent = 0
    extra = None
    while sent < 1000 and (extra is None or extra > 0):
        counts.append(send_to(server, group, str(sent), size=str(SIZE))[1]["count"])
        sent += 1
        if counts[-1] == 1:
            extra = 20 if extra is None else extra - 1
    return sent, counts


def test_slow_socket_loses_messages_while_fast_one_gets_all(tmp_path: Path) -> None:
    with serve(tmp_path, **ENV, TEST_WEBSOCKET_SLOW_CLIENT="drop") as server:
        slow = raw_member(server, "flood")
        try:
            with member(server, "flood") as fast:
                assert wait_for_size(server, "flood", 2) == 2
                reader = Reader(fast)
                reader.start()
                sent, counts = flood_until_slow_is_out(server, "flood")
                assert counts[0] == 2  # at first both took it
                assert counts[-1] == 1  # then the slow one's outbox was full: dropped
                assert reader.wait_for(sent) == list(range(sent))  # fast: all, in order
                # "drop" keeps the slow socket in the group; it only missed messages.
                assert wait_for_size(server, "flood", 2) == 2
        finally:
            slow.close()


def test_slow_socket_is_closed_with_1013_under_close_policy(tmp_path: Path) -> None:
    with (
        serve(tmp_path, **ENV, TEST_WEBSOCKET_SLOW_CLIENT="close") as server,
        member(server, "flood") as fast,
        slow_client(server, "flood") as slow,
    ):
        assert slow.recv(timeout=10) == "joined"
        reader = Reader(fast)
        reader.start()
        sent, counts = flood_until_slow_is_out(server, "flood")
        assert counts[0] == 2 and counts[-1] == 1
        assert wait_for_size(server, "flood", 1) == 1  # the slow one left the group
        assert reader.wait_for(sent) == list(range(sent))
        assert "group buffer is full (slow client)" in server.log()
        # The slow client reads at last: what was buffered, then the end. The 1013
        # close frame waits behind the full socket buffers; the connection may drop
        # first (1006), as the view ends once its socket is closed.
        with pytest.raises(ConnectionClosed):
            while True:
                slow.recv(timeout=30)
