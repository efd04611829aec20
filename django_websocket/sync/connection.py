"""The blocking driver: a socket owned by the view's thread (or greenlet).

A WSGI server (gunicorn's gthread and gevent workers) hands the request's socket over;
:class:`Connection` reads and writes it in the thread that runs the view, with the
connection core (:class:`~django_websocket.protocol.Protocol`) deciding and
:class:`~django_websocket.framing.Framing` framing. No event loop, no thread crossing per
message: ``wait()`` reads the socket until a message is complete, ``send()`` writes it.

Other threads reach the socket in two ways, and never wait on it:

- a group broadcast **offers** a message: it goes into a bounded outbox, and whoever can
  take the socket's write lock without waiting (the broadcaster itself, most often)
  frames it and writes what the socket takes at once; what it cannot take waits, and the
  view's thread, woken through a descriptor of its own (an eventfd) when it waits on the
  socket, writes it as the socket drains;
- a shutdown or a slow-client policy **closes** it: the close frame is written the same
  way, and the view's thread ends when the client answers (or the shutdown drops the
  stragglers, :meth:`Connection.abort`).
"""

from __future__ import annotations

import _socket
import contextlib
import errno
import os
import select
import socket
import struct
import threading
import time
from collections.abc import Sequence

from .. import db, greenlets
from ..conf import conf
from ..framing import CLOSE_TIMEOUT, Framing, http_response
from ..groups import get_backend
from ..groups.outbox import SLOW_CLIENT, Outbox
from ..protocol import CloseAction, Message, Protocol, State, check_message
from . import Header

__all__ = ["Connection"]

_READ_SIZE = 65536
_POLL_IN = select.POLLIN | select.POLLPRI | select.POLLHUP | select.POLLERR


