"""``manage.py runserver`` with the raw ASGI echo at ``/raw``: the baseline on that server.

The same command as django_websocket's ``runserver`` (same uvicorn configuration:
``websockets-sansio``, ``ws_max_size`` from ``WEBSOCKET_MAX_MESSAGE_SIZE``, lifespan on),
whose application sends ``websocket`` scopes for ``/raw`` to
``benchproject.raw.echo``, as ``benchproject.router`` does under uvicorn. The conformance
run uses it to show which Autobahn outcomes the server decides, without Django.
"""

from __future__ import annotations

from typing import Any

from benchproject import raw

from django_websocket.management.commands.runserver import Command as RunserverCommand


class Command(RunserverCommand):
    """runserver whose ``/raw`` WebSocket path is the raw ASGI echo."""

    help = "runserver, with the raw ASGI echo (no Django) at /raw."

    def get_asgi_application(self, **options: Any) -> Any:
        """Route ``/raw`` to the raw echo, everything else to runserver's application."""
        django_application = super().get_asgi_application(**options)

        async def application(scope: raw.Scope, receive: raw.Receive, send: raw.Send) -> None:
            if scope["type"] == "websocket" and scope["path"] == "/raw":
                await raw.echo(scope, receive, send)
            else:
                await django_application(scope, receive, send)

        return application
