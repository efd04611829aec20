"""The ASGI application: Django for HTTP, plus WebSocket views.

``get_asgi_application()`` replaces Django's function of the same name in ``asgi.py``.
HTTP goes to Django's own ``ASGIHandler``, untouched. A ``websocket`` connection goes to
:class:`WebSocketHandler`, which runs it through Django's middleware, URL resolver and
view like a GET request (:mod:`django_websocket.handler`), with ``request.websocket``
driven by the asyncio driver (:mod:`django_websocket.asyncio.connection`).
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import django
from asgiref.sync import sync_to_async
from django import urls
from django.conf import settings
from django.core import signals
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.utils.log import log_response

from . import lifecycle
from .asyncio.asgi import ASGITransport, Event, Receive, Scope, Send
from .asyncio.connection import Connection
from .asyncio.threads import thread_sensitive
from .conf import conf
from .exceptions import ConnectionClosed
from .groups.base import serve_on
from .handler import ViewReturned, WebSocketHandlerMixin
from .protocol import Protocol
from .request import WebSocketASGIRequest, handshake_scope
from .shutdown import SignalChain
from .sync.bridged import BridgedConnection
from .websocket import AsyncWebSocket, WebSocket

__all__ = ["ASGIApplication", "ASGISession", "WebSocketHandler", "get_asgi_application"]

logger = logging.getLogger("django_websocket")


def get_asgi_application() -> ASGIApplication:
    """Set Django up and return the ASGI application for HTTP and WebSocket requests."""
    django.setup(set_prefix=False)
    return ASGIApplication()


class ASGIApplication:
    """Route each ASGI scope: ``http``, ``websocket`` and ``lifespan``.

    Args:
        http_handler: what serves ``http`` scopes; by default a new Django ``ASGIHandler``.
    """

    def __init__(self, *, http_handler: ASGIHandler | None = None) -> None:
        self.http_handler = ASGIHandler() if http_handler is None else http_handler
        self.websocket_handler = WebSocketHandler()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # A coroutine function, as servers detect ASGI 3 applications (hypercorn asks
        # inspect.iscoroutinefunction(), which a marked plain function fails before 3.12).
        kind = scope["type"]
        if kind == "websocket":
            await self.websocket_handler(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        else:
            await self.http_handler(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        # Close with 1001 on lifespan shutdown, and on SIGTERM/SIGINT where the server
        # would otherwise close the sockets first (uvicorn: see shutdown.py).
        signals = SignalChain(self._close_all)
        try:
            while True:
                event = await receive()
                if event["type"] == "lifespan.startup":
                    signals.install()
                    await send({"type": "lifespan.startup.complete"})
                elif event["type"] == "lifespan.shutdown":
                    signals.restore()
                    await self._close_all()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        finally:
            signals.restore()

    async def _close_all(self) -> None:
        await self.websocket_handler.close_all(1001, "server shutting down")


class ASGISession:
    """One handshake from an ASGI server: its asyncio connection, and the view's form.

    A sync view gets the blocking :class:`~django_websocket.websocket.WebSocket` over a
    :class:`~django_websocket.sync.bridged.BridgedConnection`; an async view gets
    :class:`~django_websocket.websocket.AsyncWebSocket` over the connection itself.
    """

    __slots__ = ("connection", "protocol")

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.protocol = connection.protocol

    def front_end(self, *, is_async: bool) -> WebSocket | AsyncWebSocket:
        """Return ``request.websocket`` for a sync or async view."""
        self.connection.read_ahead = not is_async  # a sync view's thread waits on the reader
        if is_async:
            return AsyncWebSocket(self.connection)
        return WebSocket(BridgedConnection(self.connection))


class WebSocketHandler(WebSocketHandlerMixin, ASGIHandler):
    """Serve ``websocket`` scopes through Django's middleware, URLconf and views.

    Each connection's thread-sensitive sync code (sync middleware, a sync view, an async
    view's ORM calls) runs one call at a time in a thread of its own, never one shared with
    other connections; that thread exists only while the code runs
    (:mod:`django_websocket.asyncio.threads`).
    """

    request_class = WebSocketASGIRequest
    _middleware_chain: Callable[[HttpRequest], Awaitable[HttpResponse]]  # Django's

    def __init__(self) -> None:
        super().__init__()
        self._sync_views_running = 0
        self._connections: set[Connection] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run one connection from ``websocket.connect`` to its close.

        One coroutine frame, waiting with every idle socket: what Django's
        ``get_response_async()`` does around the middleware chain is written out here.
        """
        if (await receive())["type"] != "websocket.connect":
            return
        async with thread_sensitive():
            transport = ASGITransport(scope, receive, send)
            protocol = Protocol(
                transport.subprotocols, max_queue=conf.MAX_QUEUE, max_size=conf.MAX_MESSAGE_SIZE
            )
            connection = Connection(transport, protocol)
            serve_on(connection.loop)  # the process's home loop for groups
            _set_url_locals(get_script_prefix(scope))
            await signals.request_started.asend(sender=self.__class__, scope=scope)
            request, response = self.create_request(
                handshake_scope(scope, ASGISession(connection)), io.BytesIO()
            )
            if request is not None:
                self._connections.add(connection)
                try:
                    response = await self._middleware_chain(request)
                finally:
                    self._connections.discard(connection)
                response._resource_closers.append(request.close)  # type: ignore[attr-defined]
                if response.status_code >= 400:
                    await sync_to_async(log_response, thread_sensitive=False)(
                        "%s: %s", response.reason_phrase, request.path,
                        response=response, request=request,
                    )  # fmt: skip
            if response is None:  # create_request returns a request or a response
                response = HttpResponse(status=500)
            try:
                await self._end(connection, response)
            finally:
                await connection.stop()
                await lifecycle.aended(protocol)  # the signal, the log line, metrics
                await sync_to_async(response.close)()  # sends request_finished

    async def close_all(self, code: int, reason: str) -> None:
        """Close every open connection at once, waking views blocked in ``wait()``.

        A connection that fails to close is logged and skipped; nothing is raised.
        """
        connections = list(self._connections)
        results = await asyncio.gather(
            *(connection.close(code, reason) for connection in connections),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, Exception) and not isinstance(result, ConnectionClosed):
                logger.error("Closing a WebSocket connection failed", exc_info=result)

    async def _end(self, connection: Connection, response: HttpResponseBase) -> None:
        # The view (or middleware) is done: deny with the response, or close.
        protocol = connection.protocol
        returned_nothing = isinstance(response, ViewReturned)
        code = protocol.end_code(response.status_code, returned_nothing=returned_nothing)
        if code is None:
            await connection.deny(*await self._render(response))
            return
        if protocol.must_accept:
            await connection.accept()
        await connection.close(code)

    async def _render(self, response: HttpResponseBase) -> tuple[int, list[Any], bytes]:
        # Reuse Django's own encoding of a response (headers, cookies, streaming).
        events: list[Event] = []

        async def collect(event: Event) -> None:
            events.append(event)

        await self.send_response(response, collect)
        body = b"".join(event.get("body", b"") for event in events[1:])
        return events[0]["status"], events[0]["headers"], body

    async def run_sync_view(
        self, view: Callable[..., Any], request: HttpRequest, args: Any, kwargs: Any
    ) -> Any:
        """Run a sync view in the connection's own thread; past the bound, 503.

        ``WEBSOCKET_MAX_SYNC_VIEWS`` bounds the threads that sync WebSocket views hold.
        """
        if self._sync_views_running >= conf.MAX_SYNC_VIEWS:
            return HttpResponse("Too many WebSocket connections; try again later.", status=503)
        self._sync_views_running += 1
        try:
            return await sync_to_async(view, thread_sensitive=True)(request, *args, **kwargs)
        finally:
            self._sync_views_running -= 1


def _set_url_locals(script_prefix: str) -> None:
    # What Django sets before each request for reverse() and resolve(): the script prefix
    # and the default URLconf. Written only where they differ from what is in force: each
    # write to one of asgiref's Locals puts a new dict in the connection's context, which
    # every idle socket would keep. (No URLconf set means ROOT_URLCONF to Django.)
    if not script_prefix.endswith("/"):
        script_prefix += "/"
    if urls.get_script_prefix() != script_prefix:
        urls.set_script_prefix(script_prefix)
    if urls.get_urlconf() not in (None, settings.ROOT_URLCONF):
        urls.set_urlconf(settings.ROOT_URLCONF)
