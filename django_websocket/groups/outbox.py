"""The bounded per-socket buffer that group messages wait in before they are sent.

A broadcast only offers the message to each member (:meth:`Outbox.offer`); the member's
driver sends it from there. A client that reads slowly therefore fills its own outbox and
never delays the broadcaster or the other members. When an outbox is full the slow-client
policy applies: ``"drop"`` the message for that socket, or ``"close"`` it with 1013.

:class:`Outbox` holds the buffer and the policy, and may be offered to from any thread;
each driver says how a new message reaches its socket. :class:`AsyncOutbox` is the
asyncio driver's: a writer task on the connection's loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from typing import TYPE_CHECKING

from ..exceptions import ConnectionClosed
from ..protocol import Message

if TYPE_CHECKING:
    from ..asyncio.connection import Connection

__all__ = ["POLICIES", "SLOW_CLIENT", "AsyncOutbox", "Outbox"]

POLICIES = ("drop", "close")
SLOW_CLIENT = (1013, "client too slow")  # Try Again Later
logger = logging.getLogger("django_websocket.groups")


class Outbox:
    """Messages waiting to be sent to one socket, bounded, with the slow-client policy.

    Args:
        maxsize: how many messages may wait before the policy applies.
        policy: ``"drop"`` or ``"close"``.
    """

    def __init__(self, *, maxsize: int, policy: str) -> None:
        if policy not in POLICIES:
            raise ValueError(f"WEBSOCKET_SLOW_CLIENT must be one of {POLICIES}, not {policy!r}")
        if maxsize < 1:
            raise ValueError("WEBSOCKET_GROUP_BUFFER must be at least 1")
        self.maxsize = maxsize
        self.policy = policy
        self.items: deque[Message] = deque()
        self.lock = threading.Lock()
        self.stopped = False

    def offer(self, message: Message) -> bool:
        """Queue ``message`` unless the buffer is full; return whether it was queued.

        Safe from any thread; never blocks on the socket.
        """
        with self.lock:
            if self.stopped:
                return False
            if len(self.items) >= self.maxsize:
                full = True
            else:
                full = False
                self.items.append(message)
                first = len(self.items) == 1
        if full:
            if self.policy == "close":
                self.stop()
                logger.warning("closing a WebSocket whose group buffer is full (slow client)")
                self.close_slow()
            return False
        if first:
            self.wake()
        return True

    def stop(self) -> None:
        """Forget waiting messages and take no more."""
        with self.lock:
            self.stopped = True
            self.items.clear()

    def wake(self) -> None:
        """Make the driver send what waits (the buffer was empty). Drivers override it."""

    def close_slow(self) -> None:
        """Close the socket with 1013 (policy ``"close"``). Drivers override it."""


class AsyncOutbox(Outbox):
    """The outbox of an asyncio connection: a writer task on its loop sends from it.

    The writer awaits the server's send one message at a time, so the server's flow
    control (uvicorn waits while the socket's write buffer is full) stalls only this
    socket's writer.
    """

    def __init__(self, connection: Connection, *, maxsize: int, policy: str) -> None:
        super().__init__(maxsize=maxsize, policy=policy)
        self.connection = connection
        self._loop = connection.loop
        # The idle writer awaits this future; wake() resolves it. A bare future, not an
        # asyncio.Event: this wake-up happens once per message and socket.
        self._wakeup: asyncio.Future[None] | None = None
        self._writer = self._loop.create_task(self._write())
        self._closer: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Wake the writer (from the loop, or from another thread)."""
        if threading.get_ident() == self.connection.loop_thread:
            self._wake()
        else:
            self._loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        wakeup, self._wakeup = self._wakeup, None
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)

    def stop(self) -> None:
        """Forget waiting messages and stop the writer (once; from any thread)."""
        if self.stopped:
            return
        super().stop()
        if threading.get_ident() == self.connection.loop_thread:
            self._writer.cancel()
        else:
            self._loop.call_soon_threadsafe(self._writer.cancel)

    def close_slow(self) -> None:
        """Close the connection with 1013, in a task on its loop."""

        def start() -> None:
            self._closer = self._loop.create_task(self.connection.close(*SLOW_CLIENT))

        if threading.get_ident() == self.connection.loop_thread:
            start()
        else:
            self._loop.call_soon_threadsafe(start)

    async def _write(self) -> None:
        items = self.items
        while True:
            while not items:
                self._wakeup = self._loop.create_future()
                await self._wakeup
            with self.lock:
                message = items.popleft()
            try:
                await self.connection.send(message)
            except ConnectionClosed:
                super().stop()
                return
