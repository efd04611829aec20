"""Signals sent over a WebSocket connection's life, on every server.

Connect receivers as to any Django signal; sync and async receivers both work (sent
with Django's ``send_robust`` from sync code and ``asend_robust`` on an event loop)::

    from django.dispatch import receiver
    from django_websocket.signals import websocket_disconnected

    @receiver(websocket_disconnected)
    def audit(sender, request, websocket, code, duration, **kwargs):
        ...

A receiver that raises is logged by Django (the ``django.dispatch`` logger) and the
connection goes on: it never breaks the socket. Each signal is sent exactly once per
accepted connection, however it ends; a refused handshake sends neither.
"""

from __future__ import annotations

from django.dispatch import Signal

__all__ = ["websocket_connected", "websocket_disconnected"]

websocket_connected = Signal()
"""Sent once the handshake is accepted, before the view's first use of the socket returns.

Arguments: ``sender`` (the server adapter's handler class), ``request`` (the handshake's
``HttpRequest``), ``websocket`` (the view's ``request.websocket``).
"""

websocket_disconnected = Signal()
"""Sent once the connection has ended: the view is done and the socket closed.

Arguments: ``sender``, ``request``, ``websocket`` as for :data:`websocket_connected`, and
``code`` (the close code: the one sent, or the client's; 1006 for a dropped connection),
``reason`` (the close reason, often empty), ``duration`` (seconds from the accept),
``messages_received`` and ``messages_sent`` (messages each way, group messages included).
"""
