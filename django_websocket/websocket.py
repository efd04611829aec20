"""The object a view gets as ``request.websocket``.

:class:`WebSocket` is the blocking form, for sync views; :class:`AsyncWebSocket` has the
same method names as coroutines, for ``async def`` views. Both are thin: they hand every
call to the connection's driver, and the rules live in the connection core
(:class:`~django_websocket.protocol.Protocol`).

The handshake is accepted on first use (``wait``, ``read``, ``send``, iteration,
``join``) or by an explicit ``accept``. Until then the view may still refuse it by
returning an ``HttpResponse``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from .protocol import Message, Protocol, State

if TYPE_CHECKING:
    from .asyncio.connection import Connection as AsyncConnection
    from .sync import BlockingConnection, Header

__all__ = ["AsyncWebSocket", "WebSocket"]

Headers = Mapping[str, str] | Iterable[tuple[str, str]]


def _encode_headers(headers: Headers | None) -> list[Header]:
    pairs = headers.items() if isinstance(headers, Mapping) else (headers or ())
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in pairs]


class _BaseWebSocket:
    """What both forms share: state read from the connection core."""

    __slots__ = ()
    _protocol: Protocol

    @property
    def subprotocol(self) -> str | None:
        """The negotiated subprotocol, or ``None``."""
        return self._protocol.subprotocol

    @property
    def subprotocols(self) -> list[str]:
        """The subprotocols the client offered, in its order."""
        return list(self._protocol.offered_subprotocols)

    @property
    def close_code(self) -> int | None:
        """The close code once the connection is closed, else ``None``."""
        return self._protocol.close_code

    @property
    def close_reason(self) -> str:
        """The close reason once the connection is closed (often empty)."""
        return self._protocol.close_reason

    @property
    def closed(self) -> bool:
        """Whether the connection is closed (unread messages may remain)."""
        return self._protocol.state is State.CLOSED

    def __repr__(self) -> str:
        protocol = self._protocol
        return f"<{type(self).__name__} {protocol.state.name} subprotocol={protocol.subprotocol!r}>"


class WebSocket(_BaseWebSocket):
    """A WebSocket for sync views: every method blocks the view's thread."""

    def __init__(self, connection: BlockingConnection) -> None:
        self._connection = connection
        self._protocol = connection.protocol

    def accept(self, subprotocol: str | None = None, headers: Headers | None = None) -> None:
        """Complete the handshake, optionally choosing a subprotocol and adding headers.

        Raises:
            ValueError: ``subprotocol`` was not offered by the client.
        """
        self._connection.accept(subprotocol, _encode_headers(headers))

    def wait(self, timeout: float | None = None) -> Message | None:
        """Return the next message (``str`` or ``bytes``); ``None`` once closed.

        Raises:
            TimeoutError: ``timeout`` seconds passed with no message.
        """
        return self._connection.receive(timeout)

    def read(self) -> Message | None:
        """Return a waiting message, or ``None``; never blocks for a message."""
        return self._connection.read()

    def count_messages(self) -> int:
        """Return how many received messages are waiting to be read."""
        return self._connection.count_messages()

    def has_messages(self) -> bool:
        """Return whether a received message is waiting to be read."""
        return self._connection.count_messages() > 0

    def send(self, message: str | bytes) -> None:
        """Send ``str`` as a text frame or ``bytes`` as a binary frame.

        Raises:
            ConnectionClosed: the connection is closed.
        """
        self._connection.send(message)

    def send_json(self, data: Any) -> None:
        """Send ``data`` encoded as JSON in a text frame."""
        self._connection.send(json.dumps(data))

    def wait_json(self, timeout: float | None = None) -> Any:
        """Return the next message decoded from JSON; ``None`` once closed."""
        message = self._connection.receive(timeout)
        return None if message is None else json.loads(message)

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection (before the handshake: refuse it with 403).

        Raises:
            ValueError: ``code`` or ``reason`` cannot go in a close frame.
        """
        self._connection.close(code, reason)

    def join(self, group: str) -> None:
        """Add this socket to ``group``, accepting the handshake first if needed.

        Messages broadcast to the group are sent to it from then on, until it leaves or
        closes (a closed socket leaves all its groups by itself). Joining twice is a no-op.

        Raises:
            ValueError: ``group`` is not a valid group name.
            ConnectionClosed: the connection is closed.
            GroupBackendError: the backend's broker did not confirm in time.
        """
        self._connection.join(group)

    def leave(self, group: str) -> None:
        """Remove this socket from ``group``; nothing happens if it is not a member."""
        self._connection.leave(group)

    def __iter__(self) -> Iterator[Message]:
        """Yield every message until the connection closes."""
        receive = self._connection.receive
        while (message := receive()) is not None:
            yield message


class AsyncWebSocket(_BaseWebSocket):
    """A WebSocket for async views: the same methods as :class:`WebSocket`, awaited.

    Each method returns the driver's own awaitable: nothing is added per call.
    """

    __slots__ = ("_connection", "_protocol")

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection
        self._protocol = connection.protocol

    def accept(
        self, subprotocol: str | None = None, headers: Headers | None = None
    ) -> Awaitable[None]:
        """Complete the handshake, optionally choosing a subprotocol and adding headers."""
        return self._connection.accept(subprotocol, _encode_headers(headers))

    def wait(self, timeout: float | None = None) -> Awaitable[Message | None]:
        """Return the next message (``str`` or ``bytes``); ``None`` once closed.

        Raises:
            TimeoutError: ``timeout`` seconds passed with no message.
        """
        return self._connection.receive(timeout)

    def read(self) -> Awaitable[Message | None]:
        """Return a waiting message, or ``None``; never waits for a message."""
        return self._connection.read()

    def count_messages(self) -> int:
        """Return how many received messages are waiting to be read (a plain method)."""
        return self._connection.count_messages()

    def has_messages(self) -> bool:
        """Return whether a received message is waiting to be read (a plain method)."""
        return self._connection.count_messages() > 0

    def send(self, message: str | bytes) -> Awaitable[None]:
        """Send ``str`` as a text frame or ``bytes`` as a binary frame.

        Raises:
            ConnectionClosed: the connection is closed.
        """
        return self._connection.send(message)

    def send_json(self, data: Any) -> Awaitable[None]:
        """Send ``data`` encoded as JSON in a text frame."""
        return self._connection.send(json.dumps(data))

    async def wait_json(self, timeout: float | None = None) -> Any:
        """Return the next message decoded from JSON; ``None`` once closed."""
        message = await self._connection.receive(timeout)
        return None if message is None else json.loads(message)

    def close(self, code: int = 1000, reason: str = "") -> Awaitable[None]:
        """Close the connection (before the handshake: refuse it with 403)."""
        return self._connection.close(code, reason)

    def join(self, group: str) -> Awaitable[None]:
        """Add this socket to ``group``; see :meth:`WebSocket.join`."""
        return self._connection.join(group)

    def leave(self, group: str) -> Awaitable[None]:
        """Remove this socket from ``group``; nothing happens if it is not a member."""
        return self._connection.leave(group)

    def __aiter__(self) -> AsyncIterator[Message]:
        """Yield every message until the connection closes (the driver iterates itself)."""
        return self._connection  # type: ignore[return-value]  # stop=True: never None
