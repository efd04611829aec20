"""Run coroutines on the event loop from other threads, and wait for their results.

A sync view's thread uses it for every ``send()``, ``accept()``, ``close()``... It does
what :func:`asyncio.run_coroutine_threadsafe` followed by ``.result()`` does, with less
work per call, which matters when it is paid for every message:

- The loop is woken (a write to its self-pipe) only when no earlier call is already
  waiting to be run: threads that call while the loop is busy share one wake-up.
- Each call waits on a plain lock that the loop releases as soon as the coroutine
  ends, in the same step (no ``concurrent.futures.Future``, no chained callbacks).
- Where asyncio can (Python 3.12+), the coroutine starts at once, in the loop's
  callback, instead of one loop iteration later.

A call from the loop's own thread would wait for ever for itself: it raises
:class:`~django_websocket.exceptions.WebSocketError` instead. This module is the one way
onto a loop from a thread in the package, so the check lives here once.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import weakref
from collections import deque
from collections.abc import Coroutine
from typing import Any, Generic, TypeVar

from .exceptions import WebSocketError

__all__ = ["LoopBridge", "bridge_for", "running_loop"]

T = TypeVar("T")


class _Call(Generic[T]):
    __slots__ = ("coroutine", "done", "error", "result", "task")

    def __init__(self, coroutine: Coroutine[Any, Any, T]) -> None:
        self.coroutine = coroutine
        self.done = threading.Lock()
        self.done.acquire()  # released by the loop when the coroutine ends
        self.error: BaseException | None = None
        self.result: T | None = None
        self.task: asyncio.Task[None] | None = None  # held while the thread waits


class LoopBridge:
    """Calls into one event loop from other threads.

    Args:
        loop: the running loop the coroutines must run on.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._calls: deque[_Call[Any]] = deque()
        self._wake_pending = False
        # The loop's thread (a greenlet under gevent, where threads are greenlets and
        # every greenlet sees the loop as running): learnt on the loop.
        self._loop_thread = threading.get_ident() if asyncio._get_running_loop() is loop else None

    def learn_thread(self) -> None:
        """Say that the calling thread is the one that runs the loop."""
        self._loop_thread = threading.get_ident()

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the loop; block this thread until it returns or raises.

        Raises:
            RuntimeError: the loop is closed.
            WebSocketError: called on the loop's own thread (it would wait for itself).
        """
        if threading.get_ident() == self._loop_thread:
            coroutine.close()
            raise WebSocketError(
                "a blocking WebSocket call was made on the event loop it needs; "
                "use it from sync code (a sync view), or the async form in async code"
            )
        call = _Call(coroutine)
        # Append, then look: the loop clears the flag before it takes calls, so a call
        # appended while the flag is still set is taken by the wake-up already on its way.
        self._calls.append(call)
        if not self._wake_pending:
            self._wake_pending = True
            try:
                self._loop.call_soon_threadsafe(self._start_calls)
            except RuntimeError as error:  # the loop is closed: nothing will run them
                self._fail_calls(error)
        call.done.acquire()
        if call.error is not None:
            raise call.error
        return call.result  # type: ignore[return-value]

    def _fail_calls(self, error: RuntimeError) -> None:
        # Every call waiting for the wake-up that cannot happen gets the error.
        self._wake_pending = False
        while self._calls:
            call = self._calls.popleft()
            call.coroutine.close()
            call.error = RuntimeError(*error.args)  # one exception object per thread
            call.done.release()

    def _start_calls(self) -> None:
        # On the loop.
        self.learn_thread()
        self._wake_pending = False
        while self._calls:
            call = self._calls.popleft()
            if sys.version_info >= (3, 12):
                call.task = asyncio.Task(_run(call), loop=self._loop, eager_start=True)
            else:
                call.task = self._loop.create_task(_run(call))


async def _run(call: _Call[Any]) -> None:
    try:
        call.result = await call.coroutine
    except BaseException as error:  # handed to the calling thread, which raises it
        call.error = error
    finally:
        call.done.release()


_bridges: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopBridge] = (
    weakref.WeakKeyDictionary()
)


def bridge_for(loop: asyncio.AbstractEventLoop) -> LoopBridge:
    """Return the loop's bridge, shared by every caller on it (made on first use)."""
    bridge = _bridges.get(loop)
    if bridge is None:
        bridge = _bridges[loop] = LoopBridge(loop)
    return bridge


def running_loop() -> asyncio.AbstractEventLoop | None:
    """Return the event loop running in this thread, or ``None``.

    ``asyncio.get_running_loop()``, except under gevent, where every greenlet of a
    thread sees a loop that runs in one of them as running: a loop whose bridge knows
    it runs in another greenlet is not this one's.
    """
    loop = asyncio._get_running_loop()
    if loop is None:
        return None
    bridge = _bridges.get(loop)
    if bridge is not None and bridge._loop_thread not in (None, threading.get_ident()):
        return None
    return loop
