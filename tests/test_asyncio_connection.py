"""The asyncio driver against an in-memory ASGI server: how messages come in and go out.

Wire behaviour is tested on real servers (test_servers.py and the rest); here the driver's
own mechanics: receiving in the view's task, reading ahead while the view is away,
interrupting a pending receive to close, blocking threads, the idle timer.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from django_websocket import ConnectionClosed, ConnectionClosedError
from django_websocket.asyncio import connection as connection_module
from django_websocket.asyncio.asgi import ASGITransport
from django_websocket.asyncio.connection import Connection
from django_websocket.protocol import Protocol, State


class Server:
    """An ASGI server's two callables for one connection, in memory.

    ``drops_close_while_receiving`` plays granian, which drops a ``websocket.close``
    sent while a ``receive`` is pending.
    """

    def __init__(self, *, drops_close_while_receiving: bool = False) -> None:
        self.incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.sent: list[dict[str, Any]] = []
        self.receiving = 0
        self.drops_close_while_receiving = drops_close_while_receiving
        self.fail_sends = False

    def client_sends(self, *messages: str | bytes) -> None:
        for message in messages:
            key = "text" if isinstance(message, str) else "bytes"
            self.incoming.put_nowait({"type": "websocket.receive", key: message})

    def client_closes(self, code: int = 1000, reason: str = "") -> None:
        self.incoming.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})

    async def receive(self) -> dict[str, Any]:
        self.receiving += 1
        try:
            return await self.incoming.get()
        finally:
            self.receiving -= 1

    async def send(self, event: dict[str, Any]) -> None:
        if self.fail_sends:
            raise OSError("the client is gone")
        dropped = self.drops_close_while_receiving and self.receiving
        if event["type"] == "websocket.close" and dropped:
            return
        self.sent.append(event)

    @property
    def messages(self) -> list[str | bytes]:
        return [e.get("text", e.get("bytes")) for e in self.sent if e["type"] == "websocket.send"]

    @property
    def closes(self) -> list[tuple[int, str]]:
        return [(e["code"], e["reason"]) for e in self.sent if e["type"] == "websocket.close"]


def connect(server: Server, *, max_queue: int = 4, max_size: int = 1 << 20) -> Connection:
    transport = ASGITransport({"type": "websocket"}, server.receive, server.send)
    return Connection(transport, Protocol(max_queue=max_queue, max_size=max_size))


def other_tasks() -> set[asyncio.Task[Any]]:
    return asyncio.all_tasks() - {asyncio.current_task()}  # type: ignore[operator]


async def test_a_waiting_view_receives_in_its_own_task_with_no_reader() -> None:
    server = Server()
    connection = connect(server)
    server.client_sends("one", b"two")
    assert await connection.receive() == "one"
    assert await connection.receive() == b"two"
    assert other_tasks() == set()  # nothing between the server and the view
    assert server.sent[0]["type"] == "websocket.accept"  # the first receive accepted


async def test_messages_that_arrive_while_the_view_is_away_are_read_ahead_and_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(connection_module, "AWAY_CHECK", 0.01)
    server = Server()
    connection = connect(server, max_queue=3)
    server.client_sends("first")
    assert await connection.receive() == "first"
    server.client_sends("a", "b", "c", "d", "e")
    await asyncio.sleep(0.1)  # the view is away
    assert connection.count_messages() == 3  # read ahead, up to max_queue
    assert server.incoming.qsize() == 2  # the rest waits at the server: backpressure
    assert [await connection.receive() for _ in range(5)] == ["a", "b", "c", "d", "e"]
    await asyncio.sleep(0.05)
    server.client_sends("f")
    assert await connection.receive() == "f"


async def test_the_client_closing_while_the_view_is_away_is_noticed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(connection_module, "AWAY_CHECK", 0.01)
    server = Server()
    connection = connect(server)
    hooks: list[str] = []
    connection.protocol.on_close(lambda: hooks.append("ran"))
    server.client_sends("hi")
    assert await connection.receive() == "hi"
    server.client_closes(4001, "bye")
    await asyncio.sleep(0.1)
    assert hooks == ["ran"]
    assert (connection.protocol.state, connection.protocol.close_code) == (State.CLOSED, 4001)
    assert await connection.receive() is None


async def test_a_close_from_another_task_interrupts_the_views_pending_receive() -> None:
    server = Server(drops_close_while_receiving=True)
    connection = connect(server)
    await connection.accept()
    view = asyncio.create_task(connection.receive())
    await asyncio.sleep(0.01)
    assert server.receiving == 1
    await connection.close(1001, "server shutting down")
    assert server.closes == [(1001, "server shutting down")]  # not dropped
    assert await asyncio.wait_for(view, 1) is None  # the view goes on: no CancelledError
    assert not view.cancelled()


async def test_cancelling_the_view_still_cancels_it() -> None:
    server = Server()
    connection = connect(server)
    await connection.accept()
    view = asyncio.create_task(connection.receive())
    await asyncio.sleep(0.01)
    view.cancel()
    with pytest.raises(asyncio.CancelledError):
        await view


async def test_a_message_over_max_size_closes_with_1009() -> None:
    server = Server()
    connection = connect(server, max_size=4)
    server.client_sends("12345", "later")
    assert await connection.receive() is None
    assert server.closes == [(1009, "message too big")]
    assert connection.protocol.close_code == 1009


async def test_receive_with_a_timeout_raises_and_later_messages_still_arrive() -> None:
    server = Server()
    connection = connect(server)
    with pytest.raises(TimeoutError):
        await connection.receive(timeout=0.05)
    server.client_sends("late")
    assert await connection.receive(timeout=1) == "late"
    server.client_sends("direct again")
    assert await connection.receive() == "direct again"


async def test_async_iteration_ends_at_the_close() -> None:
    server = Server()
    connection = connect(server)
    server.client_sends("x")
    server.client_closes()
    assert await connection.__anext__() == "x"
    with pytest.raises(StopAsyncIteration):
        await connection.__anext__()


async def test_blocked_threads_are_woken_by_messages_and_all_by_the_close() -> None:
    server = Server()
    connection = connect(server)
    connection.read_ahead = True
    await connection.accept()
    loop = asyncio.get_running_loop()
    waiting = [loop.run_in_executor(None, connection.take_blocking, 5) for _ in range(3)]
    await asyncio.sleep(0.05)
    server.client_sends("one", "two")
    await asyncio.sleep(0.1)
    assert sorted(w.result() for w in waiting if w.done()) == ["one", "two"]
    server.client_closes()
    assert (await asyncio.gather(*waiting)).count(None) == 1


async def test_a_blocked_thread_times_out_and_leaves_no_stale_wake_up() -> None:
    server = Server()
    connection = connect(server)
    connection.read_ahead = True
    await connection.accept()
    loop = asyncio.get_running_loop()
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await loop.run_in_executor(None, connection.take_blocking, 0.1)
    assert time.monotonic() - started >= 0.1
    later = loop.run_in_executor(None, connection.take_blocking, 5)
    await asyncio.sleep(0.05)
    server.client_sends("for the second wait")
    # Woken by the message, not by its own 5 s timeout running out.
    assert await asyncio.wait_for(asyncio.shield(later), 1) == "for the second wait"


async def test_a_thread_taking_from_a_full_buffer_lets_the_reader_go_on() -> None:
    server = Server()
    connection = connect(server, max_queue=2)
    connection.read_ahead = True
    await connection.accept()
    server.client_sends("a", "b", "c")
    await asyncio.sleep(0.05)
    assert connection.count_messages() == 2
    taker = threading.Thread(target=connection.read_nowait)
    taker.start()
    taker.join()
    await asyncio.sleep(0.05)
    assert connection.count_messages() == 2  # "c" came in once there was room


async def test_the_idle_timer_closes_a_view_waiting_in_receive() -> None:
    server = Server(drops_close_while_receiving=True)
    connection = connect(server)
    connection.protocol.idle_timeout = 0.1
    assert await asyncio.wait_for(connection.receive(), 2) is None
    # The close task interrupts the view's receive first, then sends the close: the view
    # may run on before the close has gone out.
    for _ in range(200):
        if server.closes:
            break
        await asyncio.sleep(0.01)
    assert server.closes == [(1000, "idle timeout")]


async def test_send_on_a_dead_connection_is_connection_closed_1006() -> None:
    server = Server()
    connection = connect(server)
    await connection.accept()
    server.fail_sends = True
    with pytest.raises(ConnectionClosedError) as caught:
        await connection.send("x")
    assert caught.value.code == 1006


async def test_send_checks_the_type_and_the_state() -> None:
    server = Server()
    connection = connect(server)
    with pytest.raises(TypeError, match="str or bytes"):
        await connection.send(42)  # type: ignore[arg-type]
    await connection.send(b"bin")
    await connection.close(4000, "done")
    with pytest.raises(ConnectionClosed):
        await connection.send("late")
    assert server.messages == [b"bin"]


async def test_close_before_the_handshake_denies_with_403() -> None:
    server = Server()
    connection = connect(server)
    await connection.close()
    assert server.sent == [{"type": "websocket.close", "code": 1000}]  # the server's 403
    assert connection.protocol.state is State.CLOSED
