"""Shutting down: the signal chain of shutdown.py (where it installs, what a signal runs,
restoring) and WebSocketHandler.close_all."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from types import FrameType
from typing import Any

import pytest

from django_websocket.asgi import ASGIApplication
from django_websocket.shutdown import SignalChain, chainable


class Previous:
    """Stands for the server's handler (uvicorn's ``Server.handle_exit``)."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, FrameType | None]] = []

    def handle_exit(self, signum: int, frame: FrameType | None) -> None:
        self.calls.append((signum, frame))


@pytest.fixture
def previous() -> Iterator[Previous]:
    """A Python handler for SIGTERM and SIGINT, as uvicorn installs; the old ones after."""
    server = Previous()
    saved = {signum: signal.signal(signum, server.handle_exit) for signum in SIGS}
    try:
        yield server
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)


SIGS = (signal.SIGTERM, signal.SIGINT)


class Closer:
    """A close that takes ``delay`` seconds (forever if None) and counts its runs."""

    def __init__(self, delay: float | None = 0.0) -> None:
        self.delay = delay
        self.started = 0
        self.finished = 0

    async def __call__(self) -> None:
        self.started += 1
        await asyncio.sleep(self.delay if self.delay is not None else 3600)
        self.finished += 1


async def until(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def test_chainable_takes_python_functions_and_methods_only() -> None:
    def _sighandler_noop(signum: int, frame: FrameType | None) -> None: ...

    assert chainable(Previous().handle_exit)
    assert chainable(lambda signum, frame: None)
    for handler in [signal.SIG_DFL, signal.SIG_IGN, None, signal.default_int_handler]:
        assert not chainable(handler)
    assert not chainable(_sighandler_noop)  # loop.add_signal_handler's, by its name


async def test_a_signal_closes_first_then_reaches_the_previous_handler(
    previous: Previous,
) -> None:
    close = Closer(delay=0.5)
    chain = SignalChain(close)
    chain.install()
    assert all(signal.getsignal(signum) == chain._handle for signum in SIGS)
    signal.raise_signal(signal.SIGTERM)
    await until(lambda: close.started)
    assert previous.calls == []  # not before the close has finished
    await until(lambda: previous.calls)
    assert close.finished == 1
    assert previous.calls == [(signal.SIGTERM, None)]
    # Later signals go straight through, without closing again.
    signal.raise_signal(signal.SIGINT)
    assert previous.calls == [(signal.SIGTERM, None), (signal.SIGINT, None)]
    assert close.started == 1
    chain.restore()
    assert all(signal.getsignal(signum) == previous.handle_exit for signum in SIGS)


async def test_a_second_signal_during_the_close_goes_through_at_once(previous: Previous) -> None:
    # uvicorn: a second Ctrl-C while shutting down forces the exit.
    close = Closer(delay=None)
    chain = SignalChain(close)
    chain.install()
    signal.raise_signal(signal.SIGINT)
    await until(lambda: close.started)
    signal.raise_signal(signal.SIGINT)
    assert previous.calls == [(signal.SIGINT, None), (signal.SIGINT, None)]
    await asyncio.sleep(0.05)
    assert len(previous.calls) == 2  # the first is not delivered twice
    chain.restore()
    assert chain._task is not None
    chain._task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await chain._task


def test_a_signal_after_the_loop_closed_goes_straight_through(previous: Previous) -> None:
    chain = SignalChain(Closer())
    asyncio.run(_install(chain))  # the loop is closed once this returns
    signal.raise_signal(signal.SIGINT)
    assert previous.calls == [(signal.SIGINT, None)]  # once: not taken for a second Ctrl-C
    chain.restore()


async def test_a_close_past_the_timeout_lets_the_server_go_on(previous: Previous) -> None:
    close = Closer(delay=None)
    chain = SignalChain(close, timeout=0.1)
    chain.install()
    signal.raise_signal(signal.SIGTERM)
    await until(lambda: previous.calls)
    assert previous.calls == [(signal.SIGTERM, None)]
    chain.restore()


async def test_not_installed_over_handlers_it_cannot_run_before() -> None:
    loop = asyncio.get_running_loop()
    saved = {signum: signal.getsignal(signum) for signum in SIGS}
    try:
        for handler in [signal.SIG_DFL, signal.SIG_IGN, signal.default_int_handler]:
            signal.signal(signal.SIGTERM, handler)
            SignalChain(Closer()).install()
            assert signal.getsignal(signal.SIGTERM) == handler
        # loop.add_signal_handler: the loop runs the handler itself, ours would be last.
        loop.add_signal_handler(signal.SIGTERM, lambda: None)
        try:
            noop = signal.getsignal(signal.SIGTERM)
            SignalChain(Closer()).install()
            assert signal.getsignal(signal.SIGTERM) is noop
        finally:
            loop.remove_signal_handler(signal.SIGTERM)
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)


