"""The ASGI application: Django for HTTP, plus WebSocket views.

``get_asgi_application()`` replaces Django's function of the same name in ``asgi.py``.
HTTP goes to Django's own ``ASGIHandler``, untouched. A ``websocket`` connection goes to
:class:`WebSocketHandler`, which runs it through Django's middleware, URL resolver and
view like a GET request, with ``request.websocket`` attached.
"""

from __future__ import annotations

import asyncio
import functools
import io
import logging
from collections.abc import Callable
from typing import Any

import django
from asgiref.sync import ThreadSensitiveContext, iscoroutinefunction, sync_to_async
from django.core import signals
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseForbidden,
)
from django.http.response import HttpResponseBase
from django.urls import set_script_prefix

from .conf import conf
from .connection import Connection
from .exceptions import ConnectionClosed
from .origin import origin_allowed
from .request import attach_websocket
from .shutdown import SignalChain
from .transports.asgi import ASGITransport, Event, Receive, Scope, Send
from .websocket import AsyncWebSocket, WebSocket

__all__ = ["ASGIApplication", "WebSocketHandler", "get_asgi_application"]

_SCHEMES = {"ws": "http", "wss": "https"}

logger = logging.getLogger("django_websocket")


def get_asgi_application() -> ASGIApplication:
    """Set Django up and return the ASGI application for HTTP and WebSocket requests."""
    django.setup(set_prefix=False)
    return ASGIApplication()


class ASGIApplication:
    """Route each ASGI scope: ``http``, ``websocket`` and ``lifespan``."""

    def __init__(self) -> None:
        self.http_handler = ASGIHandler()
        self.websocket_handler = WebSocketHandler()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
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


class _ViewReturned(HttpResponse):
    """What the middleware chain sees once a WebSocket view has returned."""

    status_code = 101


class WebSocketHandler(ASGIHandler):
    """Serve ``websocket`` scopes through Django's middleware, URLconf and views.

    Each connection runs in its own ``ThreadSensitiveContext``, so a sync view and sync
    middleware get one thread of their own, never a thread shared with other connections.
    """

    def __init__(self) -> None:
        super().__init__()
        self._sync_views_running = 0
        self._connections: set[Connection] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with ThreadSensitiveContext():
            await self.handle(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run one connection from ``websocket.connect`` to its close."""
        if (await receive())["type"] != "websocket.connect":
            return
        connection = Connection(
            ASGITransport(scope, receive, send),
            max_queue=conf.MAX_QUEUE,
            max_size=conf.MAX_MESSAGE_SIZE,
        )
        set_script_prefix(get_script_prefix(scope))
        await signals.request_started.asend(sender=self.__class__, scope=scope)
        request, response = self.create_request(_as_http_scope(scope), io.BytesIO())
        if request is not None:
            attach_websocket(request, WebSocket(connection))
            request._websocket_connection = connection  # type: ignore[attr-defined]
            self._connections.add(connection)
            try:
                response = await self.get_response_async(request)
            finally:
                self._connections.discard(connection)
        assert response is not None
        try:
            await self._end(connection, response)
        finally:
            await connection.stop()
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
        # The view (or middleware) is done: close, or deny with the response.
        if connection.is_connecting:
            if isinstance(response, _ViewReturned):
                await connection.accept()
            else:
                await connection.deny(*await self._render(response))
                return
        failed = connection.failed or response.status_code >= 500
        await connection.close(1011 if failed else 1000)

    async def _render(self, response: HttpResponseBase) -> tuple[int, list[Any], bytes]:
        # Reuse Django's own encoding of a response (headers, cookies, streaming).
        events: list[Event] = []

        async def collect(event: Event) -> None:
            events.append(event)

        await self.send_response(response, collect)
        body = b"".join(event.get("body", b"") for event in events[1:])
        return events[0]["status"], events[0]["headers"], body

    def resolve_request(self, request: HttpRequest) -> Any:
        """Resolve the view as Django does, then guard it for WebSocket use."""
        view, args, kwargs = super().resolve_request(request)
        connection: Connection = request._websocket_connection  # type: ignore[attr-defined]
        return self._guard(view, connection), args, kwargs

    def make_view_atomic(self, view: Callable[..., Any]) -> Callable[..., Any]:
        """Leave WebSocket views out of ``ATOMIC_REQUESTS``.

        A transaction held for a connection's whole life would hold its locks that long;
        wrap each message's work in ``transaction.atomic`` instead.
        """
        return view

    def _guard(self, view: Callable[..., Any], connection: Connection) -> Callable[..., Any]:
        is_async = iscoroutinefunction(view)

        @functools.wraps(view)
        async def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            if not (getattr(view, "accept_websocket", False) or conf.ACCEPT_ALL):
                return HttpResponseBadRequest("This URL does not accept WebSocket connections.")
            check_origin = getattr(view, "websocket_check_origin", conf.CHECK_ORIGIN)
            if check_origin and not origin_allowed(request):
                return HttpResponseForbidden("Cross-origin WebSocket handshake refused.")
            connection.idle_timeout = getattr(view, "websocket_idle_timeout", conf.IDLE_TIMEOUT)
            front_end = AsyncWebSocket if is_async else WebSocket
            attach_websocket(request, front_end(connection))
            try:
                if is_async:
                    response = await view(request, *args, **kwargs)
                else:
                    response = await self._run_sync_view(view, request, *args, **kwargs)
            except ConnectionClosed:
                return _ViewReturned()
            except Exception:
                connection.failed = not connection.is_connecting
                raise
            return _ViewReturned() if response is None else response

        return guarded

    async def _run_sync_view(
        self, view: Callable[..., Any], request: HttpRequest, *args: Any, **kwargs: Any
    ) -> Any:
        # Bound the threads that sync WebSocket views hold; past the bound, 503.
        if self._sync_views_running >= conf.MAX_SYNC_VIEWS:
            return HttpResponse("Too many WebSocket connections; try again later.", status=503)
        self._sync_views_running += 1
        try:
            return await sync_to_async(view, thread_sensitive=True)(request, *args, **kwargs)
        finally:
            self._sync_views_running -= 1


def _as_http_scope(scope: Scope) -> Scope:
    # Django's request class wants an HTTP method and an http(s) scheme.
    scheme = _SCHEMES.get(scope.get("scheme", "ws"), "http")
    return {**scope, "method": "GET", "scheme": scheme}
