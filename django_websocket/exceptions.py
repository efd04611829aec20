"""Exceptions raised by django_websocket.

The class tree::

    WebSocketError
    ├── ConnectionClosed
    │   ├── ConnectionClosedOK       (close code 1000 or 1001)
    │   └── ConnectionClosedError    (any other code)
    └── GroupBackendError            (the groups backend cannot reach its broker)

A view may let :class:`ConnectionClosed` escape: the library ends the connection quietly,
with nothing logged.
"""

from __future__ import annotations

__all__ = [
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "GroupBackendError",
    "WebSocketError",
]

_NORMAL_CODES = frozenset({1000, 1001})


class WebSocketError(Exception):
    """Root of every exception that django_websocket raises."""


class ConnectionClosed(WebSocketError):
    """The connection is closed: nothing more can be sent.

    Attributes:
        code: the close code (1006 when the connection dropped without a close frame).
        reason: the close reason, possibly empty.
    """

    def __init__(self, code: int, reason: str = "") -> None:
        self.code = code
        self.reason = reason
        super().__init__(f"WebSocket closed with code {code}" + (f": {reason}" if reason else ""))

    @staticmethod
    def for_code(code: int, reason: str = "") -> ConnectionClosed:
        """Return the subclass instance that fits ``code``."""
        cls = ConnectionClosedOK if code in _NORMAL_CODES else ConnectionClosedError
        return cls(code, reason)


class ConnectionClosedOK(ConnectionClosed):
    """The connection closed normally (1000) or because a peer went away (1001)."""


class ConnectionClosedError(ConnectionClosed):
    """The connection closed with an error code, or dropped."""


class GroupBackendError(WebSocketError):
    """The groups backend could not reach its broker (Redis) in time.

    Raised by ``broadcast``/``abroadcast`` and by ``join`` when the message or the
    subscription could not be handed to the broker; nothing was delivered remotely.
    """
