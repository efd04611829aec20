"""An in-process test client for WebSocket views: no server, no port.

The client drives the project's ASGI application (by default
:class:`~django_websocket.asgi.ASGIApplication`, so the real handler, middleware and
URLconf) by feeding it ASGI ``websocket.*`` events and reading the events it sends back::

    from django_websocket.testing import WebSocketClient

    client = WebSocketClient()
    client.force_login(user)
    with client.websocket("/chat/", subprotocols=["chat.v1"]) as ws:
        ws.send("hi")
        assert ws.wait() == "hi"

:class:`AsyncWebSocketClient` has the same methods, awaited, for async tests. A refused
handshake raises :class:`HandshakeDenied`, which carries the response's status, headers
and body. See docs/testing.md.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import threading
from collections.abc import Coroutine, Generator, Iterable, Mapping
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote, unquote, urlsplit

from django.test import AsyncClient, Client
from django.utils.datastructures import CaseInsensitiveMapping

from .exceptions import ConnectionClosed, WebSocketError
from .inbox import Message
from .state import validate_close
from .transports.asgi import Event, Scope

__all__ = [
    "DEFAULT_TIMEOUT",
    "AsyncClientWebSocket",
    "AsyncWebSocketClient",
    "ClientWebSocket",
    "HandshakeDenied",
    "WebSocketClient",
]

T = TypeVar("T")
Headers = Mapping[str, str] | Iterable[tuple[str, str]]
Application = Any  # an ASGI application: async (scope, receive, send) -> None

DEFAULT_TIMEOUT = 10.0
"""Seconds a client waits for a handshake, a message or the view's end by default."""

_END = object()  # in the message queue: the connection is closed


class HandshakeDenied(WebSocketError):
    """The application refused the handshake with an HTTP response.

    Attributes:
        status_code: the response's status, e.g. 302, 403, 418.
        headers: the response's headers, case-insensitive (repeated ones joined by ", ").
        content: the response's body.
    """

    def __init__(
        self, status_code: int, headers: Iterable[tuple[str, str]], content: bytes
    ) -> None:
        joined: dict[str, str] = {}
        for name, value in headers:
            key = name.lower()
            joined[key] = f"{joined[key]}, {value}" if key in joined else value
        self.status_code = status_code
        self.headers: Mapping[str, str] = CaseInsensitiveMapping(joined)
        self.content = content
        super().__init__(f"handshake denied with HTTP {status_code}: {content[:200]!r}")

    @property
    def text(self) -> str:
        """The body decoded as UTF-8."""
        return self.content.decode(errors="replace")


class _Disconnected(OSError):
    """What the test "server" raises when the application sends on a closed connection."""


