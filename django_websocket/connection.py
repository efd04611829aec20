"""One WebSocket connection as the event loop sees it.

:class:`Connection` joins the I/O-free :class:`~django_websocket.state.ConnectionState`,
the :class:`~django_websocket.inbox.Inbox` and a transport. Its coroutines run on the
event loop; the sync front end reaches them from a view's thread, the async front end
awaits them directly. Every rule lives here once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence

from .bridge import bridge_for
from .inbox import Inbox, Message
from .state import ConnectionState, State, validate_close
from .transports.base import Closed, Header, Transport

__all__ = ["Connection"]


class Connection:
    """The shared core of a WebSocket connection.

    Args:
        transport: carries frames to and from the client.
        max_queue: unread incoming messages to buffer before pushing back.
        max_size: bytes in one incoming message; a larger one closes with 1009.
    """

    def __init__(self, transport: Transport, *, max_queue: int, max_size: int) -> None:
        self.loop = asyncio.get_running_loop()
        self.transport = transport
        self.state = ConnectionState(transport.subprotocols)
        self.inbox = Inbox(max_queue, self.loop)
        self.bridge = bridge_for(self.loop)  # how a view's thread calls the coroutines below
        self.max_size = max_size
        self.idle_timeout: float | None = None  # seconds without a client message
        self._last_message_at = 0.0
        self._idle_close: asyncio.Task[None] | None = None
        self.failed = False  # the view raised after the handshake
        self._reader: asyncio.Task[None] | None = None
        self._close_hooks: list[Callable[[], None]] = []

    def on_close(self, hook: Callable[[], None]) -> None:
        """Call ``hook`` once, on the loop, when the connection closes or the view ends.

        It runs on our close, the client's close or disconnect, and :meth:`stop`,
        whichever comes first (groups use it to drop the socket's memberships).
        """
        self._close_hooks.append(hook)

    def _run_close_hooks(self) -> None:
        hooks, self._close_hooks = self._close_hooks, []
        for hook in hooks:
            hook()

    @property
    def is_connecting(self) -> bool:
        """Whether the handshake is still undecided."""
        return self.state.state is State.CONNECTING

    async def accept(self, subprotocol: str | None = None, headers: Sequence[Header] = ()) -> None:
        """Complete the handshake and start reading messages."""
        chosen = self.state.accept(subprotocol)
        await self.transport.accept(chosen, headers)
        self._reader = self.loop.create_task(self._read())
        if self.idle_timeout is not None:
            self._last_message_at = self.loop.time()
            self.loop.call_later(self.idle_timeout, self._check_idle)

    def _check_idle(self) -> None:
        # One timer per connection, re-armed as messages arrive: no cost per message.
        # A full inbox means the view is behind, not the client idle.
        if self.state.state is not State.OPEN or self.idle_timeout is None:
            return
        idle_for = self.loop.time() - self._last_message_at
        if idle_for < self.idle_timeout or self.inbox.full:
            self.loop.call_later(max(self.idle_timeout - idle_for, 0.05), self._check_idle)
            return
        self._idle_close = self.loop.create_task(self.close(1000, "idle timeout"))

    async def ensure_accepted(self) -> None:
        """Accept with the defaults if nothing has decided the handshake yet."""
        if self.state.state is State.CONNECTING:
            await self.accept()

    async def deny(self, status: int, headers: Sequence[Header], body: bytes) -> None:
        """Refuse the handshake with an HTTP response."""
        self.state.deny()
        self.inbox.finish()
        await self.transport.deny(status, headers, body)

    async def send(self, message: str | bytes) -> None:
        """Send one message, accepting first if needed."""
        if self.state.state is State.CONNECTING:  # ensure_accepted(), inlined: hot path
            await self.accept()
        self.state.check_send(message)
        await self.transport.send(message)

    async def receive(self, timeout: float | None = None) -> Message | None:
        """Return the next message, accepting first if needed; ``None`` once closed."""
        if self.state.state is State.CONNECTING:  # ensure_accepted(), inlined: hot path
            await self.accept()
        return await self.inbox.get(timeout)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection; before the handshake, refuse it with a 403.

        Raises:
            ValueError: ``code`` or ``reason`` cannot go in a close frame.
        """
        validate_close(code, reason)
        if self.state.state is State.CONNECTING:
            await self.deny(403, [], b"")
        elif self.state.close(code, reason):
            self.inbox.finish()
            self._run_close_hooks()
            await self._stop_reading()
            await self.transport.close(code, reason)

    async def _stop_reading(self) -> None:
        # Nothing is read after our close; and with a receive() still pending, granian
        # drops the close frame we send. The reader may be the caller (too big: 1009).
        reader = self._reader
        if reader is not None and reader is not asyncio.current_task() and not reader.done():
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    async def stop(self) -> None:
        """Stop the reader task. Call once the view has returned."""
        self.inbox.finish()
        self._run_close_hooks()
        await self._stop_reading()

    async def _read(self) -> None:
        # Pull from the server only while the inbox has room: backpressure.
        while True:
            await self.inbox.wait_for_room()
            message = await self.transport.receive()
            self._last_message_at = self.loop.time()
            if isinstance(message, Closed):
                self.state.closed_by_peer(message.code, message.reason)
                self.inbox.finish()
                self._run_close_hooks()
                return
            if _too_big(message, self.max_size):
                await self.close(1009, "message too big")
                return
            self.inbox.put(message)


def _too_big(message: Message, limit: int) -> bool:
    # A str counts in UTF-8 bytes; encode only when its length cannot decide.
    if isinstance(message, bytes) or len(message) > limit or len(message) * 4 <= limit:
        return len(message) > limit
    return len(message.encode()) > limit
