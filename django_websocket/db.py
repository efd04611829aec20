"""Database connections between messages: a waiting socket holds none it need not hold.

A WebSocket view is a request that lasts hours and mostly waits. Django gives a request's
database connections back when the request finishes (``CONN_MAX_AGE``, the PostgreSQL
pool); :func:`release` does the same each time a view is about to wait for a message, in
the thread that runs the view, with Django's own rule
(``close_if_unusable_or_obsolete``): with ``CONN_MAX_AGE = 0`` the connection is closed
(a pooled one goes back to the pool), with a longer age only a broken or expired one is.

A connection inside a ``transaction.atomic()`` block is left alone: the view holds that
transaction (and its locks) across the wait on purpose.

It costs nothing for a view that opened no connection since the last wait: Django's
``connection_created`` signal marks the thread, and only a marked thread looks at its
connections.
"""

from __future__ import annotations

import threading
from typing import Any

from django.db import connections
from django.db.backends.signals import connection_created

__all__ = ["release"]

_marked = threading.local()  # per thread (per greenlet under gevent), as Django's connections


def _mark(sender: Any, connection: Any, **kwargs: Any) -> None:
    _marked.open = True


connection_created.connect(_mark)


def release() -> bool:
    """Before a view waits: close (or give back) the connections this thread may drop.

    Call it in the thread that runs the view (Django's connections are per thread), and
    again once the wait is over, as Django does before a request: a kept connection that
    broke or expired meanwhile is dropped.

    Returns:
        Whether a connection stays open in this thread (``CONN_MAX_AGE > 0``, or inside
        ``transaction.atomic()``).
    """
    if not getattr(_marked, "open", False):
        return False
    still_open = False
    for connection in connections.all(initialized_only=True):
        if connection.connection is None:
            continue
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()
        still_open = still_open or connection.connection is not None
    _marked.open = still_open
    return still_open
