"""The ASGI application ``echo.py`` serves: ``/raw...`` is ``raw.py``, the rest is Django.

Routing costs one dict lookup and one string comparison per *connection*, not per
message, so the targets share the same server, loop and settings at no cost.
"""

from __future__ import annotations

from . import raw
from .asgi import application as django_application


async def application(scope: raw.Scope, receive: raw.Receive, send: raw.Send) -> None:
    """Send ``websocket`` scopes for ``raw.ROUTES`` to ``raw``, everything else to Django."""
    if scope["type"] == "websocket" and scope["path"] in raw.ROUTES:
        await raw.application(scope, receive, send)
    else:
        await django_application(scope, receive, send)
