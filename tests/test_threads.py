"""A connection's thread for sync code exists only while that code runs (asyncio/threads.py)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from websockets.asyncio.client import connect

from django_websocket.asyncio import threads
from django_websocket.asyncio.threads import ConnectionThread, current_thread, thread_sensitive

from .conftest import serve


def _until(condition, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return bool(condition())


def test_calls_run_one_at_a_time_in_order() -> None:
    executor = ConnectionThread()
    running = []
    order = []

    def call(n: int) -> int:
        running.append(n)
        assert len(running) == 1  # never two at once
        time.sleep(0.01)
        order.append(n)
        running.remove(n)
        return n

    futures = [executor.submit(call, n) for n in range(5)]
    assert [future.result(5) for future in futures] == [0, 1, 2, 3, 4]
    assert order == [0, 1, 2, 3, 4]
    executor.shutdown()


def test_the_connection_lets_go_of_its_thread_once_the_view_waits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(threads, "SPARES", 0)  # no spare kept: the thread ends
    executor = ConnectionThread()
    first = executor.submit(threading.current_thread).result(5)
    assert executor.running
    executor.idle()
    assert _until(lambda: not executor.running and not first.is_alive())
    second = executor.submit(threading.current_thread).result(5)
    assert second is not first
    executor.shutdown()
    assert _until(lambda: not second.is_alive())


def test_a_thread_let_go_of_serves_the_next_connection_as_a_spare() -> None:
    executor = ConnectionThread()
    first = executor.submit(threading.current_thread).result(5)
    executor.idle()
    assert _until(lambda: not executor.running and threads._spares)
    other = ConnectionThread()
    assert other.submit(threading.current_thread).result(5) is first  # woken, not started
    other.shutdown()
    executor.shutdown()


def test_a_spare_ends_after_its_linger(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads, "SPARE_LINGER", 0.05)
    executor = ConnectionThread()
    first = executor.submit(threading.current_thread).result(5)
    executor.shutdown()
    assert _until(lambda: not first.is_alive())


def test_idle_without_calls_since_starts_no_thread() -> None:
    executor = ConnectionThread()
    executor.idle()
    assert not executor.running
    executor.submit(int).result(5)
    executor.idle()
    assert _until(lambda: not executor.running)
    executor.idle()  # nothing ran since: nothing to do
    assert not executor.running


class _Owner:
    def __init__(self) -> None:
        self.told: list[ConnectionThread] = []

    def sync_code_ran(self, thread: ConnectionThread) -> None:
        self.told.append(thread)


def test_the_watcher_hears_of_the_first_call_after_each_idle_only() -> None:
    executor = ConnectionThread()
    owner = _Owner()
    executor.watch(owner)
    assert owner.told == []  # nothing ran yet
    executor.submit(int).result(5)
    executor.submit(int).result(5)
    assert owner.told == [executor]  # once: the view has not waited since
    executor.idle()
    executor.submit(int).result(5)
    assert owner.told == [executor, executor]
    executor.shutdown()


def test_a_watcher_that_comes_after_a_call_is_told_at_once() -> None:
    executor = ConnectionThread()
    executor.submit(int).result(5)  # the handshake's sync middleware, say
    owner = _Owner()
    executor.watch(owner)
    assert owner.told == [executor]
    executor.shutdown()


async def test_the_connection_releases_its_thread_at_the_wait_after_sync_code(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from .test_asyncio_connection import Server, connect

    released = []
    monkeypatch.setattr(ConnectionThread, "idle", lambda self: released.append(self))
    async with thread_sensitive() as executor:
        server = Server()
        connection = connect(server)
        server.client_sends("a")
        server.client_sends("b")
        assert await connection.receive() == "a"
        assert released == []  # no sync code ran: the thread is not even looked at
        await sync_to_async(int)()
        assert await connection.receive() == "b"
        assert released == [executor]


def test_calls_after_the_end_are_refused() -> None:
    executor = ConnectionThread()
    executor.shutdown()
    with pytest.raises(RuntimeError):
        executor.submit(int)


@pytest.mark.parametrize("executor_argument", [True, False], ids=["asgiref>=3.13", "older"])
async def test_thread_sensitive_calls_in_the_block_use_the_connection_thread(
    monkeypatch: pytest.MonkeyPatch, executor_argument: bool
) -> None:
    # asgiref 3.13 takes the executor as an argument; before, it goes in asgiref's table.
    if executor_argument and not threads._EXECUTOR_ARGUMENT:
        pytest.skip("asgiref < 3.13 has no executor argument")
    monkeypatch.setattr(threads, "_EXECUTOR_ARGUMENT", executor_argument)
    async with thread_sensitive() as executor:
        assert current_thread() is executor
        name = await sync_to_async(lambda: threading.current_thread().name)()
        assert name == "django_websocket connection"
        assert executor.running
    assert current_thread() is None
    assert _until(lambda: not executor.running)  # ended with the block


def _threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError("no thread count")


def test_idle_async_sockets_hold_no_thread_after_sessions_and_auth_middleware(
    tmp_path: Path,
) -> None:
    count = 300

    async def run(pid: int) -> tuple[int, int]:
        async with connect(server.ws + "/async_echo/") as ws:  # once, for lazy threads
            await ws.send("warm")
            await ws.recv()
        before = await asyncio.to_thread(_threads, pid)
        near = before + threads.SPARES + 2  # a few spare threads may wait for work
        async with contextlib.AsyncExitStack() as stack:
            for n in range(count):
                ws = await stack.enter_async_context(connect(server.ws + "/async_echo/"))
                await ws.send(str(n))
                assert await ws.recv() == str(n)
            # All 300 sockets are open and their views wait for a message.
            await asyncio.to_thread(_until, lambda: _threads(pid) <= near, 30)
            return before, await asyncio.to_thread(_threads, pid)

    with serve(tmp_path, TEST_MIDDLEWARE="sessions_auth") as server:
        before, idle = asyncio.run(run(server.process.pid))
    assert idle <= before + threads.SPARES + 2, f"{idle} threads, {before} before"
