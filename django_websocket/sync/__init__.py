"""The blocking side: what a sync view's ``request.websocket`` talks to.

:class:`BlockingConnection` is the small blocking interface of the sync front end
(:class:`~django_websocket.websocket.WebSocket`). Two drivers implement it:

- :class:`~django_websocket.sync.connection.Connection` owns the socket a WSGI server
  handed over, and reads and writes it in the view's own thread (or greenlet);
- :class:`~django_websocket.sync.bridged.BridgedConnection` reaches an asyncio
  :class:`~django_websocket.asyncio.connection.Connection` (ASGI servers) through the
  loop's :class:`~django_websocket.bridge.LoopBridge`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol as _Interface

from ..protocol import Message, Protocol

__all__ = ["BlockingConnection", "Header"]

Header = tuple[bytes, bytes]


class BlockingConnection(_Interface):
    """One connection, every method blocking the calling thread until it is done."""

    protocol: Protocol
    """The connection core: state, subprotocols, close code and reason."""

    def accept(self, subprotocol: str | None = None, headers: Sequence[Header] = ()) -> None:
        """Complete the handshake."""

    def receive(self, timeout: float | None = None) -> Message | None:
        """Return the next message (accepting first if needed); ``None`` once closed."""

    def read(self) -> Message | None:
        """Return a message already received, or ``None``; never waits for one."""

    def count_messages(self) -> int:
        """Return how many received messages wait to be read."""
        ...

    def send(self, message: Message) -> None:
        """Send one message (accepting first if needed)."""

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close; before the handshake, refuse it with 403."""

    def join(self, group: str) -> None:
        """Add the socket to a group (accepting first if needed)."""

    def leave(self, group: str) -> None:
        """Remove the socket from a group."""
