"""The transport for ASGI servers (uvicorn, hypercorn, daphne, granian, ...)."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from ..exceptions import ConnectionClosed
from .base import Closed, Header

__all__ = ["ASGITransport"]

Scope = dict[str, Any]
Event = Mapping[str, Any]
Receive = Callable[[], Awaitable[Event]]
Send = Callable[[Event], Awaitable[None]]

_RESPONSE_EXTENSION = "websocket.http.response"


class ASGITransport:
    """Speak ASGI ``websocket`` events for one connection.

    Args:
        scope: the connection's ASGI scope.
        receive: the server's receive callable.
        send: the server's send callable.
    """

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._scope = scope
        self._receive = receive
        self._send = send

    @property
    def subprotocols(self) -> Sequence[str]:
        """The subprotocols the client offered.

        Some servers pass the header's comma-separated value as one item; split it.
        """
        offered = self._scope.get("subprotocols") or ()
        return [name.strip() for value in offered for name in value.split(",") if name.strip()]

    @property
    def can_send_denial_body(self) -> bool:
        """Whether the server supports the ``websocket.http.response`` extension."""
        return _RESPONSE_EXTENSION in (self._scope.get("extensions") or {})

    async def accept(self, subprotocol: str | None, headers: Sequence[Header]) -> None:
        """Send ``websocket.accept``."""
        await self._send(
            {"type": "websocket.accept", "subprotocol": subprotocol, "headers": list(headers)}
        )

    async def deny(self, status: int, headers: Sequence[Header], body: bytes) -> None:
        """Send the response, or a bare close (a 403) where the server cannot."""
        if not self.can_send_denial_body:
            await self._send({"type": "websocket.close", "code": 1000})
            return
        await self._send(
            {"type": "websocket.http.response.start", "status": status, "headers": list(headers)}
        )
        await self._send({"type": "websocket.http.response.body", "body": body})

    async def receive(self) -> str | bytes | Closed:
        """Return the next message, or :class:`Closed`."""
        while True:
            event = await self._receive()
            kind = event["type"]
            if kind == "websocket.receive":
                text = event.get("text")
                return text if text is not None else bytes(event.get("bytes") or b"")
            if kind == "websocket.disconnect":
                return Closed(int(event.get("code", 1005)), event.get("reason") or "")
            # websocket.connect is consumed by the handler; ignore anything unknown.

    async def send(self, message: str | bytes) -> None:
        """Send ``websocket.send``; a server error on a dead socket is ConnectionClosed."""
        event: dict[str, Any] = {"type": "websocket.send"}
        event["text" if isinstance(message, str) else "bytes"] = message
        try:
            await self._send(event)
        except OSError as exc:  # ASGI servers raise an OSError on a dead connection
            raise ConnectionClosed.for_code(1006) from exc

    async def close(self, code: int, reason: str) -> None:
        """Send ``websocket.close``.

        Daphne (autobahn) refuses to send codes other than 1000 and 3000-4999 (so 1001,
        1009, 1011, ...) and raises; the connection is then closed with 1000 instead.
        """
        try:
            await self._send({"type": "websocket.close", "code": code, "reason": reason})
        except OSError:  # already gone: nothing to close
            pass
        except Exception:
            if code == 1000:
                raise
            with contextlib.suppress(OSError):
                await self._send({"type": "websocket.close", "code": 1000, "reason": reason})
