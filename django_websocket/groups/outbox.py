"""The bounded per-socket buffer that group messages wait in before they are sent.

A broadcast only appends to each member's :class:`Outbox`; a writer task per socket
sends from it. A client that reads slowly therefore fills its own outbox and never
delays the broadcaster or the other members. When an outbox is full the slow-client
policy applies: ``"drop"`` the message for that socket, or ``"close"`` it with 1013.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from ..connection import Connection
from ..exceptions import ConnectionClosed
from ..inbox import Message

__all__ = ["POLICIES", "Outbox"]

POLICIES = ("drop", "close")
SLOW_CLIENT_CODE = 1013  # Try Again Later
logger = logging.getLogger("django_websocket.groups")


class Outbox:
    """Messages waiting to be sent to one socket, with the task that sends them.

    Args:
        connection: the socket's connection; the writer runs on its loop.
        maxsize: how many messages may wait before the policy applies.
        policy: ``"drop"`` or ``"close"``.
    """

    def __init__(self, connection: Connection, *, maxsize: int, policy: str) -> None:
        if policy not in POLICIES:
            raise ValueError(f"WEBSOCKET_SLOW_CLIENT must be one of {POLICIES}, not {policy!r}")
        if maxsize < 1:
            raise ValueError("WEBSOCKET_GROUP_BUFFER must be at least 1")
        self.connection = connection
        self._maxsize = maxsize
        self._policy = policy
        self._items: deque[Message] = deque()
        # The idle writer awaits this future; offer() resolves it. A bare future, not an
        # asyncio.Event: this wake-up happens once per message and socket.
        self._wakeup: asyncio.Future[None] | None = None
        self._stopped = False
        self._writer = connection.loop.create_task(self._write())
        self._closer: asyncio.Task[None] | None = None

    def offer(self, message: Message) -> bool:
        """Queue ``message`` unless the buffer is full; return whether it was queued.

        Call on the connection's loop.
        """
        if self._stopped:
            return False
        if len(self._items) >= self._maxsize:
            if self._policy == "close":
                self._close_slow()
            return False
        self._items.append(message)
        wakeup = self._wakeup
        if wakeup is not None:
            self._wakeup = None
            if not wakeup.done():
                wakeup.set_result(None)
        return True

    def stop(self) -> None:
        """Forget waiting messages and stop the writer."""
        self._stopped = True
        self._items.clear()
        self._writer.cancel()

    def _close_slow(self) -> None:
        self.stop()
        logger.warning("closing a WebSocket whose group buffer is full (slow client)")
        self._closer = self.connection.loop.create_task(
            self.connection.close(SLOW_CLIENT_CODE, "client too slow")
        )

    async def _write(self) -> None:
        loop = self.connection.loop
        while True:
            while not self._items:
                self._wakeup = loop.create_future()
                await self._wakeup
            message = self._items.popleft()
            try:
                await self.connection.send(message)
            except ConnectionClosed:
                self._stopped = True
                self._items.clear()
                return
