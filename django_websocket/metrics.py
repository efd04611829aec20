"""Prometheus metrics of WebSocket connections, with ``WEBSOCKET_METRICS = True``.

Needs ``prometheus-client`` (``pip install django-websocket-views[prometheus]``). The
metrics are registered in prometheus-client's default registry the first time they are
needed, so an existing ``/metrics`` endpoint (django-prometheus, or a view of your own
with ``prometheus_client.generate_latest``) shows them. Under several server processes
(gunicorn ``--workers``), set ``PROMETHEUS_MULTIPROC_DIR`` as prometheus-client's
multiprocess mode says; the gauge of open sockets sums the live processes (``livesum``).

What is recorded (every name starts with ``django_websocket_``):

- ``connections_open{view}``: accepted sockets not yet ended (gauge);
- ``handshakes_total{outcome, status}``: ``accepted`` (status ``101``) or ``denied``
  (the HTTP status it was refused with);
- ``messages_received_total{view}``, ``messages_sent_total{view}``,
  ``received_bytes_total{view}``, ``sent_bytes_total{view}``: messages and their payload
  bytes (UTF-8 for text) each way;
- ``closes_total{view, code}``: ended connections by close code;
- ``group_deliveries_total{backend}``, ``group_drops_total{backend}``: broadcast messages
  queued for a local socket, and refused by one (its buffer full, or it was closing).

``view`` is the URL pattern's view name (``request.resolver_match.view_name``).
"""

from __future__ import annotations

import threading
from typing import Any

from .conf import conf
from .protocol import Message

__all__ = ["Meter", "available", "broadcast", "denied", "enabled", "meter"]

_lock = threading.Lock()
_metrics: _Metrics | None = None


def available() -> bool:
    """Return whether prometheus-client can be imported."""
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        return False
    return True


def enabled() -> bool:
    """Return whether ``WEBSOCKET_METRICS`` is on."""
    return conf.METRICS


class _Metrics:
    """The metric objects, registered once per process in the default registry."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge

        prefix = "django_websocket_"
        self.open = Gauge(
            prefix + "connections_open",
            "WebSocket connections accepted and not yet ended.",
            ["view"],
            multiprocess_mode="livesum",
        )
        self.handshakes = Counter(
            prefix + "handshakes",
            "WebSocket handshakes, accepted (status 101) or denied (the HTTP status).",
            ["outcome", "status"],
        )
        self.messages_received = Counter(
            prefix + "messages_received", "WebSocket messages received.", ["view"]
        )
        self.messages_sent = Counter(prefix + "messages_sent", "WebSocket messages sent.", ["view"])
        self.bytes_received = Counter(
            prefix + "received_bytes", "Payload bytes of WebSocket messages received.", ["view"]
        )
        self.bytes_sent = Counter(
            prefix + "sent_bytes", "Payload bytes of WebSocket messages sent.", ["view"]
        )
        self.closes = Counter(
            prefix + "closes", "Ended WebSocket connections by close code.", ["view", "code"]
        )
        self.deliveries = Counter(
            prefix + "group_deliveries",
            "Broadcast messages queued for a local socket.",
            ["backend"],
        )
        self.drops = Counter(
            prefix + "group_drops",
            "Broadcast messages a local socket refused (buffer full, or closing).",
            ["backend"],
        )


def _get() -> _Metrics | None:
    # The metrics when they are on; created once per process.
    global _metrics
    if not conf.METRICS:
        return None
    if _metrics is None:
        with _lock:
            if _metrics is None:
                _metrics = _Metrics()
    return _metrics


def _size(message: Message) -> int:
    if isinstance(message, bytes) or message.isascii():
        return len(message)
    return len(message.encode())


class Meter:
    """The metrics of one accepted connection, labelled with its view once."""

    def __init__(self, metrics: _Metrics, view: str) -> None:
        self._metrics = metrics
        self.view = view
        self._received = metrics.messages_received.labels(view)
        self._sent = metrics.messages_sent.labels(view)
        self._bytes_received = metrics.bytes_received.labels(view)
        self._bytes_sent = metrics.bytes_sent.labels(view)

    def received(self, message: Message) -> None:
        """Count a message that arrived."""
        self._received.inc()
        self._bytes_received.inc(_size(message))

    def sent(self, message: Message) -> None:
        """Count a message that went out."""
        self._sent.inc()
        self._bytes_sent.inc(_size(message))

    def opened(self) -> None:
        """Count the accept: one more open socket."""
        self._metrics.handshakes.labels("accepted", "101").inc()
        self._metrics.open.labels(self.view).inc()

    def closed(self, code: int) -> None:
        """Count the end: one open socket less, one close with ``code``."""
        self._metrics.open.labels(self.view).dec()
        self._metrics.closes.labels(self.view, str(code)).inc()


def meter(view: str) -> Meter | None:
    """Return a :class:`Meter` for a connection to ``view``, or ``None`` (metrics off)."""
    metrics = _get()
    return None if metrics is None else Meter(metrics, view)


def denied(status: int) -> None:
    """Count a handshake refused with HTTP ``status``."""
    metrics = _get()
    if metrics is not None:
        metrics.handshakes.labels("denied", str(status)).inc()


def broadcast(backend: Any, delivered: int, dropped: int) -> None:
    """Count what one local fan-out of a broadcast did, for ``backend``'s class."""
    metrics = _get()
    if metrics is not None:
        name = type(backend).__name__
        if delivered:
            metrics.deliveries.labels(name).inc(delivered)
        if dropped:
            metrics.drops.labels(name).inc(dropped)
