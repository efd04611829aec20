"""The WSGI application: Django for HTTP, plus WebSocket views on gunicorn's workers.

``get_wsgi_application()`` replaces Django's function of the same name in ``wsgi.py``.
A request without ``Upgrade: websocket`` goes to Django's own ``WSGIHandler``, untouched.
A WebSocket handshake goes to :class:`WebSocketHandler`, which takes over the socket
gunicorn hands every request (``environ["gunicorn.socket"]``): it checks the handshake
(:mod:`django_websocket.framing`), runs the request through Django's middleware, URL
resolver and view like a GET (:mod:`django_websocket.handler`), and lets the view read
and write the socket in its own thread, or greenlet (:mod:`django_websocket.sync`).

Which workers can serve WebSockets:

- ``--worker-class gthread``: each socket holds one of the worker's ``--threads`` for
  its whole life;
- ``--worker-class gevent``: each socket is a greenlet; thousands per worker;
- the default ``sync`` worker serves one request at a time, so one socket would block
  the whole worker until its ``--timeout`` kills it: handshakes get 503, and one log
  line names the fix. So does any WSGI server that does not hand the socket over.

A denial (the view or middleware returns a response before the handshake) goes back
through WSGI as the ordinary HTTP response it is. Once the socket is the view's, the
worker is told to drop the connection without writing anything more (gunicorn closes a
connection whose application raises ``StopIteration``).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import django
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase

from . import greenlets, lifecycle
from .asyncio.asgi import ASGITransport
from .asyncio.connection import Connection as AsyncConnection
from .asyncio.socket import SocketServer
from .conf import conf
from .framing import CLOSE_TIMEOUT, Framing, handshake_from_environ
from .handler import ViewReturned, WebSocketHandlerMixin
from .protocol import Protocol
from .request import SESSION, WebSocketWSGIRequest
from .sync.connection import Connection
from .unserved import not_served
from .websocket import AsyncWebSocket, WebSocket

__all__ = [
    "WSGIApplication",
    "WSGISession",
    "WebSocketHandler",
    "WorkerShutdown",
    "get_wsgi_application",
]

logger = logging.getLogger("django_websocket")

WATCH_INTERVAL = 0.2  # seconds between two looks at the worker's alive flag

StartResponse = Callable[..., Any]
Environ = dict[str, Any]


def get_wsgi_application() -> WSGIApplication:
    """Set Django up and return the WSGI application for HTTP and WebSocket requests."""
    django.setup(set_prefix=False)
    return WSGIApplication()


def is_websocket_handshake(environ: Environ) -> bool:
    """Whether the request asks to upgrade to WebSocket."""
    return "websocket" in environ.get("HTTP_UPGRADE", "").lower()


class WSGIApplication:
    """Send WebSocket handshakes to :class:`WebSocketHandler`, the rest to Django."""

    def __init__(self) -> None:
        self.http_handler = WSGIHandler()
        self.websocket_handler = WebSocketHandler()

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if is_websocket_handshake(environ):
            return self.websocket_handler(environ, start_response)
        return self.http_handler(environ, start_response)


class WSGISession:
    """One handshake from a WSGI server: the socket, its framing, and the view's form.

    A sync view gets the blocking :class:`~django_websocket.websocket.WebSocket` over the
    blocking driver; an async view, running on its own event loop, gets
    :class:`~django_websocket.websocket.AsyncWebSocket` over the asyncio driver, with a
    :class:`~django_websocket.asyncio.socket.SocketServer` for ASGI server.
    """

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.protocol = connection.protocol
        self._async: AsyncConnection | None = None
        self._server: SocketServer | None = None

    def front_end(self, *, is_async: bool) -> WebSocket | AsyncWebSocket:
        """Return ``request.websocket`` for a sync view, or an async view on its loop."""
        if not is_async:
            return WebSocket(self.connection)
        if self._async is None:
            sock, framing = self.connection.sock, self.connection.framing
            self._server = SocketServer(sock, framing)
            scope = {"type": "websocket", "subprotocols": self.protocol.offered_subprotocols}
            transport = ASGITransport(scope, self._server.receive, self._server.send)
            self._async = AsyncConnection(transport, self.protocol)
        return AsyncWebSocket(self._async)

    def abort(self) -> None:
        """Drop the TCP connection now, from any thread (a shutdown's stragglers)."""
        self.connection.abort()

    def close(self, code: int, reason: str) -> None:
        """Close from any thread (shutdown): on the view's loop if it is an async view."""
        connection = self._async
        if connection is not None and not connection.loop.is_closed():
            connection.loop.call_soon_threadsafe(
                lambda: connection.loop.create_task(connection.close(code, reason))
            )
        else:
            self.connection.close(code, reason)

    async def async_view_returned(self) -> None:
        """Stop the asyncio driver, on the async view's loop, before that loop ends."""
        if self._async is not None:
            await self._async.stop()
        if self._server is not None:
            self._server.release()

    def end(self, code: int) -> None:
        """Close with ``code`` (accepting first if needed) and finish the closing handshake.

        In the WSGI thread, once the view is done: the blocking driver does it, for an
        async view too (its loop is gone by then).
        """
        connection = self.connection
        if self.protocol.must_accept:
            connection.accept()
        connection.close(code)
        connection.end()


class WebSocketHandler(WebSocketHandlerMixin, WSGIHandler):
    """Serve WebSocket handshakes through Django's middleware, URLconf and views."""

    request_class = WebSocketWSGIRequest
    handles_async = False  # a sync view runs in the WSGI thread, as Django runs it

    def __init__(self) -> None:
        super().__init__()
        self._sessions: set[WSGISession] = set()
        self._sessions_lock = threading.Lock()
        self._shutdown = WorkerShutdown(self)

    def __call__(self, environ: Environ, start_response: StartResponse) -> HttpResponseBase:
        self._shutdown.watch()
        sock = environ.get("gunicorn.socket")
        refusal = _cannot_serve(environ, sock)
        if refusal is not None or sock is None:
            lifecycle.refused(503)
            return _respond(refusal or HttpResponse(status=503), start_response)
        framing = Framing(
            handshake_from_environ(environ),
            max_size=conf.MAX_MESSAGE_SIZE,
            ping_interval=conf.PING_INTERVAL,
            ping_timeout=conf.PING_TIMEOUT,
            now=time.monotonic(),
        )
        rejected = framing.refusal
        if rejected is not None:  # a malformed handshake: the client's error, not ours
            lifecycle.refused(rejected.status_code)
            response = HttpResponse(rejected.body, status=rejected.status_code)
            for name, value in rejected.headers.raw_items():
                if name.lower() not in ("connection", "date", "content-length"):
                    response[name] = value
            return _respond(response, start_response)
        protocol = Protocol(
            _offered_subprotocols(environ),
            max_queue=conf.MAX_QUEUE,
            max_size=conf.MAX_MESSAGE_SIZE,
        )
        session = WSGISession(Connection(sock, framing, protocol))
        environ[SESSION] = session
        with self._sessions_lock:
            self._sessions.add(session)
        try:
            return super().__call__(environ, start_response)
        finally:
            with self._sessions_lock:
                self._sessions.discard(session)

    def refuse_view(self, view: Callable[..., Any], *, is_async: bool) -> HttpResponse | None:
        """Refuse async views on gevent workers (503 and a log line naming the fix).

        Django runs an async view under WSGI on an event loop of its own; under gevent
        every greenlet shares one OS thread, and asyncio allows one running loop per OS
        thread, so two such views (or one and the groups' loop) cannot run at once.
        """
        if not (is_async and greenlets.patched()):
            return None
        fix = (
            f"the async view {view.__qualname__} cannot run on a gevent worker (asyncio "
            "allows one event loop per OS thread, and gevent's greenlets share one): write "
            "it as a sync view, which is cheap on gevent, or serve it with gthread or ASGI."
        )
        logger.error("WebSocket handshake refused with 503: %s", fix)
        return HttpResponse(f"This WebSocket view cannot run here: {fix}\n", status=503)

    async def run_async_view(
        self, view: Callable[..., Any], request: HttpRequest, args: Any, kwargs: Any
    ) -> Any:
        """Run an async view on the loop Django gives it; stop its driver on the way out."""
        try:
            return await view(request, *args, **kwargs)
        finally:
            session: WSGISession = request.websocket_session  # type: ignore[attr-defined]
            await session.async_view_returned()

    def get_response(self, request: HttpRequest) -> HttpResponseBase:
        """Run Django's response machinery; then deny through WSGI, or close the socket."""
        response = super().get_response(request)
        session: WSGISession = request.websocket_session  # type: ignore[attr-defined]
        protocol = session.protocol
        code = protocol.end_code(
            response.status_code, returned_nothing=isinstance(response, ViewReturned)
        )
        if code is None:
            session.connection.stop_offers()
            protocol.deny(response.status_code)
            lifecycle.ended(protocol)
            return response  # a denial: an ordinary HTTP response
        session.end(code)
        lifecycle.ended(protocol)  # the signal, the log line, metrics
        response.close()  # request_finished, as the WSGI server would have it
        # The socket was ours: the worker must not write a response on it. gunicorn's
        # workers take StopIteration from the application as "close this connection".
        raise StopIteration

    def open_sessions(self) -> list[WSGISession]:
        """Return the sessions whose view is still running."""
        with self._sessions_lock:
            return list(self._sessions)

    def close_all(self, code: int, reason: str) -> None:
        """Close every open connection from any thread, waking views blocked in ``wait()``."""
        for session in self.open_sessions():
            try:
                session.close(code, reason)
            except Exception:
                logger.exception("Closing a WebSocket connection failed")


class WorkerShutdown:
    """Close every socket with 1001 when the gunicorn worker stops.

    A worker stops on SIGTERM (a graceful stop, a reload) and after ``--max-requests``;
    either way it sets its ``alive`` flag to false, stops accepting and waits up to
    ``--graceful-timeout`` for its requests to end. A socket is a request that would
    last that long: so a thread of this process watches the flag, and once it drops,
    closes every socket with 1001 (views blocked in ``wait()`` see the close and
    return), then drops the connections whose client has not answered within
    :data:`~django_websocket.framing.CLOSE_TIMEOUT` seconds.

    The worker is found through the SIGTERM handler that gunicorn installs (its
    ``handle_exit``), at the first handshake in each process: ``--preload`` or not.
    """

    def __init__(self, handler: WebSocketHandler) -> None:
        self.handler = handler
        self._pid = 0  # the process the watcher runs in
        self._lock = threading.Lock()

    def watch(self) -> None:
        """Start the watcher in this process, once, if a gunicorn worker runs here."""
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            worker = getattr(signal.getsignal(signal.SIGTERM), "__self__", None)
            if hasattr(worker, "alive") and hasattr(worker, "cfg"):
                threading.Thread(
                    target=self._run, args=(worker,), name="django_websocket shutdown", daemon=True
                ).start()

    def _run(self, worker: Any) -> None:
        while worker.alive:
            time.sleep(WATCH_INTERVAL)
        self.handler.close_all(1001, "server shutting down")
        deadline = time.monotonic() + CLOSE_TIMEOUT
        while self.handler.open_sessions() and time.monotonic() < deadline:
            time.sleep(WATCH_INTERVAL)
        for session in self.handler.open_sessions():
            session.abort()


def _offered_subprotocols(environ: Environ) -> list[str]:
    value = environ.get("HTTP_SEC_WEBSOCKET_PROTOCOL", "")
    return [name.strip() for name in value.split(",") if name.strip()]


def _cannot_serve(environ: Environ, sock: Any) -> HttpResponse | None:
    # The servers and workers that cannot give a view its socket: 503, one log line.
    if sock is None:
        fix = (
            "This WSGI server does not hand the socket over: serve WebSocket views with "
            "gunicorn (--worker-class gthread or gevent) or an ASGI server (docs/deployment.md)."
        )
    elif not environ.get("wsgi.multithread"):
        fix = (
            "gunicorn's sync worker serves one request at a time, so a WebSocket would block "
            "the worker: use --worker-class gthread --threads N, or --worker-class gevent."
        )
    else:
        return None
    return not_served(fix, path=environ.get("PATH_INFO", ""))


def _respond(response: HttpResponseBase, start_response: StartResponse) -> HttpResponseBase:
    status = f"{response.status_code} {response.reason_phrase}"
    start_response(status, list(response.items()))
    return response
