"""Every rule of one WebSocket connection, with no I/O.

:class:`Protocol` is the connection core that both drivers share: the asyncio driver
(:mod:`django_websocket.asyncio`, ASGI events on an event loop) and the blocking driver
(:mod:`django_websocket.sync`, a socket owned by the view's thread or greenlet). A driver
tells it what happened (the view accepted, a message arrived at time *t*, the client
closed, the view returned) and asks it what to do (accept first? close with which code?
keep reading? when is the connection idle?). Nothing here waits, reads or writes, so the
rules are tested in milliseconds without a server.

The rules, in the order a connection meets them:

- **The handshake is decided on first use.** Until the view accepts, uses the socket, or
  returns, the handshake is open (:attr:`Protocol.must_accept`) and the view may still
  refuse it with any ``HttpResponse``. Any use of the socket first accepts it with the
  defaults: the view's preferred subprotocols, in the view's order.
- **Incoming messages** are capped at ``max_size`` bytes (a larger one closes with 1009)
  and wait, unread, in a buffer of at most ``max_queue`` messages; when it is full the
  driver stops reading, so TCP pushes back on the client.
- **A rate limit** (:class:`RateLimit`, a token bucket per connection) caps how many
  messages a client may send: past it the connection closes with 1008 "rate limit
  exceeded".
- **Idle connections** (no message for ``idle_timeout`` seconds, and nothing unread) are
  closed with 1000 "idle timeout".
- **Closing** validates the code and reason once, whoever closes; before the handshake a
  close refuses it with 403. Close hooks (groups) run exactly once, however it ends.
- **The view's outcome** decides the last close: 1000 when it returns, 1011 when it
  raised or answered with a 5xx after the handshake; a response returned before the
  handshake denies it.
- **The lifecycle** is announced exactly once each way: the accept
  (:meth:`Protocol.take_connected`) and the end (:meth:`Protocol.take_disconnected`),
  with the facts the signals, the connection log and metrics report (when it was
  accepted or the status it was denied with, messages each way).
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol as _Interface

from .exceptions import ConnectionClosed, WebSocketError

__all__ = [
    "CLOSED",
    "CONNECTING",
    "OPEN",
    "CloseAction",
    "Message",
    "Meter",
    "Observer",
    "Protocol",
    "RateLimit",
    "State",
    "TokenBucket",
    "check_message",
    "choose_subprotocol",
    "validate_close",
]

Message = str | bytes

# Codes an application may put in a close frame (RFC 6455 §7.4, IANA registry).
_SENDABLE_CODES = frozenset(
    {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014}
)
_MAX_REASON_BYTES = 123
TOO_BIG = (1009, "message too big")
IDLE = (1000, "idle timeout")
RATE_LIMITED = (1008, "rate limit exceeded")


class State(enum.Enum):
    """Where a connection is in its life."""

    CONNECTING = "connecting"
    OPEN = "open"
    CLOSED = "closed"


# The states as module constants, for the drivers' hot paths: reading a member from its
# class costs ten times as much before Python 3.12 (the websockets library does the same).
CONNECTING, OPEN, CLOSED = State.CONNECTING, State.OPEN, State.CLOSED


class CloseAction(enum.Enum):
    """What a driver does when something asks to close (see :meth:`Protocol.close`)."""

    DENY = "deny"  # the handshake was still open: refuse it with 403
    SEND_CLOSE = "send close"  # send a close frame with the code and reason
    NOTHING = "nothing"  # already closed


def choose_subprotocol(offered: Sequence[str], preferred: Sequence[str]) -> str | None:
    """Return the first of the view's ``preferred`` subprotocols that the client offered.

    The server's order wins: a view listing ``["chat.v2", "chat.v1"]`` picks ``chat.v2``
    when the client offers both. ``None`` when there is nothing in common.
    """
    return next((name for name in preferred if name in offered), None)


def check_message(message: object) -> None:
    """Raise :class:`TypeError` unless ``message`` is ``str`` (text) or ``bytes`` (binary)."""
    if not isinstance(message, (str, bytes)):
        raise TypeError(f"a message is str or bytes, not {type(message).__name__}")


def validate_close(code: int, reason: str) -> None:
    """Raise :class:`ValueError` unless ``code`` and ``reason`` fit in a close frame."""
    if code not in _SENDABLE_CODES and not 3000 <= code <= 4999:
        raise ValueError(f"{code} is not a close code an application may send")
    if len(reason.encode()) > _MAX_REASON_BYTES:
        raise ValueError(f"close reason is longer than {_MAX_REASON_BYTES} bytes in UTF-8")


def too_big(message: Message, limit: int) -> bool:
    """Return whether ``message`` is over ``limit`` bytes (a ``str`` counts in UTF-8)."""
    # Encode only when the length in characters cannot decide.
    if isinstance(message, bytes) or len(message) > limit or len(message) * 4 <= limit:
        return len(message) > limit
    return len(message.encode()) > limit


_RATE = re.compile(r"\s*([0-9]+)\s*/\s*([0-9]*)\s*([smhd])\s*")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class RateLimit:
    """How many messages a client may send: ``count`` per ``period`` seconds.

    A token bucket: a connection starts with ``count`` tokens, each incoming message
    takes one, and tokens come back at ``count / period`` per second, up to ``count``.
    So a client may send ``count`` messages at once, then keep up the average rate.
    """

    count: int
    period: float

    def __post_init__(self) -> None:
        if self.count < 1 or not self.period > 0:
            raise ValueError("a rate limit needs at least 1 message per a positive period")

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """Read a rate written ``"COUNT/[N]UNIT"``, such as ``"10/s"`` or ``"100/5m"``.

        The unit is ``s``, ``m``, ``h`` or ``d``; ``N`` (default 1) multiplies it:
        ``"60/m"`` is 60 messages a minute, ``"1000/h"`` 1000 an hour.

        Raises:
            TypeError: ``text`` is not a ``str``.
            ValueError: ``text`` is not a rate in that form.
        """
        if not isinstance(text, str):
            raise TypeError(f'a rate limit is a str such as "60/m", not {type(text).__name__}')
        return _parse_rate(text)

    def __str__(self) -> str:
        for unit in "dhms":
            seconds = _UNIT_SECONDS[unit]
            times, rest = divmod(self.period, seconds)
            if not rest:
                return f"{self.count}/{'' if times == 1 else int(times)}{unit}"
        return f"{self.count}/{self.period:g}s"


@functools.lru_cache(maxsize=64)
def _parse_rate(text: str) -> RateLimit:
    # Cached: the setting's value is read for each connection.
    match = _RATE.fullmatch(text)
    count = int(match[1]) if match else 0
    times = int(match[2] or 1) if match else 0
    if match is None or count < 1 or times < 1:
        raise ValueError(
            f"{text!r} is not a rate limit: write messages per period, such as "
            '"10/s", "100/5m", "60/m" or "1000/h" (units s, m, h, d; at least 1)'
        )
    return RateLimit(count, float(times * _UNIT_SECONDS[match[3]]))


class TokenBucket:
    """The tokens one connection has left under a :class:`RateLimit` (no clock of its own).

    Args:
        limit: the rate; the bucket starts full.
    """

    __slots__ = ("_at", "_tokens", "limit")

    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self._tokens = float(limit.count)
        self._at: float | None = None  # when tokens were last counted (the driver's clock)

    def take(self, now: float) -> bool:
        """Take a token for a message that arrived at ``now``; ``False`` when none is left."""
        limit = self.limit
        if self._at is not None:
            refill = (now - self._at) * limit.count / limit.period
            self._tokens = min(float(limit.count), self._tokens + refill)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


class Observer(_Interface):
    """Who hears of the accept: :class:`django_websocket.lifecycle.Lifecycle`."""

    def connected(self) -> None:
        """The handshake was accepted; called in the view's thread (sync code)."""

    async def aconnected(self) -> None:
        """The handshake was accepted; awaited on the event loop that accepted it."""


