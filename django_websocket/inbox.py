"""A bounded buffer of incoming messages, filled on the event loop, drained by a view.

The reader task puts messages in on the loop; a sync view takes them out on its own
thread, an async view on the loop. When the buffer is full the reader stops pulling
from the server, so TCP pushes back on the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque

__all__ = ["Inbox", "Message"]

Message = str | bytes


class Inbox:
    """FIFO of at most ``maxsize`` unread messages.

    Args:
        maxsize: how many unread messages to hold before the reader waits.
        loop: the event loop the reader and async consumers run on.
    """

    def __init__(self, maxsize: int, loop: asyncio.AbstractEventLoop) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self._maxsize = maxsize
        self._loop = loop
        self._items: deque[Message] = deque()
        self._lock = threading.Lock()
        self._sleepers: deque[threading.Lock] = deque()  # one held lock per blocked thread
        self._waiter: asyncio.Future[None] | None = None  # wakes the async consumer
        self._room = asyncio.Event()  # wakes the reader when a full buffer drains
        self._room.set()
        self.loop_thread = threading.get_ident()  # built on the loop's thread
        self.finished = False  # no more messages will arrive

    def __len__(self) -> int:
        return len(self._items)

    @property
    def full(self) -> bool:
        """Whether the reader must wait for the view to take a message."""
        return len(self._items) >= self._maxsize

    # Producer side: called on the loop only.

    def put(self, message: Message) -> None:
        """Append a message and wake a waiting consumer."""
        with self._lock:
            self._items.append(message)
            if len(self._items) >= self._maxsize:
                self._room.clear()
            self._wake()

    def finish(self) -> None:
        """Say that no more messages will arrive; waiting consumers get ``None``."""
        with self._lock:
            self.finished = True
            self._room.set()
            while self._sleepers:
                self._sleepers.popleft().release()
            self._wake()

    async def wait_for_room(self) -> None:
        """Return once the buffer has room for another message."""
        await self._room.wait()

    def _wake(self) -> None:
        if self._sleepers:
            self._sleepers.popleft().release()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    # Consumer side.

    def get_nowait(self) -> Message | None:
        """Return the oldest message, or ``None`` when there is none."""
        with self._lock:
            return self._take()

    def get_blocking(self, timeout: float | None = None) -> Message | None:
        """Block this (non-loop) thread until a message arrives; ``None`` once finished.

        Raises:
            TimeoutError: ``timeout`` seconds passed with no message.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                if self._items or self.finished:
                    return self._take()
                remaining = -1.0 if deadline is None else deadline - time.monotonic()
                if deadline is not None and remaining <= 0:
                    raise TimeoutError("no message arrived in time")
                # A plain lock per wait, released by the loop's put(): less work per
                # message than a Condition.
                sleeper = threading.Lock()
                sleeper.acquire()
                self._sleepers.append(sleeper)
            if not sleeper.acquire(timeout=remaining):
                with self._lock, contextlib.suppress(ValueError):
                    self._sleepers.remove(sleeper)  # not woken: look again, then time out

    async def get(self, timeout: float | None = None) -> Message | None:
        """Wait on the loop until a message arrives; ``None`` once finished.

        Raises:
            TimeoutError: ``timeout`` seconds passed with no message.
        """
        while True:
            with self._lock:
                if self._items or self.finished:
                    return self._take()
                waiter = self._waiter = self._loop.create_future()
            try:
                if timeout is None:
                    await waiter
                else:
                    await asyncio.wait_for(waiter, timeout)
            except asyncio.TimeoutError:
                raise TimeoutError("no message arrived in time") from None
            finally:
                self._waiter = None

    def _take(self) -> Message | None:
        # Lock held. Wake the reader if this frees the first slot of a full buffer.
        if not self._items:
            return None
        message = self._items.popleft()
        if len(self._items) == self._maxsize - 1:
            if threading.get_ident() == self.loop_thread:
                self._room.set()
            else:
                self._loop.call_soon_threadsafe(self._room.set)
        return message
