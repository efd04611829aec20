"""ASGI ``websocket`` events for one connection, with what each server does differently.

The asyncio driver (:class:`~django_websocket.asyncio.connection.Connection`) sends and
receives messages with the server's own ``receive`` and ``send`` callables: that is its
hot path, and nothing stands between the two. The rarer events go through
:class:`ASGITransport`, which knows the servers' quirks: the handshake (``accept``,
``deny``), the close, and which subprotocols the client offered.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

__all__ = ["ASGITransport", "Event", "Header", "Receive", "Scope", "Send"]

Scope = dict[str, Any]
Event = Mapping[str, Any]
Receive = Callable[[], Awaitable[Event]]
Send = Callable[[Event], Awaitable[None]]
Header = tuple[bytes, bytes]

_RESPONSE_EXTENSION = "websocket.http.response"


class ASGITransport:
    """A connection's ASGI callables, and its handshake and close events.

    Args:
        scope: the connection's ASGI scope.
        receive: the server's receive callable.
        send: the server's send callable.
    """

    __slots__ = ("receive", "scope", "send")

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = scope
        self.receive = receive
        self.send = send

    @property
    def subprotocols(self) -> list[str]:
        """The subprotocols the client offered.

        Some servers pass the header's comma-separated value as one item; split it.
        """
        offered = self.scope.get("subprotocols") or ()
        return [name.strip() for value in offered for name in value.split(",") if name.strip()]

    @property
    def can_send_denial_body(self) -> bool:
        """Whether the server supports the ``websocket.http.response`` extension."""
        return _RESPONSE_EXTENSION in (self.scope.get("extensions") or {})

    async def accept(self, subprotocol: str | None, headers: Sequence[Header]) -> None:
        """Send ``websocket.accept``."""
        await self.send(
            {"type": "websocket.accept", "subprotocol": subprotocol, "headers": list(headers)}
        )

    async def deny(self, status: int, headers: Sequence[Header], body: bytes) -> None:
        """Send the response, or a bare close (a 403) where the server cannot."""
        if not self.can_send_denial_body:
            await self.send({"type": "websocket.close", "code": 1000})
            return
        await self.send(
            {"type": "websocket.http.response.start", "status": status, "headers": list(headers)}
        )
        await self.send({"type": "websocket.http.response.body", "body": body})

    async def close(self, code: int, reason: str) -> None:
        """Send ``websocket.close``.

        Daphne (autobahn) refuses to send codes other than 1000 and 3000-4999 (so 1001,
        1009, 1011, ...) and raises; the connection is then closed with 1000 instead.
        """
        try:
            await self.send({"type": "websocket.close", "code": code, "reason": reason})
        except OSError:  # already gone: nothing to close
            pass
        except Exception:
            if code == 1000:
                raise
            with contextlib.suppress(OSError):
                await self.send({"type": "websocket.close", "code": 1000, "reason": reason})
