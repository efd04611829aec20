"""The clients: where connections come from, with cookies, headers and a login."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterable, Mapping
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote, unquote, urlsplit

from django.test import AsyncClient, Client

from ..asyncio.asgi import Scope
from ..bridge import bridge_for
from ..protocol import Message
from .connection import (
    DEFAULT_TIMEOUT,
    AsyncClientWebSocket,
)

__all__ = ["AsyncWebSocketClient", "ClientWebSocket", "WebSocketClient"]

T = TypeVar("T")
Headers = Mapping[str, str] | Iterable[tuple[str, str]]
Application = Any  # an ASGI application: async (scope, receive, send) -> None


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
            from ..asgi import ASGIApplication

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
        self.bridge = bridge_for(self.loop)  # the one the views' connections use too

    @classmethod
    def get(cls) -> _LoopThread:
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the loop and return its result, from another thread."""
        return self.bridge.call(coroutine)


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