class AsyncClientWebSocket:
    """One connection from the test client's side, for async tests.

    Get it from :meth:`AsyncWebSocketClient.websocket`, with ``await`` or ``async with``
    (which also closes it and waits for the view to return).
    """

    def __init__(self, application: Application, scope: Scope, timeout: float | None) -> None:
        self._application = application
        self._scope = scope
        self._timeout = timeout
        self._to_app: asyncio.Queue[Event] = asyncio.Queue()
        self._messages: asyncio.Queue[Any] = asyncio.Queue()  # Message or _END
        self._handshake: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._denial: tuple[int, list[tuple[str, str]]] | None = None
        self._denial_body: list[bytes] = []
        self._app_error: BaseException | None = None
        self._accepted = False
        self._ended = False  # the client has read the end of the messages
        self.subprotocol: str | None = None
        """The subprotocol the view chose, or ``None``."""
        self.headers: Mapping[str, str] = CaseInsensitiveMapping({})
        """Headers the view added to its accept (``accept(headers=...)``)."""
        self.close_code: int | None = None
        """The close code once the connection is closed (by either side), else ``None``."""
        self.close_reason = ""
        """The close reason once closed (often empty)."""

    @property
    def closed(self) -> bool:
        """Whether the connection is closed (unread messages may remain)."""
        return self.close_code is not None

    # -- Connecting and closing ------------------------------------------------------

    def __await__(self) -> Generator[Any, None, AsyncClientWebSocket]:
        return self._connect().__await__()

    async def __aenter__(self) -> AsyncClientWebSocket:
        return self if self._task is not None else await self._connect()

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def _connect(self) -> AsyncClientWebSocket:
        if self._task is not None:
            raise WebSocketError("this WebSocket is already connected")
        loop = asyncio.get_running_loop()
        self._handshake = loop.create_future()
        self._to_app.put_nowait({"type": "websocket.connect"})
        # A fresh context, as a server gives each connection: outside the test's
        # async_to_sync (Django's async test methods), whose thread would otherwise run
        # the sync views, and with database connections of its own.
        self._task = contextvars.Context().run(loop.create_task, self._run())
        try:
            await asyncio.wait_for(asyncio.shield(self._handshake), self._timeout)
        except asyncio.TimeoutError:
            self._handshake.cancel()
            self._task.cancel()
            raise TimeoutError(f"no answer to the handshake within {self._timeout} s") from None
        except Exception:
            await self._wait_app()  # a denial: let the view and its middleware finish
            raise
        return self

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection, then wait until the view has returned.

        Closing a closed connection only waits for the view.

        Raises:
            ValueError: ``code`` or ``reason`` cannot go in a close frame.
            TimeoutError: the view had not returned within the client's ``timeout``.
        """
        validate_close(code, reason)
        if not self.closed:
            self._set_closed(code, reason)
        await self._wait_app()

    async def _wait_app(self) -> None:
        # Wait for the application to return; re-raise what escaped from it.
        assert self._task is not None
        try:
            await asyncio.wait_for(asyncio.shield(self._task), self._timeout)
        except asyncio.TimeoutError:
            self._task.cancel()
            raise TimeoutError(
                f"the view had not returned {self._timeout} s after the connection closed"
            ) from None
        self._raise_app_error()

    def _raise_app_error(self) -> None:
        if self._app_error is not None:
            error, self._app_error = self._app_error, None
            raise error

    def _set_closed(self, code: int, reason: str) -> None:
        # Either side closed: the client reads what is left, the app hears the disconnect.
        self.close_code, self.close_reason = code, reason
        self._messages.put_nowait(_END)
        self._to_app.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})

    # -- Messages --------------------------------------------------------------------

    async def send(self, message: str | bytes) -> None:
        """Send ``str`` as a text frame or ``bytes`` as a binary frame.

        Raises:
            ConnectionClosed: the connection is closed.
            TypeError: ``message`` is neither ``str`` nor ``bytes``.
        """
        if isinstance(message, str):
            event: Event = {"type": "websocket.receive", "text": message}
        elif isinstance(message, (bytes, bytearray, memoryview)):
            event = {"type": "websocket.receive", "bytes": bytes(message)}
        else:
            raise TypeError(f"a WebSocket message is str or bytes, not {type(message).__name__}")
        if self.close_code is not None:
            raise ConnectionClosed.for_code(self.close_code, self.close_reason)
        self._to_app.put_nowait(event)

    async def send_json(self, data: Any) -> None:
        """Send ``data`` encoded as JSON in a text frame."""
        await self.send(json.dumps(data))

    async def wait(self, timeout: float | None = DEFAULT_TIMEOUT) -> Message | None:
        """Return the next message the view sent; ``None`` once closed and nothing is left.

        Args:
            timeout: seconds to wait; ``None`` waits for ever.

        Raises:
            TimeoutError: ``timeout`` seconds passed with no message.
        """
        if self._ended:
            return None
        try:
            item = await asyncio.wait_for(self._messages.get(), timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"no message from the view within {timeout} s") from None
        if item is _END:
            self._ended = True
            return None
        message: Message = item
        return message

    async def wait_json(self, timeout: float | None = DEFAULT_TIMEOUT) -> Any:
        """Return the next message decoded from JSON; ``None`` once closed."""
        message = await self.wait(timeout)
        return None if message is None else json.loads(message)

    async def assert_nothing_received(self, timeout: float = 0.1) -> None:
        """Wait ``timeout`` seconds and fail if the view sends a message or closes.

        Raises:
            AssertionError: a message or the close arrived.
        """
        try:
            message = await self.wait(timeout)
        except TimeoutError:
            return
        if message is None:
            raise AssertionError(f"the connection closed with {self.close_code}")
        raise AssertionError(f"received {message!r}")

    # -- The "server" side: what the application calls -------------------------------

    async def _run(self) -> None:
        try:
            await self._application(self._scope, self._receive, self._send)
        except Exception as exc:  # a bug escaping the handler: re-raised to the test
            self._app_error = exc
        finally:
            self._app_returned()

    def _app_returned(self) -> None:
        assert self._handshake is not None
        if not self._handshake.done():
            if self._app_error is not None:
                self._handshake.set_exception(self._app_error)
                self._app_error = None
            else:  # returned without answering: servers answer 403
                self._handshake.set_exception(HandshakeDenied(403, [], b""))
        elif self._accepted and not self.closed:  # returned without closing: dropped
            self.close_code = 1006
            self._messages.put_nowait(_END)

    async def _receive(self) -> Event:
        event = await self._to_app.get()
        if event["type"] == "websocket.disconnect":
            self._to_app.put_nowait(event)  # every later receive gets it too
        return event

    async def _send(self, event: Event) -> None:
        assert self._handshake is not None
        kind = event["type"]
        if kind == "websocket.send":
            if self.closed:
                raise _Disconnected("the WebSocket connection is closed")
            text = event.get("text")
            self._messages.put_nowait(text if text is not None else bytes(event["bytes"]))
        elif kind == "websocket.close":
            if not self._accepted:
                self._handshake.set_exception(HandshakeDenied(403, [], b""))
            elif not self.closed:
                self._set_closed(int(event.get("code", 1000)), event.get("reason") or "")
        elif self._handshake.done():
            raise ValueError(f"unexpected ASGI event after the handshake: {kind!r}")
        elif kind == "websocket.accept":
            self._accepted = True
            self.subprotocol = event.get("subprotocol")
            self.headers = CaseInsensitiveMapping(dict(_decode(event.get("headers") or ())))
            self._handshake.set_result(None)
        elif kind == "websocket.http.response.start":
            self._denial = (int(event["status"]), _decode(event.get("headers") or ()))
        elif kind == "websocket.http.response.body" and self._denial is not None:
            self._denial_body.append(bytes(event.get("body", b"")))
            if not event.get("more_body", False):
                content = b"".join(self._denial_body)
                self._handshake.set_exception(HandshakeDenied(*self._denial, content))
        else:
            raise ValueError(f"unexpected ASGI event during the handshake: {kind!r}")


def _decode(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    return [(name.decode("latin-1"), value.decode("latin-1")) for name, value in headers]


class _BaseClient:
    """What both clients share: the application, handshake headers, cookies and login.

    Args:
        application: the ASGI application to drive; by default a new
            :class:`~django_websocket.asgi.ASGIApplication`, built at the first
            connection (so it sees the settings of that moment).
        headers: headers sent with every handshake.
        http_client: a Django test ``Client`` or ``AsyncClient`` whose cookies (and so
            session and login) to share; by default a new one of its own.
        timeout: default seconds to wait for a handshake answer or the view's end.
    """

    def __init__(
        self,
        *,
        application: Application | None = None,
        headers: Headers | None = None,
        http_client: Client | AsyncClient | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
    ) -> None:
        self._application = application
        self.default_headers = _header_pairs(headers)
        self.http_client = http_client if http_client is not None else self._new_http_client()
        self.timeout = timeout

    def _new_http_client(self) -> Client | AsyncClient:
        return Client()

    @property
    def application(self) -> Application:
        """The ASGI application the client drives."""
        if self._application is None:
            from .asgi import ASGIApplication

            self._application = ASGIApplication()
        return self._application

    # -- Cookies and login: Django's test client does it -----------------------------

    @property
    def cookies(self) -> Any:
        """The cookies sent with every handshake (a ``SimpleCookie``, shared)."""
        return self.http_client.cookies

    def force_login(self, user: Any, backend: str | None = None) -> None:
        """Log ``user`` in without credentials, as ``django.test.Client.force_login``."""
        self.http_client.force_login(user, backend)

    async def aforce_login(self, user: Any, backend: str | None = None) -> None:
        """Async form of :meth:`force_login`."""
        await self.http_client.aforce_login(user, backend)

    def login(self, **credentials: Any) -> bool:
        """Log in with credentials, as ``django.test.Client.login``; ``False`` if refused."""
        return self.http_client.login(**credentials)

    async def alogin(self, **credentials: Any) -> bool:
        """Async form of :meth:`login`."""
        return await self.http_client.alogin(**credentials)

    def logout(self) -> None:
        """Log out and forget the cookies, as ``django.test.Client.logout``."""
        self.http_client.logout()

    async def alogout(self) -> None:
        """Async form of :meth:`logout`."""
        await self.http_client.alogout()

    def _open(
        self, path: str, subprotocols: Iterable[str], headers: Headers | None, secure: bool
    ) -> AsyncClientWebSocket:
        # A connection to path, not connected yet.
        scope = self._scope(path, list(subprotocols), _header_pairs(headers), secure)
        return AsyncClientWebSocket(self.application, scope, self.timeout)

    def _scope(
        self, path: str, subprotocols: list[str], headers: list[tuple[str, str]], secure: bool
    ) -> Scope:
        url = urlsplit(path)
        raw_path = quote(url.path or "/", safe="/%:@!$&'()*+,;=")
        pairs = [("host", "testserver"), *self.default_headers, *headers]
        if subprotocols:
            pairs.append(("sec-websocket-protocol", ", ".join(subprotocols)))
        cookie = "; ".join(f"{morsel.key}={morsel.coded_value}" for morsel in self.cookies.values())
        if cookie:
            pairs.append(("cookie", cookie))
        by_name = {name.lower(): value for name, value in pairs}  # later ones win
        return {
            "type": "websocket",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "scheme": "wss" if secure else "ws",
            "server": ("testserver", 443 if secure else 80),
            "client": ("127.0.0.1", 50000),
            "root_path": "",
            "path": unquote(url.path or "/"),
            "raw_path": raw_path.encode(),
            "query_string": url.query.encode(),
            "headers": [
                (name.encode("latin-1"), v.encode("latin-1")) for name, v in by_name.items()
            ],
            "subprotocols": subprotocols,
            "extensions": {"websocket.http.response": {}},
            "state": {},
        }


class AsyncWebSocketClient(_BaseClient):
    """A test client that opens WebSocket connections to the project, in process.

    For async tests; :class:`WebSocketClient` is the blocking form. The arguments are
    keyword-only: ``application``, ``headers``, ``http_client`` (default: a new
    ``django.test.AsyncClient``) and ``timeout``; see docs/testing.md.
    """

    def _new_http_client(self) -> Client | AsyncClient:
        return AsyncClient()

    def websocket(
        self,
        path: str,
        *,
        subprotocols: Iterable[str] = (),
        headers: Headers | None = None,
        secure: bool = False,
    ) -> AsyncClientWebSocket:
        """Open a connection to ``path`` (with its query string, if any).

        Use ``async with client.websocket(...) as ws`` (closes on exit and waits for
        the view to return) or ``ws = await client.websocket(...)``.

        Args:
            path: the URL path, e.g. ``"/chat/?room=1"``.
            subprotocols: the subprotocols to offer, in order.
            headers: extra handshake headers, e.g. ``{"Origin": "https://example.com"}``.
            secure: connect with ``wss`` (``request.is_secure()`` is true).

        Raises:
            HandshakeDenied: (on ``await`` / entry) the view or middleware refused.
            TimeoutError: (on ``await`` / entry) no answer to the handshake in time.
        """
        return self._open(path, subprotocols, headers, secure)


def _header_pairs(headers: Headers | None) -> list[tuple[str, str]]:
    pairs = headers.items() if isinstance(headers, Mapping) else (headers or ())
    return [(name.lower(), value) for name, value in pairs]


# --- The sync forms: the async ones, run on a background event loop. --------------------


class _LoopThread:
    """One event loop on a daemon thread, shared by every sync client in the process.

    Sharing it means connections from different clients meet on one loop, as they do
    in a server process.
    """

    _instance: _LoopThread | None = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        thread = threading.Thread(
            target=self.loop.run_forever, name="django_websocket test client", daemon=True
        )
        thread.start()
        self.ident = thread.ident

    @classmethod
    def get(cls) -> _LoopThread:
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the loop and return its result, from another thread."""
        if threading.get_ident() == self.ident:
            coroutine.close()
            raise WebSocketError("the sync test client was used on its own event loop")
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()


