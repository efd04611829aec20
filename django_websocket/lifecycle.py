"""What a connection's life reports: the signals, the connection log line, metrics.

The one place that sends :data:`~django_websocket.signals.websocket_connected` and
:data:`~django_websocket.signals.websocket_disconnected`, writes the log line, and
counts opens and closes. The handler gives each connection a :class:`Lifecycle` before
the view runs; the drivers announce the accept through it (:meth:`Lifecycle.connected`
from the view's thread, :meth:`Lifecycle.aconnected` on the loop of an async view);
the server adapters call :func:`ended` / :func:`aended` once the view is done and the
socket closed. The core (:meth:`Protocol.take_connected
<django_websocket.protocol.Protocol.take_connected>` and ``take_disconnected``) makes
each happen exactly once, whoever asks and however the connection ends.

The log line, on the ``django_websocket`` logger at INFO, one per ended connection::

    WebSocket /chat/ closed 1000 after 12.503s: 4 received, 9 sent, user 42

It carries the same facts in ``record.websocket`` (a dict), for structured formatters.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.dispatch import Signal
from django.http import HttpRequest
from django.utils.functional import LazyObject, empty

from . import greenlets, metrics
from .bridge import bridge_for
from .groups.base import home_loop
from .protocol import Protocol
from .signals import websocket_connected, websocket_disconnected

__all__ = ["Lifecycle", "aended", "ended", "refused"]

logger = logging.getLogger("django_websocket")


class Lifecycle:
    """One connection's announcements (see the module docstring).

    Args:
        request: the handshake's request, once the view is resolved.
        sender: the handler class, the signals' ``sender``.
        is_async: whether the view is ``async def`` (a sync view's accept is announced
            from its own thread).
    """

    __slots__ = ("is_async", "meter", "protocol", "request", "sender", "view")

    def __init__(self, request: HttpRequest, *, sender: type, is_async: bool) -> None:
        self.request = request
        self.sender = sender
        self.is_async = is_async
        self.protocol: Protocol = request.websocket_session.protocol  # type: ignore[attr-defined]
        match = request.resolver_match
        self.view = match.view_name if match is not None else ""
        self.meter = metrics.meter(self.view)
        self.protocol.meter = self.meter

    def _opened(self) -> dict[str, Any]:
        if self.meter is not None:
            self.meter.opened()
        return {"request": self.request, "websocket": self.request.websocket}  # type: ignore[attr-defined]

    def connected(self) -> None:
        """Announce the accept, once (sync code: the view's thread)."""
        if self.protocol.take_connected():
            _send(websocket_connected, self.sender, self._opened())

    async def aconnected(self) -> None:
        """Announce the accept, once, on the event loop of an async view.

        For a sync view it does nothing: its thread announces it (a sync receiver run
        from the loop would wait for that very thread).
        """
        if self.is_async and self.protocol.take_connected():
            await _asend(websocket_connected, self.sender, self._opened())

    def _closing(self, user_id: Any) -> dict[str, Any]:
        # The end's facts, counted and logged; returns the signal's arguments.
        protocol = self.protocol
        code = protocol.close_code or 1006
        facts = {
            "path": self.request.path,
            "user_id": user_id,
            "code": code,
            "reason": protocol.close_reason,
            "duration": time.monotonic() - (protocol.accepted_at or 0.0),
            "messages_received": protocol.messages_received,
            "messages_sent": protocol.messages_sent,
        }
        if self.meter is not None:
            self.meter.closed(code)
        logger.info(
            "WebSocket %s closed %s after %.3fs: %d received, %d sent%s",
            facts["path"],
            code,
            facts["duration"],
            facts["messages_received"],
            facts["messages_sent"],
            "" if user_id is None else f", user {user_id}",
            extra={"websocket": facts},
        )
        arguments = {key: value for key, value in facts.items() if key not in ("path", "user_id")}
        return {"request": self.request, "websocket": self.request.websocket, **arguments}  # type: ignore[attr-defined]

    def disconnected(self) -> None:
        """Announce the end (and the accept first, if nobody did), once; sync code."""
        if self.protocol.take_connected():
            _send(websocket_connected, self.sender, self._opened())
        if self.protocol.take_disconnected():
            user_id = _user_id(self.request) if logger.isEnabledFor(logging.INFO) else None
            _send(websocket_disconnected, self.sender, self._closing(user_id))

    async def adisconnected(self) -> None:
        """The same as :meth:`disconnected`, on an event loop."""
        if self.protocol.take_connected():
            await _asend(websocket_connected, self.sender, self._opened())
        if self.protocol.take_disconnected():
            request = self.request
            user_id = None  # only the log line needs it: no query while it is off
            if logger.isEnabledFor(logging.INFO):
                if _user_known(request):
                    user_id = _user_id(request)
                else:  # loading the user queries the database: in the connection's thread
                    user_id = await sync_to_async(_user_id)(request)
            await _asend(websocket_disconnected, self.sender, self._closing(user_id))


def ended(protocol: Protocol) -> None:
    """Report a connection whose view is done and socket closed (sync code)."""
    if protocol.accepted_at is None:
        if protocol.denied_status is not None:
            metrics.denied(protocol.denied_status)
    elif isinstance(protocol.observer, Lifecycle):
        protocol.observer.disconnected()


async def aended(protocol: Protocol) -> None:
    """Report a connection whose view is done and socket closed (on its event loop)."""
    if protocol.accepted_at is None:
        if protocol.denied_status is not None:
            metrics.denied(protocol.denied_status)
    elif isinstance(protocol.observer, Lifecycle):
        await protocol.observer.adisconnected()


def refused(status: int) -> None:
    """Report a handshake refused before Django saw it (a malformed one, a sync worker)."""
    metrics.denied(status)


def _send(signal: Signal, sender: type, named: dict[str, Any]) -> None:
    # From sync code: Django's send_robust (a raising receiver is logged by Django);
    # whatever else fails is logged here: the connection never breaks for a signal.
    try:
        if greenlets.patched():
            _send_in_greenlet(signal, sender, named)
        else:
            signal.send_robust(sender, **named)
    except Exception:
        logger.exception("Sending a WebSocket signal failed")


async def _asend(signal: Signal, sender: type, named: dict[str, Any]) -> None:
    try:
        await signal.asend_robust(sender, **named)
    except Exception:
        logger.exception("Sending a WebSocket signal failed")


def _send_in_greenlet(signal: Signal, sender: type, named: dict[str, Any]) -> None:
    # Under gevent, send_robust's async_to_sync for async receivers fails in a greenlet
    # while another greenlet's event loop runs (they share one OS thread, and asyncio
    # allows one running loop per OS thread): the sync receivers run here, the async
    # ones on the library's own loop, which runs in a real OS thread (greenlets.py).
    sync_receivers, async_receivers = signal._live_receivers(sender)
    for receiver in sync_receivers:
        try:
            receiver(signal=signal, sender=sender, **named)
        except Exception as error:
            _receiver_failed(receiver, error)
    if async_receivers:
        bridge_for(home_loop()).call(_run_async(signal, sender, named, async_receivers))


async def _run_async(
    signal: Signal, sender: type, named: dict[str, Any], receivers: list[Callable[..., Any]]
) -> None:
    async def run(receiver: Callable[..., Any]) -> None:
        try:
            await receiver(signal=signal, sender=sender, **named)
        except Exception as error:
            _receiver_failed(receiver, error)

    await asyncio.gather(*(run(receiver) for receiver in receivers))


def _receiver_failed(receiver: Callable[..., Any], error: Exception) -> None:
    # As Django's send_robust logs it.
    logging.getLogger("django.dispatch").error(
        "Error calling %s in Signal.send_robust() (%s)",
        getattr(receiver, "__qualname__", receiver),
        error,
        exc_info=error,
    )


def _user_known(request: HttpRequest) -> bool:
    # Whether the user needs no database query: absent, or already loaded (request.user,
    # or request.auser() as async views and login_required use).
    if "_acached_user" in request.__dict__:
        return True
    user = request.__dict__.get("user")
    return not isinstance(user, LazyObject) or user._wrapped is not empty


def _user_id(request: HttpRequest) -> Any:
    # The logged-in user's primary key, or None (anonymous; or the lookup failed).
    try:
        user = request.__dict__.get("_acached_user") or getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        return user.pk
    except Exception:
        logger.warning("Could not read the user of a WebSocket connection", exc_info=True)
        return None
