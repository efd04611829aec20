"""The interface between a connection and whatever carries its frames.

A transport runs on the event loop. The ASGI transport speaks ASGI events to a server;
a later one can run a protocol library on a raw socket. Views and the WebSocket object
never see which one they have.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = ["Closed", "Header", "Transport"]

Header = tuple[bytes, bytes]


@dataclass(frozen=True)
class Closed:
    """The client closed the connection (or it dropped: code 1006)."""

    code: int
    reason: str = ""


class Transport(Protocol):
    """What a connection needs from the wire. Every method runs on the event loop."""

    @property
    def subprotocols(self) -> Sequence[str]:
        """The subprotocols the client offered."""
        ...

    async def accept(self, subprotocol: str | None, headers: Sequence[Header]) -> None:
        """Complete the handshake."""
        ...

    async def deny(self, status: int, headers: Sequence[Header], body: bytes) -> None:
        """Refuse the handshake with an HTTP response."""
        ...

    async def receive(self) -> str | bytes | Closed:
        """Return the next message, or :class:`Closed` once the connection is closed."""
        ...

    async def send(self, message: str | bytes) -> None:
        """Send one message; return once the server has taken it.

        Raises:
            ConnectionClosed: the connection is gone.
        """
        ...

    async def close(self, code: int, reason: str) -> None:
        """Start the closing handshake."""
        ...