class ClientWebSocket:
    """One connection from the test client's side, for sync tests.

    Get it from :meth:`WebSocketClient.websocket`; use it in a ``with`` block to close
    it and wait for the view to return. The methods are those of
    :class:`AsyncClientWebSocket`, blocking.
    """

    def __init__(self, connection: AsyncClientWebSocket, loop: _LoopThread) -> None:
        self._connection = connection
        self._loop = loop

    def __enter__(self) -> ClientWebSocket:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol the view chose, or ``None``."""
        return self._connection.subprotocol

    @property
    def headers(self) -> Mapping[str, str]:
        """Headers the view added to its accept (``accept(headers=...)``)."""
        return self._connection.headers

    @property
    def close_code(self) -> int | None:
        """The close code once the connection is closed (by either side), else ``None``."""
        return self._connection.close_code

    @property
    def close_reason(self) -> str:
        """The close reason once closed (often empty)."""
        return self._connection.close_reason

    @property
    def closed(self) -> bool:
        """Whether the connection is closed (unread messages may remain)."""
        return self._connection.closed

    def send(self, message: str | bytes) -> None:
        """Send ``str`` as a text frame or ``bytes`` as a binary frame.

        Raises:
            ConnectionClosed: the connection is closed.
            TypeError: ``message`` is neither ``str`` nor ``bytes``.
        """
        self._loop.run(self._connection.send(message))

    def send_json(self, data: Any) -> None:
        """Send ``data`` encoded as JSON in a text frame."""
        self._loop.run(self._connection.send_json(data))

    def wait(self, timeout: float | None = DEFAULT_TIMEOUT) -> Message | None:
        """Return the next message the view sent; ``None`` once closed and nothing is left.

        Raises:
            TimeoutError: ``timeout`` seconds passed with no message.
        """
        return self._loop.run(self._connection.wait(timeout))

    def wait_json(self, timeout: float | None = DEFAULT_TIMEOUT) -> Any:
        """Return the next message decoded from JSON; ``None`` once closed."""
        return self._loop.run(self._connection.wait_json(timeout))

    def assert_nothing_received(self, timeout: float = 0.1) -> None:
        """Wait ``timeout`` seconds and fail if the view sends a message or closes.

        Raises:
            AssertionError: a message or the close arrived.
        """
        self._loop.run(self._connection.assert_nothing_received(timeout))

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection, then wait until the view has returned.

        Raises:
            ValueError: ``code`` or ``reason`` cannot go in a close frame.
            TimeoutError: the view had not returned in time.
        """
        self._loop.run(self._connection.close(code, reason))


class WebSocketClient(_BaseClient):
    """The blocking form of :class:`AsyncWebSocketClient`, for sync tests.

    The application runs on a background event loop, and sync views on threads of
    their own, as under a server. Takes the same arguments; the default
    ``http_client`` is a new ``django.test.Client``.
    """

    def websocket(
        self,
        path: str,
        *,
        subprotocols: Iterable[str] = (),
        headers: Headers | None = None,
        secure: bool = False,
    ) -> ClientWebSocket:
        """Open a connection to ``path``: connect now, and return the connection.

        Use ``with client.websocket(...) as ws`` to close it on exit. The arguments are
        those of :meth:`AsyncWebSocketClient.websocket`.

        Raises:
            HandshakeDenied: the view or middleware refused the handshake.
            TimeoutError: no answer to the handshake in time.
        """
        loop = _LoopThread.get()
        connection = self._open(path, subprotocols, headers, secure)
        loop.run(connection._connect())
        return ClientWebSocket(connection, loop)