class Meter(_Interface):
    """What counts each message (metrics): :class:`django_websocket.metrics.Meter`."""

    def received(self, message: Message) -> None:
        """Count a message that arrived."""

    def sent(self, message: Message) -> None:
        """Count a message that went out."""


class Protocol:
    """The state and rules of one connection; drivers do the I/O it asks for.

    Args:
        offered_subprotocols: the subprotocols the client listed in its handshake.
        max_queue: unread incoming messages to hold before reading pauses.
        max_size: bytes in one incoming message; a larger one closes with 1009.
    """

    # Slots: no instance dictionary on every idle socket.
    __slots__ = (
        "_announced", "_bucket", "_close_hooks", "_ended", "accepted_at", "close_code",
        "close_reason", "denied_status", "failed", "idle_timeout", "last_message_at",
        "max_queue", "max_size", "messages_received", "messages_sent", "meter", "observer",
        "offered_subprotocols", "preferred_subprotocols", "state", "subprotocol", "unread",
    )  # fmt: skip

    def __init__(
        self, offered_subprotocols: Sequence[str] = (), *, max_queue: int, max_size: int
    ) -> None:
        if max_queue < 1:
            raise ValueError("max_queue must be at least 1")
        self.state = State.CONNECTING
        self.offered_subprotocols = tuple(offered_subprotocols)  # most offer none: ()
        self.preferred_subprotocols: Sequence[str] = ()  # the view's, set before it runs
        self.subprotocol: str | None = None
        self.close_code: int | None = None
        self.close_reason = ""
        self.max_queue = max_queue
        self.max_size = max_size
        self.idle_timeout: float | None = None  # seconds without a client message
        self.last_message_at = 0.0  # the last message's time (driver clock), for the idle timeout
        self.failed = False  # the view raised after the handshake
        # A list, not a deque: an empty deque costs 760 bytes (its first block) on every
        # idle socket; the buffer is at most max_queue long, so pop(0) stays cheap.
        self.unread: list[Message] = []
        self._close_hooks: list[Callable[[], None]] | None = None  # most sockets have none
        self._bucket: TokenBucket | None = None  # None: no limit (set before the view runs)
        self._init_lifecycle()

    # -- The handshake -----------------------------------------------------------------

    @property
    def must_accept(self) -> bool:
        """Whether the handshake is still open: any use of the socket accepts it first."""
        return self.state is State.CONNECTING

    def accept(self, subprotocol: str | None = None, *, now: float = 0.0) -> str | None:
        """Move to OPEN; return the subprotocol to announce.

        With ``subprotocol=None`` the view's preferred list decides.

        Raises:
            WebSocketError: the handshake is already decided.
            ValueError: ``subprotocol`` was not offered by the client.
        """
        if self.state is not State.CONNECTING:
            raise WebSocketError(f"cannot accept a handshake in state {self.state.name}")
        if subprotocol is None:
            subprotocol = choose_subprotocol(self.offered_subprotocols, self.preferred_subprotocols)
        elif subprotocol not in self.offered_subprotocols:
            raise ValueError(
                f"subprotocol {subprotocol!r} was not offered by the client "
                f"(offered: {list(self.offered_subprotocols)})"
            )
        self.state = State.OPEN
        self.subprotocol = subprotocol
        self.last_message_at = now
        self.accepted_at = now
        return subprotocol

    def deny(self, status: int = 403) -> None:
        """Move from CONNECTING to CLOSED: the handshake is refused with HTTP ``status``.

        Raises:
            WebSocketError: the handshake is already decided.
        """
        if self.state is not State.CONNECTING:
            raise WebSocketError(f"cannot deny a handshake in state {self.state.name}")
        self.state = State.CLOSED
        self.denied_status = status

    # -- Incoming messages -------------------------------------------------------------

    def receive(self, message: Message, now: float) -> bool:
        """Record that ``message`` arrived at ``now``; return whether the view may have it.

        A message over ``max_size`` is refused: the connection is then closing with 1009;
        so is a message past the rate limit (:meth:`limit_rate`), with 1008. Either way
        :meth:`close` has been applied, and the driver sends the close frame.
        """
        if self.idle_timeout is not None:  # only the idle deadline reads it
            self.last_message_at = now
        if self._bucket is not None and not self._bucket.take(now):
            self.close(*RATE_LIMITED)
            return False
        # The common case first, with no call: short enough in any encoding.
        if len(message) * 4 <= self.max_size or not too_big(message, self.max_size):
            self.messages_received += 1
            if self.meter is not None:
                self.meter.received(message)
            return True
        self.close(*TOO_BIG)
        return False

    def queue(self, message: Message) -> None:
        """Keep a received message for the view to take later."""
        self.unread.append(message)

    def take(self) -> Message | None:
        """Return the oldest unread message, or ``None`` when there is none."""
        return self.unread.pop(0) if self.unread else None

    @property
    def reading_paused(self) -> bool:
        """Whether the unread buffer is full: read nothing more until the view takes one."""
        return len(self.unread) >= self.max_queue

    @property
    def finished(self) -> bool:
        """Whether no message will ever be available again (closed, nothing unread)."""
        return self.state is State.CLOSED and not self.unread

    # -- The rate limit ----------------------------------------------------------------

    def limit_rate(self, limit: RateLimit | None) -> None:
        """Cap the client's messages at ``limit`` from now on (``None``: no limit)."""
        self._bucket = None if limit is None else TokenBucket(limit)

    @property
    def rate_limit(self) -> RateLimit | None:
        """The rate limit in force, or ``None``."""
        return None if self._bucket is None else self._bucket.limit

    # -- Idle connections --------------------------------------------------------------

    def idle_deadline(self) -> float | None:
        """Return when the connection becomes idle, or ``None`` if it never does now.

        A full unread buffer means the view is behind, not the client idle.
        """
        if self.idle_timeout is None or self.state is not State.OPEN or self.reading_paused:
            return None
        return self.last_message_at + self.idle_timeout

    def is_idle(self, now: float) -> bool:
        """Whether the idle deadline has passed at ``now``."""
        deadline = self.idle_deadline()
        return deadline is not None and now >= deadline

    # -- Sending and closing -----------------------------------------------------------

    def check_send(self, message: Message) -> None:
        """Raise unless ``message`` can be sent now (the caller has accepted first).

        Raises:
            ConnectionClosed: the connection is closed.
            TypeError: ``message`` is neither ``str`` nor ``bytes``.
        """
        # Closed first: ``send(ws.wait())`` after the client left is ConnectionClosed
        # (a quiet end), not a TypeError about the ``None`` that wait() returned.
        if self.state is State.CLOSED:
            raise self.closed_error()
        check_message(message)

    def close(self, code: int, reason: str) -> CloseAction:
        """Apply a close asked for by the view, a timer or another task.

        Raises:
            ValueError: ``code`` or ``reason`` cannot go in a close frame.
        """
        validate_close(code, reason)
        if self.state is State.CONNECTING:
            self.deny()
            return CloseAction.DENY
        if self.state is State.CLOSED:
            return CloseAction.NOTHING
        self.state = State.CLOSED
        self.close_code, self.close_reason = code, reason
        return CloseAction.SEND_CLOSE

    def closed_by_peer(self, code: int, reason: str = "") -> None:
        """Record that the client closed or dropped the connection (1006: dropped)."""
        if self.state is not State.CLOSED:
            self.state = State.CLOSED
            self.close_code, self.close_reason = code, reason

    def closed_error(self) -> ConnectionClosed:
        """Return the exception that tells a caller the connection is closed."""
        return ConnectionClosed.for_code(self.close_code or 1006, self.close_reason)

    # -- Close hooks -------------------------------------------------------------------

    def on_close(self, hook: Callable[[], None]) -> None:
        """Have ``hook`` run once when the connection closes or its view ends."""
        if self._close_hooks is None:
            self._close_hooks = []
        self._close_hooks.append(hook)

    def take_close_hooks(self) -> list[Callable[[], None]]:
        """Return the hooks to run now; each is returned once, however often this is called."""
        hooks, self._close_hooks = self._close_hooks, None
        return hooks or []

    # -- The lifecycle: what the signals, the connection log and metrics report --------

    accepted_at: float | None  # the driver's clock at the accept
    denied_status: int | None  # the HTTP status of a refused handshake

    def _init_lifecycle(self) -> None:
        self.accepted_at = None
        self.denied_status = None
        self.messages_received = 0  # messages that arrived within the size limit
        self.messages_sent = 0  # messages the socket took (the view's and the groups')
        self.observer: Observer | None = None  # set by the handler before the view runs
        self.meter: Meter | None = None  # set when metrics are on
        self._announced = False
        self._ended = False

    def sent(self, message: Message) -> None:
        """Count ``message`` as sent; drivers call it as they hand it to the socket (server)."""
        self.messages_sent += 1
        if self.meter is not None:
            self.meter.sent(message)

    def take_connected(self) -> bool:
        """Return ``True`` once, after the accept: the caller announces the connection."""
        if self.accepted_at is None or self._announced:
            return False
        self._announced = True
        return True

    def take_disconnected(self) -> bool:
        """Return ``True`` once, for an accepted connection: the caller announces its end.

        Call it once the view is done and the socket closed.
        """
        if self.accepted_at is None or self._ended:
            return False
        self._ended = True
        return True

    # -- The view's outcome ------------------------------------------------------------

    def end_code(self, status: int, *, returned_nothing: bool) -> int | None:
        """Return the close code to end with once the view is done, or ``None`` to deny.

        Args:
            status: the status of the response the middleware chain returned.
            returned_nothing: whether the view returned ``None`` (or let
                ``ConnectionClosed`` escape) rather than a response.

        Before the handshake a response denies it (``None``); a view that returned
        nothing without touching the socket has it accepted, then closed with 1000.
        After the handshake: 1011 if the view raised or the response is a 5xx, else 1000.
        """
        if self.state is State.CONNECTING:
            return 1000 if returned_nothing else None
        return 1011 if self.failed or status >= 500 else 1000
