"""The asyncio driver: one WebSocket connection on an event loop, over ASGI events.

:class:`Connection` does the I/O that the connection core
(:class:`~django_websocket.protocol.Protocol`) asks for; it holds no rule of its own.

How messages come in. An async view waiting in :meth:`Connection.receive` awaits the
server's own ``receive`` in its own task: no task, no queue between the server and the
view. When the view is away (doing anything but waiting for a message) and has not come
back by the next turn of the loop, a reader task reads ahead for it into the core's unread
buffer, so ``count_messages()`` sees what arrived meanwhile, a client's close is noticed,
and the buffer's bound pushes back on the client. The reader hands over again once the
view waits and has drained the buffer. A sync view (through
:class:`~django_websocket.sync.bridged.BridgedConnection`) always has the reader: its
thread blocks in :meth:`Connection.take_blocking` on a lock the reader releases.

A close from another task (shutdown, the idle timer, a slow group member) interrupts a
view's pending ``receive`` before the close is sent: granian drops a ``websocket.close``
sent while a ``receive`` is pending.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from ..conf import conf
from ..exceptions import ConnectionClosed
from ..groups import get_backend
from ..groups.outbox import AsyncOutbox
from ..protocol import CLOSED, CONNECTING, IDLE, OPEN, CloseAction, Message, Protocol, check_message
from .asgi import ASGITransport, Event, Header
from .threads import ConnectionThread, current_thread

__all__ = ["AWAY_CHECK", "Connection"]

AWAY_CHECK = 0.05
"""Seconds after it got a message before a view that is not waiting is read ahead for."""

_INTERRUPTED = {"type": "interrupted"}
_monotonic = time.monotonic  # called once per message: no module lookup each time

# asyncio.current_task(loop) is a C function from 3.12; before, the same dict lookup
# without its Python wrapper (a tenth of the cost, paid on every message).
_current_task: Callable[[asyncio.AbstractEventLoop], asyncio.Task[Any] | None] = (
    asyncio.current_task if sys.version_info >= (3, 12) else asyncio.tasks._current_tasks.get  # type: ignore[attr-defined]
)


class Connection:
    """One connection on the running event loop.

    Args:
        transport: the connection's ASGI callables and handshake/close events.
        protocol: the connection core.
    """

    __slots__ = (
        "_away_check", "_closing", "_direct", "_idle_timer", "_interrupted", "_lock", "_reader",
        "_receive", "_room", "_send", "_sleepers", "_sync_thread", "_waiter", "loop",
        "loop_thread", "outbox", "protocol", "read_ahead", "transport",
    )  # fmt: skip

    def __init__(self, transport: ASGITransport, protocol: Protocol) -> None:
        self.loop = asyncio.get_running_loop()
        self.loop_thread = threading.get_ident()
        self.transport = transport
        self.protocol = protocol
        self.read_ahead = False  # read ahead from the accept on (sync views)
        self.outbox: AsyncOutbox | None = None  # group messages waiting to be sent
        self._receive = transport.receive
        self._send = transport.send
        self._direct: asyncio.Task[object] | None = None  # awaiting the server in receive()
        self._interrupted: asyncio.Future[None] | None = None  # set while interrupting it
        self._reader: asyncio.Task[None] | None = None
        self._away_check: asyncio.TimerHandle | None = None  # see _read_ahead_if_away
        self._waiter: asyncio.Future[None] | None = None  # an async receive() on the reader
        self._room: asyncio.Future[None] | None = None  # the reader, waiting for room
        self._lock = threading.Lock()  # the unread buffer, against take_blocking() threads
        # One held lock per blocked thread (sync views only: made by the first).
        self._sleepers: list[threading.Lock] | None = None
        self._idle_timer: asyncio.TimerHandle | None = None
        self._closing: asyncio.Task[None] | None = None  # a close started by a timer
        # The connection's thread for sync code (asgi.py), while sync code has run since
        # the view last waited: told when the view waits again, so that it gives back its
        # database connections and ends. (Set by the thread: nothing of it is read per
        # message.)
        self._sync_thread: ConnectionThread | None = None
        thread = current_thread()
        if thread is not None:
            thread.watch(self)

    # -- The handshake ------------------------------------------------------------------

    async def accept(self, subprotocol: str | None = None, headers: Sequence[Header] = ()) -> None:
        """Complete the handshake.

        Raises:
            WebSocketError: the handshake is already decided.
            ValueError: ``subprotocol`` was not offered by the client.
        """
        chosen = self.protocol.accept(subprotocol, now=time.monotonic())
        await self.transport.accept(chosen, headers)
        if self.read_ahead:
            self._start_reader()
        if self.protocol.idle_timeout is not None:
            self._arm_idle_timer()
        observer = self.protocol.observer
        if observer is not None:
            await observer.aconnected()

    async def deny(self, status: int, headers: Sequence[Header], body: bytes) -> None:
        """Refuse the handshake with an HTTP response."""
        self.protocol.deny(status)
        self._finish()
        await self.transport.deny(status, headers, body)

    # -- Messages -----------------------------------------------------------------------

    def receive(self, timeout: float | None = None) -> Coroutine[Any, Any, Message | None]:
        """Return the next message, accepting first if needed; ``None`` once closed.

        Args:
            timeout: seconds to wait for a message; ``None`` waits as long as it takes.

        Raises:
            TimeoutError: ``timeout`` seconds passed with no message.
        """
        return self._next(timeout, False)

    def __aiter__(self) -> Connection:
        return self

    async def _next(self, timeout: float | None = None, stop: bool = True) -> Message | None:
        # receive(), or with ``stop`` the end of ``async for``: StopAsyncIteration at the
        # close instead of None.
        protocol = self.protocol
        while True:
            if protocol.state is not OPEN:
                if protocol.state is CONNECTING:
                    await self.accept()
                    continue
                message = self._take() if protocol.unread else None  # closed: what is left
            elif protocol.unread:
                message = self._take()
            elif self._reader is not None or timeout is not None:
                if self._sync_thread is not None:
                    self._release_thread()
                message = await self._wait_for_reader(timeout)
            else:
                if self._sync_thread is not None:
                    self._release_thread()
                # The hot path: await the server in the view's own task.
                task = self._direct = _current_task(self.loop)
                try:
                    event = await self._receive()
                except asyncio.CancelledError:
                    if self._interrupted is None or _still_cancelled(task):
                        raise
                    event = _INTERRUPTED  # our own close interrupted the receive
                finally:
                    self._direct = None
                    if self._interrupted is not None:
                        _resolve(self._interrupted)
                        self._interrupted = None
                kind = event["type"]
                if kind == "websocket.receive":
                    message = event.get("text")
                    if message is None:
                        message = bytes(event.get("bytes") or b"")
                    if not protocol.receive(message, _monotonic()):
                        await self._send_close()  # refused (1009 too big, 1008 rate): closing
                        message = None
                elif kind == "websocket.disconnect":
                    self._closed_by_peer(event)
                    message = None
                elif kind == "interrupted":
                    message = None
                else:
                    continue  # not for the view
            if message is None:
                if stop:
                    raise StopAsyncIteration
                return None
            if self._away_check is None and not self.read_ahead:
                # Soon, look whether the view went away: then read ahead for it.
                self._away_check = self.loop.call_later(AWAY_CHECK, self._read_ahead_if_away)
            return message

    # ``async for message in connection``: the coroutine itself, no call in between (the
    # hot path of an async view).
    __anext__ = _next

    def sync_code_ran(self, thread: ConnectionThread) -> None:
        """The connection's thread ran sync code: tell it when the view waits again."""
        self._sync_thread = thread

    def _release_thread(self) -> None:
        # The view waits: its thread gives back its database connections and ends.
        thread, self._sync_thread = self._sync_thread, None
        if thread is not None:
            thread.idle()

    async def read(self) -> Message | None:
        """Return an unread message, or ``None``, accepting first if needed; never waits."""
        if self.protocol.state is CONNECTING:
            await self.accept()
        return self.read_nowait()

    def read_nowait(self) -> Message | None:
        """Return an unread message, or ``None``. Safe from any thread."""
        return self._take() if self.protocol.unread else None

    def count_messages(self) -> int:
        """Return how many received messages wait to be read."""
        return len(self.protocol.unread)

    async def send(self, message: Message) -> None:
        """Send one message, accepting first if needed.

        Raises:
            ConnectionClosed: the connection is closed.
            TypeError: ``message`` is neither ``str`` nor ``bytes``.
        """
        protocol = self.protocol
        if protocol.state is not OPEN:
            if protocol.state is CONNECTING:
                await self.accept()
            protocol.check_send(message)
        event: dict[str, Message]
        if type(message) is str:
            event = {"type": "websocket.send", "text": message}
        elif isinstance(message, bytes):
            event = {"type": "websocket.send", "bytes": message}
        else:
            check_message(message)
            return
        # Counted as it goes to the server, before the await: a client that has the echo
        # must never find it uncounted (metrics, the disconnect signal).
        protocol.sent(message)
        try:
            await self._send(event)
        except OSError as exc:  # ASGI servers raise an OSError on a dead connection
            raise ConnectionClosed.for_code(1006) from exc

    # -- Groups ---------------------------------------------------------------------------

    async def join(self, group: str) -> None:
        """Add the socket to ``group``, accepting the handshake first if needed."""
        if self.protocol.state is CONNECTING:
            await self.accept()
        if self.outbox is None and self.protocol.state is OPEN:
            self.outbox = AsyncOutbox(self, maxsize=conf.GROUP_BUFFER, policy=conf.SLOW_CLIENT)
        backend = get_backend()
        await backend.run(backend.join(group, self))

    async def leave(self, group: str) -> None:
        """Remove the socket from ``group``."""
        backend = get_backend()
        await backend.run(backend.leave(group, self))

    def offer(self, message: Message) -> bool:
        """Queue a group message for the socket (from any thread); see ``groups/outbox.py``."""
        return self.outbox is not None and self.outbox.offer(message)

    def stop_offers(self) -> None:
        """Forget the group messages waiting for the socket; take no more."""
        if self.outbox is not None:
            self.outbox.stop()

    # -- Closing --------------------------------------------------------------------------

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection; before the handshake, refuse it with a 403.

        Raises:
            ValueError: ``code`` or ``reason`` cannot go in a close frame.
        """
        action = self.protocol.close(code, reason)
        if action is CloseAction.DENY:
            self._finish()
            await self.transport.deny(403, [], b"")
        elif action is CloseAction.SEND_CLOSE:
            await self._send_close()

    async def stop(self) -> None:
        """Stop reading and run the close hooks. Call once the view has returned."""
        self._finish()
        await self._stop_reading()

    async def _send_close(self) -> None:
        # The core is CLOSED with the code to send.
        self._finish()
        await self._stop_reading()
        await self.transport.close(self.protocol.close_code or 1000, self.protocol.close_reason)

    async def _stop_reading(self) -> None:
        # Nothing is read after our close; and with a receive() still pending, granian
        # drops the close frame we send. The caller may be the reader (too big: 1009).
        current = asyncio.current_task()
        reader = self._reader
        if reader is not None and reader is not current and not reader.done():
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        direct = self._direct
        if direct is not None and direct is not current and self._interrupted is None:
            # The view awaits the server's receive: cancel that await (the view goes on:
            # receive() returns None) and wait until it has let go.
            interrupted = self._interrupted = self.loop.create_future()
            direct.cancel()
            await interrupted

    def _closed_by_peer(self, event: Event) -> None:
        self.protocol.closed_by_peer(int(event.get("code", 1005)), event.get("reason") or "")
        self._finish()

    def _finish(self) -> None:
        # No more messages: wake whoever waits, stop the idle timer, run the close hooks.
        with self._lock:
            while self._sleepers:
                self._sleepers.pop(0).release()
        self._wake_waiter()
        if self._room is not None and not self._room.done():
            self._room.set_result(None)
        for timer in (self._idle_timer, self._away_check):
            if timer is not None:
                timer.cancel()
        self._idle_timer = self._away_check = None
        self.stop_offers()
        for hook in self.protocol.take_close_hooks():
            hook()

    # -- Reading ahead ----------------------------------------------------------------------

    def _read_ahead_if_away(self) -> None:
        # AWAY_CHECK seconds after the view got a message: if it is not waiting for the
        # next one, read ahead for it. (A timer every AWAY_CHECK seconds at most, not a
        # callback per message: that would cost an echo a tenth of its speed.)
        self._away_check = None
        if self._direct is None and self._reader is None and self.protocol.state is OPEN:
            self._start_reader()

    def _start_reader(self) -> None:
        if self._reader is None and self.protocol.state is OPEN:
            self._reader = self.loop.create_task(self._read())

    async def _read(self) -> None:
        protocol = self.protocol
        try:
            while True:
                while protocol.reading_paused:
                    self._room = self.loop.create_future()
                    await self._room
                    self._room = None
                if protocol.state is not OPEN:
                    return
                event = await self._receive()
                kind = event["type"]
                if kind == "websocket.disconnect":
                    self._closed_by_peer(event)
                    return
                if kind != "websocket.receive":
                    continue
                message = event.get("text")
                if message is None:
                    message = bytes(event.get("bytes") or b"")
                if not protocol.receive(message, _monotonic()):
                    await self._send_close()  # refused (1009 too big, 1008 rate): closing
                    return
                with self._lock:
                    protocol.queue(message)
                    if self._sleepers:
                        self._sleepers.pop(0).release()
                if self._waiter is not None and not self.read_ahead:
                    self._wake_waiter()
                    return  # the view is back: it receives by itself from now on
        finally:
            if self._reader is asyncio.current_task():
                self._reader = None

    async def _wait_for_reader(self, timeout: float | None) -> Message | None:
        # The view waits for what the reader reads (it is running, or a timeout was asked).
        self._start_reader()
        deadline = None if timeout is None else self.loop.time() + timeout
        protocol = self.protocol
        while not protocol.unread:
            if protocol.state is CLOSED:
                return None
            waiter = self._waiter = self.loop.create_future()
            try:
                if deadline is None:
                    await waiter
                else:
                    await asyncio.wait_for(waiter, max(deadline - self.loop.time(), 0))
            except asyncio.TimeoutError:
                raise TimeoutError("no message arrived in time") from None
            finally:
                self._waiter = None
        return self._take()

    def _wake_waiter(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _take(self) -> Message | None:
        # Take the oldest unread message; wake the reader if that makes room.
        with self._lock:
            message = self.protocol.take()
        room = self._room
        if room is not None and not self.protocol.reading_paused:
            if threading.get_ident() == self.loop_thread:
                if not room.done():
                    room.set_result(None)
            else:
                self.loop.call_soon_threadsafe(_resolve, room)
        return message

    def take_blocking(self, timeout: float | None = None) -> Message | None:
        """Block this (non-loop) thread until a message arrives; ``None`` once closed.

        The reader must be running (:attr:`read_ahead` set before the accept).

        Raises:
            TimeoutError: ``timeout`` seconds passed with no message.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        protocol = self.protocol
        while True:
            with self._lock:
                if protocol.unread or protocol.state is CLOSED:
                    break
                remaining = -1.0 if deadline is None else deadline - time.monotonic()
                if deadline is not None and remaining <= 0:
                    raise TimeoutError("no message arrived in time")
                # A plain lock per wait, released by the reader: less work per message
                # than a Condition.
                sleeper = threading.Lock()
                sleeper.acquire()
                if self._sleepers is None:
                    self._sleepers = []
                self._sleepers.append(sleeper)
            if not sleeper.acquire(timeout=remaining):
                with self._lock:
                    if self._sleepers and sleeper in self._sleepers:  # not woken: look again
                        self._sleepers.remove(sleeper)
        return self._take()

    # -- Idle timeout -----------------------------------------------------------------------

    def _arm_idle_timer(self) -> None:
        # One timer per connection, re-armed from the time of the last message: nothing
        # is paid per message.
        deadline = self.protocol.idle_deadline()
        if deadline is None:  # the view is behind (buffer full): look again later
            timeout = self.protocol.idle_timeout
            if timeout is None or self.protocol.state is not OPEN:
                return
            deadline = time.monotonic() + timeout
        delay = max(deadline - time.monotonic(), 0.05)
        self._idle_timer = self.loop.call_later(delay, self._on_idle)

    def _on_idle(self) -> None:
        self._idle_timer = None
        if self.protocol.state is not OPEN:
            return
        if self.protocol.is_idle(time.monotonic()):
            self._closing = self.loop.create_task(self.close(*IDLE))
        else:
            self._arm_idle_timer()


def _still_cancelled(task: asyncio.Task[object] | None) -> bool:
    # Undo our own cancel(); whether someone else cancelled the task too (3.11+ counts).
    if task is None or sys.version_info < (3, 11):
        return False
    return task.uncancel() > 0


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
