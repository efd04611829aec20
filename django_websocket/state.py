"""The state of one WebSocket connection, free of I/O.

:class:`ConnectionState` checks every transition (CONNECTING → OPEN → CLOSED, or
CONNECTING → CLOSED for a denied handshake) and every argument a view passes, so the
sync and async front ends, and every transport, share one set of rules.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

from .exceptions import ConnectionClosed, WebSocketError

__all__ = ["ConnectionState", "State", "check_message", "choose_subprotocol", "validate_close"]

# Codes an application may put in a close frame (RFC 6455 §7.4, IANA registry).
_SENDABLE_CODES = frozenset(
    {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014}
)
_MAX_REASON_BYTES = 123


class State(enum.Enum):
    """Where a connection is in its life."""

    CONNECTING = "connecting"
    OPEN = "open"
    CLOSED = "closed"


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


class ConnectionState:
    """The handshake, subprotocol and close state of one connection.

    Args:
        offered_subprotocols: the subprotocols the client listed in its handshake.
    """

    def __init__(self, offered_subprotocols: Sequence[str] = ()) -> None:
        self.state = State.CONNECTING
        self.offered_subprotocols = list(offered_subprotocols)
        self.preferred_subprotocols: list[str] = []
        self.subprotocol: str | None = None
        self.close_code: int | None = None
        self.close_reason = ""

    def accept(self, subprotocol: str | None) -> str | None:
        """Move to OPEN; return the subprotocol to announce.

        With ``subprotocol=None`` the view's preferred list (from the decorator) decides.
        """
        if self.state is not State.CONNECTING:
            raise WebSocketError(f"cannot accept a handshake in state {self.state.name}")
        if subprotocol is None:
            subprotocol = choose_subprotocol(self.offered_subprotocols, self.preferred_subprotocols)
        elif subprotocol not in self.offered_subprotocols:
            raise ValueError(
                f"subprotocol {subprotocol!r} was not offered by the client "
                f"(offered: {self.offered_subprotocols})"
            )
        self.state = State.OPEN
        self.subprotocol = subprotocol
        return subprotocol

    def deny(self) -> None:
        """Move from CONNECTING to CLOSED: the handshake is refused."""
        if self.state is not State.CONNECTING:
            raise WebSocketError(f"cannot deny a handshake in state {self.state.name}")
        self.state = State.CLOSED

    def check_send(self, message: str | bytes) -> None:
        """Raise unless ``message`` can be sent now (the caller has accepted first)."""
        # Closed first: ``send(ws.wait())`` after the client left is ConnectionClosed
        # (a quiet end), not a TypeError about the ``None`` that wait() returned.
        if self.state is State.CLOSED:
            raise self.closed_error()
        check_message(message)

    def close(self, code: int, reason: str) -> bool:
        """Move from OPEN to CLOSED; return whether a close frame must be sent.

        The caller validates ``code`` and ``reason`` first, with :func:`validate_close`.
        """
        if self.state is not State.OPEN:
            return False
        self.state = State.CLOSED
        self.close_code, self.close_reason = code, reason
        return True

    def closed_by_peer(self, code: int, reason: str) -> None:
        """Record that the client closed or dropped the connection."""
        if self.state is not State.CLOSED:
            self.state = State.CLOSED
            self.close_code, self.close_reason = code, reason

    def closed_error(self) -> ConnectionClosed:
        """Return the exception that tells a caller the connection is closed."""
        return ConnectionClosed.for_code(self.close_code or 1006, self.close_reason)
