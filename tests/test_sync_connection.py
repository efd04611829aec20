"""The blocking driver over a socket pair: a websockets client protocol on the other end.

What it does with other threads (offers, closes, aborts) and its own reading; the wire
behaviour on gunicorn's workers is in test_wsgi.py.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from django.test import override_settings
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.uri import parse_uri

from django_websocket.framing import Framing
from django_websocket.protocol import Protocol, State
from django_websocket.sync.connection import Connection

# receive() tidies this thread's database connections between messages.
pytestmark = pytest.mark.django_db


class Client:
    """The client's side of the socket pair, with the websockets sans-I/O client."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.protocol = ClientProtocol(parse_uri("ws://testserver/"))

    def send_text(self, text: str) -> None:
        self.protocol.send_text(text.encode())
        self.sock.sendall(b"".join(self.protocol.data_to_send()))

    def frames(self, timeout: float = 5.0) -> list[Frame]:
        """Read what has come (at least one read) and return its frames."""
        self.sock.settimeout(timeout)
        self.protocol.receive_data(self.sock.recv(1 << 20))
        self.sock.sendall(b"".join(self.protocol.data_to_send()))  # pongs, close replies
        return [e for e in self.protocol.events_received() if isinstance(e, Frame)]

    def texts(self, count: int, timeout: float = 5.0) -> list[str]:
        texts: list[str] = []
        deadline = time.monotonic() + timeout
        while len(texts) < count and time.monotonic() < deadline:
            texts += [f.data.decode() for f in self.frames(timeout) if f.opcode is Opcode.TEXT]
        return texts


@pytest.fixture
def pair() -> Iterator[tuple[Connection, Client]]:
    server_sock, client_sock = socket.socketpair()
    client = Client(client_sock)
    request = client.protocol.connect()
    framing = Framing(
        request.serialize(), max_size=1 << 20, ping_interval=None, ping_timeout=None, now=0
    )
    connection = Connection(server_sock, framing, Protocol(max_queue=4, max_size=1 << 20))
    connection.accept()
    client.protocol.receive_data(client_sock.recv(65536))
    client.protocol.events_received()
    yield connection, client
    server_sock.close()
    client_sock.close()


def in_thread(target: object, *args: object) -> tuple[threading.Thread, list[object]]:
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(target(*args)), daemon=True)  # type: ignore[operator]
    thread.start()
    return thread, result


def test_receive_and_send_in_the_owners_thread(pair: tuple[Connection, Client]) -> None:
    connection, client = pair
    client.send_text("hello")
    assert connection.receive(timeout=5) == "hello"
    connection.send("back")
    assert client.texts(1) == ["back"]


def test_receive_times_out(pair: tuple[Connection, Client]) -> None:
    connection, _ = pair
    with pytest.raises(TimeoutError):
        connection.receive(timeout=0.05)


def test_count_messages_reads_what_has_come_without_waiting(
    pair: tuple[Connection, Client],
) -> None:
    connection, client = pair
    assert connection.count_messages() == 0
    client.send_text("a")
    client.send_text("b")
    time.sleep(0.05)
    assert connection.count_messages() == 2
    assert (connection.read(), connection.read(), connection.read()) == ("a", "b", None)


@override_settings(WEBSOCKET_GROUP_BUFFER=1000)
def test_an_offer_from_another_thread_is_written_at_once_while_the_owner_waits(
    pair: tuple[Connection, Client],
) -> None:
    connection, client = pair
    connection.join("news")  # (an in-memory group; the offer below is what it does)
    waiting, result = in_thread(connection.receive, 5)
    time.sleep(0.05)
    assert connection.offer("from a broadcast") is True
    assert client.texts(1) == ["from a broadcast"]  # the owner is still in receive()
    client.send_text("done")
    waiting.join(5)
    assert result == ["done"]


@override_settings(WEBSOCKET_GROUP_BUFFER=1000)
def test_what_a_full_socket_cannot_take_the_waiting_owner_writes_as_it_drains(
    pair: tuple[Connection, Client],
) -> None:
    connection, client = pair
    connection.join("news")
    waiting, _ = in_thread(connection.receive, 10)
    big = "x" * 65536
    for _ in range(40):  # far more than the socket pair buffers
        assert connection.offer(big) is True
    assert connection._pending  # the rest waits, unwritten
    # The client reads; no more offers come, yet everything arrives: the owner, woken,
    # writes as the socket drains.
    assert len(client.texts(40, timeout=10)) == 40
    client.send_text("stop")
    waiting.join(5)


def test_a_close_from_another_thread_ends_the_owners_wait(
    pair: tuple[Connection, Client],
) -> None:
    connection, client = pair
    waiting, result = in_thread(connection.receive, 5)
    time.sleep(0.05)
    connection.close(1001, "server shutting down")
    [close] = client.frames()  # the client's protocol answers it
    assert close.opcode is Opcode.CLOSE
    waiting.join(5)
    assert result == [None]
    assert connection.protocol.close_code == 1001


def test_abort_wakes_a_blocked_receive_at_once(pair: tuple[Connection, Client]) -> None:
    connection, _ = pair
    waiting, result = in_thread(connection.receive, None)
    time.sleep(0.05)
    started = time.monotonic()
    connection.abort()
    waiting.join(5)
    assert result == [None] and time.monotonic() - started < 1
    assert connection.protocol.close_code == 1006


def test_the_idle_timeout_closes_with_1000(pair: tuple[Connection, Client]) -> None:
    connection, client = pair
    connection.protocol.idle_timeout = 0.1
    assert connection.receive(timeout=5) is None
    assert connection.protocol.state is State.CLOSED
    [close] = client.frames()
    assert close.data == b"\x03\xe8idle timeout"