def test_not_installed_off_the_main_thread(previous: Previous) -> None:
    chain = SignalChain(Closer())
    thread = threading.Thread(target=asyncio.run, args=[_install(chain)])
    thread.start()
    thread.join()
    assert chain.previous == {}
    assert all(signal.getsignal(signum) == previous.handle_exit for signum in SIGS)


async def _install(chain: SignalChain) -> None:
    chain.install()


def test_restore_leaves_a_handler_installed_after_ours(previous: Previous) -> None:
    chain = SignalChain(Closer())
    asyncio.run(_install(chain))
    other = Previous()
    signal.signal(signal.SIGTERM, other.handle_exit)  # e.g. uvicorn restoring its own
    chain.restore()
    assert signal.getsignal(signal.SIGTERM) == other.handle_exit
    assert signal.getsignal(signal.SIGINT) == previous.handle_exit


async def lifespan(app: ASGIApplication, *events: str) -> asyncio.Task[None]:
    """Run ``app``'s lifespan through ``events``; return its task."""
    incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outgoing: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    task = asyncio.create_task(app({"type": "lifespan"}, incoming.get, outgoing.put))
    for event in events:
        incoming.put_nowait({"type": f"lifespan.{event}"})
        reply = await asyncio.wait_for(outgoing.get(), 10)
        assert reply["type"] == f"lifespan.{event}.complete"
    return task


async def test_lifespan_installs_on_startup_and_restores_on_shutdown(previous: Previous) -> None:
    app = ASGIApplication()
    task = await lifespan(app, "startup")
    assert signal.getsignal(signal.SIGTERM) != previous.handle_exit
    assert signal.getsignal(signal.SIGINT) != previous.handle_exit
    task.cancel()  # a server that never sends "shutdown" (uvicorn's forced exit)
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert all(signal.getsignal(signum) == previous.handle_exit for signum in SIGS)

    task = await lifespan(app, "startup", "shutdown")
    await asyncio.wait_for(task, 10)
    assert all(signal.getsignal(signum) == previous.handle_exit for signum in SIGS)


class FakeConnection:
    """Stands for a Connection in WebSocketHandler._connections."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.closed_with: tuple[int, str] | None = None

    async def close(self, code: int, reason: str) -> None:
        await asyncio.sleep(0.2)
        if self.error is not None:
            raise self.error
        self.closed_with = (code, reason)


async def test_close_all_closes_every_connection_at_once_and_never_raises(
    caplog: pytest.LogCaptureFixture,
) -> None:
    handler = ASGIApplication().websocket_handler
    connections = [FakeConnection() for _ in range(200)]
    broken = FakeConnection(RuntimeError("boom"))
    handler._connections.update([*connections, broken])
    started = time.monotonic()
    await handler.close_all(1001, "server shutting down")
    assert time.monotonic() - started < 1.5  # 200 x 0.2 s one after another: 40 s
    assert {c.closed_with for c in connections} == {(1001, "server shutting down")}
    assert "Closing a WebSocket connection failed" in caplog.text