class Connection:
    """A :class:`~django_websocket.sync.BlockingConnection` over a socket of its own.

    Args:
        sock: the connected socket, in blocking mode; the caller closes it afterwards.
        framing: the wire protocol for it (the handshake already checked).
        protocol: the connection core.
    """

    def __init__(self, sock: socket.socket, framing: Framing, protocol: Protocol) -> None:
        self.sock = sock
        self.framing = framing
        self.protocol = protocol
        self.owner = threading.get_ident()  # the thread that reads
        self.outbox: _SocketOutbox | None = None
        self._lock = threading.Lock()  # the framing and every write
        self._raw: _socket.socket | None = None  # see _nonblocking()
        self._raw_is_dup = False
        self._pending = b""  # framed bytes the socket has not taken yet
        self._eof = False  # shut the write side down once _pending is out
        self._poll = select.poll()
        self._poll.register(sock.fileno(), _POLL_IN)
        self._waker: _Waker | None = None  # once in a group
        self._peer_gone = False  # EOF or a socket error: nothing more to read
        self._green = greenlets.patched()
        self._tick: float | None = None  # see _set_tick
        self._tick_set = False
        self._timers_at = 0.0  # no timer is due before this; see _on_deadlines

    # -- The handshake -----------------------------------------------------------------

    def accept(self, subprotocol: str | None = None, headers: Sequence[Header] = ()) -> None:
        """Complete the handshake: write the 101 response.

        Raises:
            WebSocketError: the handshake is already decided.
            ValueError: ``subprotocol`` was not offered by the client.
        """
        chosen = self.protocol.accept(subprotocol, now=time.monotonic())
        with self._lock:
            self.framing.accept(chosen, headers)
            self._write_framed(blocking=True)
        observer = self.protocol.observer
        if observer is not None:
            observer.connected()

    def deny(self, status: int, headers: Sequence[Header], body: bytes) -> None:
        """Refuse the handshake with an HTTP response written on the socket."""
        self.protocol.deny(status)
        self._write_denial(status, headers, body)

    def _write_denial(self, status: int, headers: Sequence[Header], body: bytes) -> None:
        with self._lock:
            self._pending += http_response(status, headers, body)
            self._eof = True
            self._flush(blocking=True)
        self._finish()

    # -- Messages -----------------------------------------------------------------------

    def receive(self, timeout: float | None = None) -> Message | None:
        """Return the next message (accepting first if needed); ``None`` once closed.

        Raises:
            TimeoutError: ``timeout`` seconds passed with no message.
        """
        protocol = self.protocol
        if protocol.state is State.CONNECTING:
            self.accept()
        if not protocol.unread:
            # About to wait: hold no database connection that can go; one that stays
            # (CONN_MAX_AGE, atomic()) is checked again after the wait, as Django does
            # before a request.
            kept = db.release()
            deadline = None if timeout is None else time.monotonic() + timeout
            try:
                while not protocol.unread and protocol.state is not State.CLOSED:
                    if not self._read(deadline):
                        raise TimeoutError("no message arrived in time")
            finally:
                if kept:
                    db.release()
        return protocol.take()

    def read(self) -> Message | None:
        """Return a message already received, or ``None``; never waits for one."""
        if self.protocol.state is State.CONNECTING:
            self.accept()
        self._read_available()
        return self.protocol.take()

    def count_messages(self) -> int:
        """Return how many received messages wait to be read (reading what has come)."""
        self._read_available()
        return len(self.protocol.unread)

    def send(self, message: Message) -> None:
        """Send one message; return once the socket has taken it.

        Raises:
            ConnectionClosed: the connection is closed.
            TypeError: ``message`` is neither ``str`` nor ``bytes``.
        """
        protocol = self.protocol
        if protocol.state is not State.OPEN:
            if protocol.state is State.CONNECTING:
                self.accept()
            protocol.check_send(message)
        check_message(message)
        framing = self.framing
        with self._lock:
            if not framing.open:
                raise self._closed_by_wire()
            if self.outbox is not None:
                self._take_outbox(blocking=True)  # group messages offered before go first
            framing.send(message)
            # Counted once framed, before the write: a client that has the echo must
            # never find it uncounted (metrics, the disconnect signal).
            protocol.sent(message)
            data, eof = framing.data_to_send()
            if self._pending or eof:
                self._pending += data
                self._eof = self._eof or eof
                self._flush(blocking=True)
            elif self._green:
                self._send_green(data)
            else:
                self.sock.sendall(data)  # the common case

    # -- Closing --------------------------------------------------------------------------

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close; before the handshake, refuse it with 403. Safe from any thread.

        It sends the close frame; the view's thread finishes the closing handshake
        when the view is done (:meth:`end`).

        Raises:
            ValueError: ``code`` or ``reason`` cannot go in a close frame.
        """
        action = self.protocol.close(code, reason)
        if action is CloseAction.DENY:
            self._write_denial(403, [], b"")
        elif action is CloseAction.SEND_CLOSE:
            self._send_close(code, reason)

    def _send_close(self, code: int, reason: str) -> None:
        owner = threading.get_ident() == self.owner
        with self._lock:
            self._take_outbox(blocking=owner)
            self.framing.close(code, reason, time.monotonic())
            self._write_framed(blocking=owner)
        self._timers_at = 0.0  # the closing handshake's timeout: look again
        if not owner:
            self._wake()
        self._finish()

    def end(self) -> None:
        """Finish the closing handshake, in the view's thread, once the view is done.

        Reads (and drops) what the client still sends until its close frame or the
        close timeout, then shuts the socket down. The WSGI server closes it.
        """
        self._finish()
        if self.framing.started:
            while not self._peer_gone and not self.framing.finished:
                self._read(None)
        self._shutdown()

    def abort(self) -> None:
        """Drop the TCP connection now, from any thread: the view's reads return at once."""
        self.protocol.closed_by_peer(1006)
        self._shutdown()

    def _shutdown(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self._release()

    def _release(self) -> None:
        # Forget the descriptors that are ours (not the socket: the server closes it).
        with self._lock:
            if self._waker is not None:
                self._waker.close()
                self._waker = None
            if self._raw is not None and self._raw_is_dup:
                self._raw.close()
            self._raw = None

    def _finish(self) -> None:
        # No more messages will come: stop taking group messages, run the close hooks.
        if self.outbox is not None:
            self.outbox.stop()
        for hook in self.protocol.take_close_hooks():
            hook()

    def _closed_by_wire(self) -> Exception:
        closed = self.framing.closed_with or (1006, "")
        self.protocol.closed_by_peer(*closed)
        return self.protocol.closed_error()

    # -- Groups ---------------------------------------------------------------------------

    def join(self, group: str) -> None:
        """Add the socket to ``group``, accepting the handshake first if needed."""
        if self.protocol.state is State.CONNECTING:
            self.accept()
        if self.outbox is None and self.protocol.state is State.OPEN:
            self._waker = _Waker()
            self._poll.register(self._waker.fileno, select.POLLIN)
            self.outbox = _SocketOutbox(self, maxsize=conf.GROUP_BUFFER, policy=conf.SLOW_CLIENT)
        backend = get_backend()
        backend.run_sync(backend.join(group, self))

    def leave(self, group: str) -> None:
        """Remove the socket from ``group``."""
        backend = get_backend()
        backend.run_sync(backend.leave(group, self))

    def offer(self, message: Message) -> bool:
        """Queue a group message for the socket, from any thread; never waits on it."""
        return self.outbox is not None and self.outbox.offer(message)

    def stop_offers(self) -> None:
        """Forget the group messages waiting for the socket; take no more."""
        if self.outbox is not None:
            self.outbox.stop()

    def _write_offers(self) -> None:
        # From a broadcaster: write what the outbox holds if nobody else is writing;
        # otherwise the writer takes the outbox on its way out.
        while self.outbox is not None and self.outbox.items:
            if not self._lock.acquire(blocking=False):
                self._wake()  # the view's thread (or the writer) will get to it
                return
            try:
                if self.framing.open:
                    self._take_outbox()
                    self._write_framed(blocking=False)
                if self._pending:
                    self._wake()  # the socket is full: the view's thread watches it
            finally:
                self._lock.release()
            if self._pending:
                return

    def _take_outbox(self, *, blocking: bool = False) -> None:
        # Lock held: frame every waiting group message, in order, once the socket has
        # taken what was framed before. While it has not, the messages stay in the
        # outbox, whose bound (and slow-client policy) then applies.
        outbox = self.outbox
        if outbox is None or not outbox.items:
            return
        if self._pending:
            self._flush(blocking=blocking)
            if self._pending:
                return
        for message in outbox.take_all():
            self.framing.send(message)
            self.protocol.sent(message)

    def _wake(self) -> None:
        waker = self._waker
        if waker is not None:
            waker.wake()

    # -- Reading and writing -------------------------------------------------------------

    def _read(self, deadline: float | None) -> bool:
        """Wait once for the socket, a timer or a wake-up, and handle what came.

        Returns ``False`` when ``deadline`` passed. In the view's thread only.
        """
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            return False
        if now >= self._timers_at:
            self._on_deadlines(now)
            return True
        if deadline is None and self._waker is None and not self._pending:
            # The common case: one recv, bounded by the tick, no poll.
            if not self._receive_once(bounded=True):
                self._on_deadlines(time.monotonic())  # nothing came for a tick
            return True
        due = _earliest(deadline, self._timers_at)
        self._handle(self._wait(None if due is None else due - now))
        return True

    def _set_tick(self) -> None:
        # The tick: the shortest of the connection's periods, so a recv that gives up
        # after it returns in time for every timer (each period starts at the last
        # traffic, as the recv does). Set once per connection.
        periods = (
            self.framing.ping_interval,
            self.framing.ping_timeout,
            self.protocol.idle_timeout,
            CLOSE_TIMEOUT,
        )
        self._tick = min(p for p in periods if p is not None)
        if not self._green:
            # The kernel ends a blocking recv after the tick (EAGAIN): one syscall per
            # message instead of poll() and recv().
            seconds, fraction = divmod(self._tick, 1)
            timeval = struct.pack("ll", int(seconds), int(fraction * 1_000_000))
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
        self._tick_set = True

    def _read_available(self) -> None:
        # What has come already, without waiting (count_messages, read).
        fd = self.sock.fileno()
        while self.protocol.state is State.OPEN and not self._peer_gone:
            ready = self._wait(0)
            self._handle(ready)
            if not any(ready_fd == fd and events & _POLL_IN for ready_fd, events in ready):
                return

    def _wait(self, timeout: float | None) -> list[tuple[int, int]]:
        # poll() the socket (for writing too while bytes are pending) and the waker.
        fd = self.sock.fileno()
        if self._pending:
            self._poll.modify(fd, _POLL_IN | select.POLLOUT)
        ready = self._poll.poll(None if timeout is None else max(timeout * 1000, 1))
        if self._pending:
            self._poll.modify(fd, _POLL_IN)
        return ready

    def _handle(self, ready: list[tuple[int, int]]) -> None:
        waker = self._waker
        for fd, events in ready:
            if waker is not None and fd == waker.fileno:
                waker.drain()
                self._write_offers_as_owner()
            elif events & _POLL_IN:
                self._receive_once()
            elif events & select.POLLOUT:
                self._write_offers_as_owner()

    def _receive_once(self, *, bounded: bool = False) -> bool:
        """Read what the socket has and hand it to the framing.

        Returns ``False`` when nothing was read: a bounded recv gives up after the tick
        (the timers' turn), or the connection ended (EOF, an error).
        """
        if bounded and not self._tick_set:
            self._set_tick()
        try:
            if bounded and self._green:
                self.sock.settimeout(self._tick)  # gevent's timeout: no syscall
                try:
                    data = self.sock.recv(_READ_SIZE)
                finally:
                    self.sock.settimeout(None)
            else:
                data = self.sock.recv(_READ_SIZE)
        except (BlockingIOError, TimeoutError):
            return False
        except OSError:
            data = b""
        now = time.monotonic()
        framing = self.framing
        with self._lock:
            if data:
                messages = framing.receive_data(data, now)
            else:
                self._peer_gone = True
                framing.receive_eof()
                messages = []
            if framing.has_output:
                self._write_framed(blocking=False)  # pongs, the close reply
        protocol = self.protocol
        for message in messages:
            if protocol.state is not State.OPEN:
                break
            if protocol.receive(message, now):
                protocol.queue(message)
            else:  # refused: too big for the core (1009), or past the rate limit (1008)
                self._send_close(protocol.close_code or 1009, protocol.close_reason)
        if (self._peer_gone or not framing.open) and protocol.state is State.OPEN:
            protocol.closed_by_peer(*(framing.closed_with or (1006, "")))
            self._finish()
        return bool(data)

    def _on_deadlines(self, now: float) -> None:
        # The timers: the idle timeout, keepalive pings, the closing handshake's end.
        if self.protocol.is_idle(now):
            self.close(1000, "idle timeout")
        else:
            with self._lock:
                drop = self.framing.on_deadline(now)
                self._write_framed(blocking=False)
            if drop:
                self._peer_gone = True
            closed = self.framing.closed_with  # a missing pong: 1011
            if (drop or closed is not None) and self.protocol.state is State.OPEN:
                self.protocol.closed_by_peer(*(closed or (1006, "")))
                self._finish()
        # Traffic moves the ping and idle deadlines later: this is the earliest they can
        # be now, so nothing needs a look before it.
        due = _earliest(self.framing.next_deadline(), self.protocol.idle_deadline())
        self._timers_at = float("inf") if due is None else due

    def _write_offers_as_owner(self) -> None:
        with self._lock:
            if self.framing.open:
                self._take_outbox()
            self._write_framed(blocking=False)

    def _write_framed(self, *, blocking: bool) -> None:
        # Lock held: move what the framing produced to the socket.
        data, eof = self.framing.data_to_send()
        if data:
            self._pending += data
        if eof:
            self._eof = True
        self._flush(blocking=blocking)

    def _flush(self, *, blocking: bool) -> None:
        # Lock held. Blocking: all of it (the view's own send waits for a slow client).
        # Not blocking: what the socket takes now; the rest stays pending.
        while self._pending:
            try:
                if blocking:
                    self.sock.sendall(self._pending)
                    sent = len(self._pending)
                else:
                    sent = self._nonblocking().send(self._pending, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            except OSError as error:
                if error.errno not in (errno.EPIPE, errno.ECONNRESET, errno.EBADF, errno.ENOTCONN):
                    raise
                self._pending, self._peer_gone = b"", True
                return
            self._pending = self._pending[sent:]
        if self._eof:
            self._eof = False
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_WR)

    def _send_green(self, data: bytes) -> None:
        # Lock held. gevent's sendall asks the kernel for the send buffer's size on every
        # call; one non-blocking send usually takes it all, and only the rest waits.
        try:
            sent = self._nonblocking().send(data, socket.MSG_DONTWAIT)
        except BlockingIOError:
            sent = 0
        if sent < len(data):
            self.sock.sendall(memoryview(data)[sent:])

    def _nonblocking(self) -> _socket.socket:
        # Lock held. A plain socket object for writes that must not wait: gevent's socket
        # waits cooperatively even with MSG_DONTWAIT, so under gevent the real,
        # non-blocking socket it wraps; a blocking socket with no timeout takes
        # MSG_DONTWAIT as it is. Anything else: a duplicate of the descriptor, closed
        # with the connection. None of them can write to a descriptor the WSGI server
        # has closed and reused: a closed socket object refuses (EBADF), a duplicate
        # keeps the original open.
        if self._raw is None:
            inner = getattr(self.sock, "_sock", None)
            if self._green and isinstance(inner, _socket.socket):
                self._raw = inner
            elif not self._green and self.sock.gettimeout() is None:
                self._raw = self.sock
            else:
                self._raw = _socket.socket(fileno=os.dup(self.sock.fileno()))
                self._raw_is_dup = True
        return self._raw


class _SocketOutbox(Outbox):
    """The outbox of a socket owned by a thread: written by whoever can, never waiting."""

    def __init__(self, connection: Connection, *, maxsize: int, policy: str) -> None:
        super().__init__(maxsize=maxsize, policy=policy)
        self.connection = connection

    def take_all(self) -> list[Message]:
        """Remove and return every waiting message."""
        with self.lock:
            items = list(self.items)
            self.items.clear()
        return items

    def wake(self) -> None:
        """Write what waits now, if the socket's lock is free."""
        self.connection._write_offers()

    def close_slow(self) -> None:
        """Close with 1013 (the close frame goes out as the socket drains)."""
        self.connection.close(*SLOW_CLIENT)


def _earliest(*times: float | None) -> float | None:
    earliest = None
    for at in times:
        if at is not None and (earliest is None or at < earliest):
            earliest = at
    return earliest


class _Waker:
    """A descriptor other threads write to, to wake the view's ``poll()``: an eventfd."""

    def __init__(self) -> None:
        if hasattr(os, "eventfd"):
            self.fileno = self._write_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        else:  # pragma: no cover - not Linux
            self.fileno, self._write_fd = os.pipe()
            os.set_blocking(self.fileno, False)
            os.set_blocking(self._write_fd, False)

    def wake(self) -> None:
        with contextlib.suppress(OSError):  # already awake (full), or closed
            os.write(self._write_fd, (1).to_bytes(8, "little"))

    def drain(self) -> None:
        with contextlib.suppress(OSError):
            os.read(self.fileno, 4096)

    def close(self) -> None:
        os.close(self.fileno)
        if self._write_fd != self.fileno:  # pragma: no cover - not Linux
            os.close(self._write_fd)
