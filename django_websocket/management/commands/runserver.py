"""``manage.py runserver`` for HTTP and WebSockets on one port, with uvicorn underneath.

Everything else is Django's own runserver: ``addrport``, ``--ipv6``, ``--noreload``
(the autoreloader restarts the server when code changes), system checks, the migrations
warning, the banner, and a line on the ``django.server`` logger per HTTP request
(``"GET /path HTTP/1.1" 200 1234``) and per WebSocket connection, when it ends
(``"WEBSOCKET /path" 101 closed 1000 after 2.31s``, or the denial's status); with
``django.contrib.staticfiles``, ``--nostatic`` and ``--insecure`` as usual.
``--nothreading`` is accepted and has no effect: one event loop serves every
connection, and sync views still get a thread each.

For this command to replace Django's (or staticfiles'), ``"django_websocket"`` must come
before ``"django.contrib.staticfiles"`` in ``INSTALLED_APPS``.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import sys
import time
from datetime import datetime
from typing import Any

import uvicorn
from django.apps import apps
from django.conf import settings
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.contrib.staticfiles.management.commands.runserver import (
    Command as StaticfilesRunserverCommand,
)
from django.db import connections
from django.utils import autoreload

from ...asgi import get_asgi_application
from ...asyncio.asgi import Event, Receive, Scope, Send
from ...conf import conf

logger = logging.getLogger("django.server")  # Django's runserver logs its lines there

_ERRORS = {
    errno.EACCES: "You don't have permission to access that port.",
    errno.EADDRINUSE: "That port is already in use.",
    errno.EADDRNOTAVAIL: "That IP address can't be assigned to.",
}


class Command(StaticfilesRunserverCommand):
    """Django's development server, serving WebSocket views too."""

    help = "Start a development server for HTTP and WebSocket requests (uvicorn)."

    def get_asgi_application(self, **options: Any) -> Any:
        """Return the application, serving static files the way staticfiles does."""
        application: Any = get_asgi_application()
        static = options.get("use_static_handler", True) and (
            settings.DEBUG or options.get("insecure_serving", False)
        )
        if static and apps.is_installed("django.contrib.staticfiles"):
            application = ASGIStaticFilesHandler(application)
        return AccessLog(application)

    def on_bind(self, server_port: int) -> None:
        """Print Django's banner, naming the server that really runs."""
        address: str = self.addr  # type: ignore[attr-defined]
        if self._raw_ipv6:  # type: ignore[attr-defined]
            address = f"[{address}]"
        elif address == "0":
            address = "0.0.0.0"
        quit_command = "CTRL-BREAK" if sys.platform == "win32" else "CONTROL-C"
        self.stdout.write(
            f"{datetime.now():%B %d, %Y - %X}\n"
            f"Django version {self.get_version()}, using settings {settings.SETTINGS_MODULE!r}\n"
            f"Starting ASGI development server (HTTP and WebSocket) at "
            f"{self.protocol}://{address}:{server_port}/\n"
            f"Quit the server with {quit_command}."
        )
        self.stdout.write(
            self.style.WARNING(
                "WARNING: This is a development server. Do not use it in a production "
                "setting; see docs/deployment.md."
            )
        )

    def inner_run(self, *args: Any, **options: Any) -> None:
        """Run the checks as Django does, then uvicorn instead of the WSGI server."""
        autoreload.raise_last_exception()
        if not options["skip_checks"]:
            self.stdout.write("Performing system checks...\n\n")
            check_kwargs: dict[str, Any] = dict(super().get_check_kwargs(options))  # type: ignore[arg-type]
            self.check(**check_kwargs, display_num_errors=True)
        self.check_migrations()
        for connection in connections.all(initialized_only=True):
            connection.close()

        # handle() has parsed addrport into self.addr / self.port (untyped in the stubs).
        address: str = self.addr  # type: ignore[attr-defined]
        port = int(self.port)  # type: ignore[attr-defined]
        config = uvicorn.Config(
            self.get_asgi_application(**options),
            host=address,
            port=port,
            ws="websockets-sansio",
            ws_max_size=conf.MAX_MESSAGE_SIZE,  # the server never buffers more than that
            lifespan="on",
            log_level="warning",
        )
        try:
            ipv6 = self.use_ipv6  # type: ignore[attr-defined]
            family = socket.AF_INET6 if ipv6 else socket.AF_INET
            listener = socket.socket(family, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((address, port))
        except OSError as error:
            self.stderr.write(f"Error: {_ERRORS.get(error.errno or 0, error)}")
            os._exit(1)  # sys.exit does not end the process from the reloader's thread
        self.on_bind(listener.getsockname()[1])
        try:
            uvicorn.Server(config).run(sockets=[listener])
        except KeyboardInterrupt:
            sys.exit(0)


class AccessLog:
    """Log a line per HTTP request and per WebSocket connection, as Django's runserver.

    An HTTP request: its request line, status and body size, once the response is sent.
    A WebSocket connection: its path, then the denial's status, or 101 with the close
    code (whichever side closed first) and how long it was open. 5xx and a 1011 close
    are errors, 4xx warnings, the rest info (Django's colours by status).
    """

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self.application(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        status, size = 500, 0  # 500: what uvicorn answers if the app fails first

        async def sending(event: Event) -> None:
            nonlocal status, size
            if event["type"] == "http.response.start":
                status = event["status"]
            elif event["type"] == "http.response.body":
                size += len(event.get("body", b""))
            await send(event)

        try:
            await self.application(scope, receive, sending)
        finally:
            line = f"{scope['method']} {_target(scope)} HTTP/{scope.get('http_version', '1.1')}"
            _log(f'"{line}" {status} {size}', status)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        status: int | None = None
        code: int | None = None
        opened = time.monotonic()

        async def sending(event: Event) -> None:
            nonlocal status, code, opened
            kind = event["type"]
            if kind == "websocket.accept":
                status, opened = 101, time.monotonic()
            elif kind == "websocket.http.response.start":
                status = event["status"]
            elif kind == "websocket.close":
                if status is None:
                    status = 403  # a close before the accept: the server answers 403
                elif code is None:
                    code = event.get("code") or 1000
            await send(event)

        async def receiving() -> Event:
            nonlocal code
            event = await receive()
            if event["type"] == "websocket.disconnect" and status == 101 and code is None:
                code = event.get("code") or 1005
            return event

        try:
            await self.application(scope, receiving, sending)
        finally:
            message = f'"WEBSOCKET {_target(scope)}" {status or 500}'
            if status == 101:
                seconds = time.monotonic() - opened
                message += f" closed {code or 1006} after {seconds:.2f}s"
            _log(message, 500 if code == 1011 else status or 500)


def _target(scope: Scope) -> str:
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if raw else scope.get("path", "")
    query = scope.get("query_string", b"")
    return f"{path}?{query.decode('latin-1')}" if query else path


def _log(message: str, status: int) -> None:
    if status >= 500:
        level = logging.ERROR
    elif status >= 400:
        level = logging.WARNING
    else:
        level = logging.INFO
    logger.log(level, message, extra={"status_code": status})
