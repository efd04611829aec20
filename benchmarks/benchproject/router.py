"""The one ASGI application uvicorn serves: ``/raw`` is the raw echo, the rest is Django.

Routing costs one dict lookup and one string comparison per *connection*, not per
message, so the three targets share the same server, loop and settings at no cost.
"""

from __future__ import annotations

from . import raw
from .asgi import application as django_application


async def application(scope: raw.Scope, receive: raw.Receive, send: raw.Send) -> None:
    """Send ``websocket`` scopes for ``/raw`` to the raw echo, everything else to Django."""
    if scope["type"] == "websocket" and scope["path"] == "/raw":
        await raw.echo(scope, receive, send)
    else:
        await django_application(scope, receive, send)
