"""The object a view gets as ``request.websocket``.

:class:`WebSocket` is the blocking form, for sync views; :class:`AsyncWebSocket` has the
same method names as coroutines, for ``async def`` views. Both are thin: every rule lives
in :class:`~django_websocket.connection.Connection`.

The handshake is accepted on first use (``wait``, ``read``, ``send``, iteration) or by an
explicit ``accept``. Until then the view may still refuse it by returning an
``HttpResponse``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Coroutine, Iterable, Iterator, Mapping
from typing import Any, TypeVar

from django.db import close_old_connections

from .connection import Connection
from .exceptions import WebSocketError
from .groups import get_backend
from .inbox import Message
from .state import State
from .transports.base import Header

__all__ = ["AsyncWebSocket", "WebSocket"]

T = TypeVar("T")
Headers = Mapping[str, str] | Iterable[tuple[str, str]]


def _encode_headers(headers: Headers | None) -> list[Header]:
    pairs = headers.items() if isinstance(headers, Mapping) else (headers or ())
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in pairs]


class _BaseWebSocket:
    """What both forms share: state that needs no I/O."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    @property
    def subprotocol(self) -> str | None:
        """The negotiated subprotocol, or ``None``."""
        return self._connection.state.subprotocol

    @property
    def subprotocols(self) -> list[str]:
        """The subprotocols the client offered, in its order."""
        return list(self._connection.state.offered_subprotocols)

    @property
    def close_code(self) -> int | None:
        """The close code once the connection is closed, else ``None``."""
        return self._connection.state.close_code

    @property
    def close_reason(self) -> str:
        """The close reason once the connection is closed (often empty)."""
        return self._connection.state.close_reason

    @property
    def closed(self) -> bool:
        """Whether the connection is closed (unread messages may remain)."""
        return self._connection.state.state is State.CLOSED

    def count_messages(self) -> int:
        """Return how many received messages are waiting to be read."""
        return len(self._connection.inbox)

    def has_messages(self) -> bool:
        """Return whether a received message is waiting to be read."""
        return len(self._connection.inbox) > 0

    def __repr__(self) -> str:
        state = self._connection.state
        return f"<{type(self).__name__} {state.state.name} subprotocol={state.subprotocol!r}>"


class WebSocket(_BaseWebSocket):
    """A WebSocket for sync views: every method blocks the view's thread."""

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        # Run one of the connection's coroutines on the event loop and wait for it.
        if threading.get_ident() == self._connection.inbox.loop_thread:
            coroutine.close()
            raise WebSocketError(
                "the blocking WebSocket was used on the event loop; "
                "use it from a sync view, or write an async view"
            )
        return self._connection.bridge.call(coroutine)

    def accept(self, subprotocol: str | None = None, headers: Headers | None = None) -> None:
        """Complete the handshake, optionally choosing a subprotocol and adding headers.

        Raises:
            ValueError: ``subprotocol`` was not offered by the client.
        """
        self._call(self._connection.accept(subprotocol, _encode_headers(headers)))

    def wait(self, timeout: float | None = None) -> Message | None:
        """Return the next message (``str`` or ``bytes``); ``None`` once closed.

        Raises:
            TimeoutError: ``timeout`` seconds passed with no message.
        """
        if self._connection.is_connecting:
            self._call(self._connection.ensure_accepted())
        message = self._connection.inbox.get_blocking(timeout)
        # Between messages, as Django does between requests: drop database
        # connections that are broken or past CONN_MAX_AGE.
        close_old_connections()
        return message

    def read(self) -> Message | None:
        """Return a waiting message, or ``None``; never blocks for a message."""
        if self._connection.is_connecting:
            self._call(self._connection.ensure_accepted())
        return self._connection.inbox.get_nowait()

    def send(self, message: str | bytes) -> None:
        """Send ``str`` as a text frame or ``bytes`` as a binary frame.

        Raises:
            ConnectionClosed: the connection is closed.
        """
        self._call(self._connection.send(message))

    def send_json(self, data: Any) -> None:
        """Send ``data`` encoded as JSON in a text frame."""
        self.send(json.dumps(data))

    def wait_json(self, timeout: float | None = None) -> Any:
        """Return the next message decoded from JSON; ``None`` once closed."""
        message = self.wait(timeout)
        return None if message is None else json.loads(message)

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection (before the handshake: refuse it with 403).

        Raises:
            ValueError: ``code`` or ``reason`` cannot go in a close frame.
        """
        self._call(self._connection.close(code, reason))

    def join(self, group: str) -> None:
        """Add this socket to ``group``, accepting the handshake first if needed.

        Messages broadcast to the group are sent to it from then on, until it leaves or
        closes (a closed socket leaves all its groups by itself). Joining twice is a no-op.

        Raises:
            ValueError: ``group`` is not a valid group name.
            ConnectionClosed: the connection is closed.
            GroupBackendError: the backend's broker did not confirm in time.
        """
        self._call(get_backend().join(group, self._connection))

    def leave(self, group: str) -> None:
        """Remove this socket from ``group``; nothing happens if it is not a member."""
        self._call(get_backend().leave(group, self._connection))

    def __iter__(self) -> Iterator[Message]:
        """Yield every message until the connection closes."""
        while (message := self.wait()) is not None:
            yield message


class AsyncWebSocket(_BaseWebSocket):
    """A WebSocket for async views: the same methods as :class:`WebSocket`, awaited."""

    async def accept(self, subprotocol: str | None = None, headers: Headers | None = None) -> None:
        """Complete the handshake, optionally choosing a subprotocol and adding headers."""
        await self._connection.accept(subprotocol, _encode_headers(headers))

    async def wait(self, timeout: float | None = None) -> Message | None:
        """Return the next message (``str`` or ``bytes``); ``None`` once closed.

        Raises:
            TimeoutError: ``timeout`` seconds passed with no message.
        """
        return await self._connection.receive(timeout)

    async def read(self) -> Message | None:
        """Return a waiting message, or ``None``; never waits for a message."""
        await self._connection.ensure_accepted()
        return self._connection.inbox.get_nowait()

    async def send(self, message: str | bytes) -> None:
        """Send ``str`` as a text frame or ``bytes`` as a binary frame.

        Raises:
            ConnectionClosed: the connection is closed.
        """
        await self._connection.send(message)

    async def send_json(self, data: Any) -> None:
        """Send ``data`` encoded as JSON in a text frame."""
        await self.send(json.dumps(data))

    async def wait_json(self, timeout: float | None = None) -> Any:
        """Return the next message decoded from JSON; ``None`` once closed."""
        message = await self.wait(timeout)
        return None if message is None else json.loads(message)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection (before the handshake: refuse it with 403)."""
        await self._connection.close(code, reason)

    async def join(self, group: str) -> None:
        """Add this socket to ``group``; see :meth:`WebSocket.join`."""
        await get_backend().join(group, self._connection)

    async def leave(self, group: str) -> None:
        """Remove this socket from ``group``; nothing happens if it is not a member."""
        await get_backend().leave(group, self._connection)

    def __aiter__(self) -> AsyncIterator[Message]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[Message]:
        while (message := await self.wait()) is not None:
            yield message
