"""The blocking interface over an asyncio connection, for sync views on ASGI servers.

Every call but the wait for a message runs the connection's coroutine on its event loop
through the loop's :class:`~django_websocket.bridge.LoopBridge` and blocks until it is
done: ``send()`` returns once the server has taken the frame. Waiting for a message
blocks on a lock that the connection's reader releases, with no trip to the loop. So a
sync view's message costs three thread crossings (the message to the view, ``send`` to
the loop, done back to the view): that is why async views are faster under ASGI.
"""

from __future__ import annotations

from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from .. import db
from ..asyncio.connection import Connection
from ..bridge import bridge_for
from ..protocol import Message
from . import Header

__all__ = ["BridgedConnection"]

T = TypeVar("T")


class BridgedConnection:
    """A :class:`~django_websocket.sync.BlockingConnection` over an asyncio one.

    Args:
        connection: the asyncio connection, with ``read_ahead`` set before the accept
            (the view's thread waits on its reader).
    """

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.protocol = connection.protocol
        self._bridge = bridge_for(connection.loop)

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self._bridge.call(coroutine)

    def accept(self, subprotocol: str | None = None, headers: Sequence[Header] = ()) -> None:
        """Complete the handshake (and announce it, from this thread)."""
        self._call(self.connection.accept(subprotocol, headers))
        observer = self.protocol.observer
        if observer is not None:
            observer.connected()

    def receive(self, timeout: float | None = None) -> Message | None:
        """Return the next message (accepting first if needed); ``None`` once closed."""
        if self.protocol.must_accept:
            self.accept()
        connection = self.connection
        if connection.count_messages():
            return connection.read_nowait()
        # About to wait: hold no database connection that can go (CONN_MAX_AGE = 0: none;
        # a pooled one goes back to the pool), then drop what broke or expired meanwhile.
        if db.release():
            try:
                return connection.take_blocking(timeout)
            finally:
                db.release()
        return connection.take_blocking(timeout)

    def read(self) -> Message | None:
        """Return a message already received, or ``None``."""
        if self.protocol.must_accept:
            self.accept()
        return self.connection.read_nowait()

    def count_messages(self) -> int:
        """Return how many received messages wait to be read."""
        return self.connection.count_messages()

    def send(self, message: Message) -> None:
        """Send one message; return once the server has taken it."""
        if self.protocol.must_accept:
            self.accept()
        self._call(self.connection.send(message))

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close; before the handshake, refuse it with 403."""
        self._call(self.connection.close(code, reason))

    def join(self, group: str) -> None:
        """Add the socket to a group (accepting first if needed)."""
        if self.protocol.must_accept:
            self.accept()
        self._call(self.connection.join(group))

    def leave(self, group: str) -> None:
        """Remove the socket from a group."""
        self._call(self.connection.leave(group))
