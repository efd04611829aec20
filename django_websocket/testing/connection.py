"""The test side of one in-process WebSocket connection, and the refusal it can meet."""

from __future__ import annotations

import asyncio
import contextvars
import json
from collections.abc import Generator, Iterable, Mapping
from types import TracebackType
from typing import Any, TypeVar

from django.utils.datastructures import CaseInsensitiveMapping

from ..asyncio.asgi import Event, Scope
from ..exceptions import ConnectionClosed, WebSocketError
from ..protocol import Message, validate_close

__all__ = ["DEFAULT_TIMEOUT", "AsyncClientWebSocket", "HandshakeDenied"]

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
