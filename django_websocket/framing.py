"""The WebSocket protocol on a socket of our own, with no I/O: bytes in, messages out.

Where no ASGI server stands between the client and the library (WSGI servers hand the
request's socket over), :class:`Framing` does what the server would: it checks the
handshake and writes the 101, turns bytes into messages and messages into frames
(permessage-deflate included), answers pings, sends keepalive pings and fails a
connection whose pong does not come, and times the closing handshake. The frames
themselves are the ``websockets`` library's sans-I/O ``ServerProtocol``; its parser
decides 1002 (protocol error), 1007 (invalid UTF-8 in a close reason) and 1009 (a message
over ``max_size``, compressed or not). Text messages are decoded here (1007 when they
are not UTF-8).

It is not thread-safe: the driver that owns it serialises every call.
"""

from __future__ import annotations

import codecs
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from websockets.extensions.permessage_deflate import enable_server_permessage_deflate
from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import State as WireState
from websockets.server import ServerProtocol

from .protocol import TOO_BIG, Message

__all__ = ["Framing", "handshake_from_environ", "http_response"]

_logger = logging.getLogger("django_websocket.framing")  # websockets' INFO lines, if wanted

CLOSE_TIMEOUT = 10.0  # seconds to wait for the client's side of the closing handshake


def handshake_from_environ(environ: Mapping[str, Any]) -> bytes:
    """Rebuild the bytes of the handshake request a WSGI server parsed.

    :class:`Framing` parses them again with the ``websockets`` library, so every
    handshake rule is that library's.
    """
    path = environ.get("RAW_URI") or environ.get("PATH_INFO", "/")
    if environ.get("QUERY_STRING") and "?" not in path:
        path = f"{path}?{environ['QUERY_STRING']}"
    method = environ.get("REQUEST_METHOD", "GET")
    lines = [f"{method} {path} {environ.get('SERVER_PROTOCOL', 'HTTP/1.1')}"]
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            # WSGI servers join repeated headers with ","; the checks accept that.
            lines.append(f"{key[5:].replace('_', '-').title()}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")


def http_response(status: int, headers: Iterable[tuple[bytes, bytes]], body: bytes) -> bytes:
    """Return a whole HTTP/1.1 response, to write on a socket that is ours."""
    reason = _reason(status)
    lines = [f"HTTP/1.1 {status} {reason}".encode()]
    names = set()
    for name, value in headers:
        names.add(name.lower())
        lines.append(name + b": " + value)
    if b"content-length" not in names:
        lines.append(b"Content-Length: %d" % len(body))
    lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def _reason(status: int) -> str:
    import http

    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


class _ServerProtocol(ServerProtocol):
    """The ``websockets`` protocol, with the core's reason when a message is too big."""

    def fail(self, code: int, reason: str = "") -> None:
        """Fail the connection (RFC 6455 §7.1.7); 1009 says what the core says."""
        super().fail(code, TOO_BIG[1] if code == TOO_BIG[0] else reason)


class Framing:
    """One connection's wire protocol over a socket we own.

    Args:
        handshake: the bytes of the handshake request (see :func:`handshake_from_environ`).
        max_size: bytes in one incoming message; a larger one fails with 1009.
        ping_interval: seconds between keepalive pings; ``None``: no pings.
        ping_timeout: seconds to wait for the pong before failing with 1011.
        now: the driver's clock at the start.
    """

    def __init__(
        self,
        handshake: bytes,
        *,
        max_size: int,
        ping_interval: float | None,
        ping_timeout: float | None,
        now: float,
    ) -> None:
        self._wire = _ServerProtocol(
            max_size=max_size, extensions=enable_server_permessage_deflate(None), logger=_logger
        )
        self._wire.receive_data(handshake)
        events = self._wire.events_received()
        if events and isinstance(events[0], Request):
            self.response = self._wire.accept(events[0])
        else:  # not even an HTTP request (the WSGI server parsed it, so hardly ever)
            self.response = self._wire.reject(400, "Failed to open a WebSocket connection.\n")
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self._ping_at = None if ping_interval is None else now + ping_interval
        self._pong: tuple[bytes, float] | None = None  # the ping awaited, and its deadline
        self._close_by: float | None = None  # when to stop waiting for the client's close
        self._fragments: list[bytes] = []
        self._text: codecs.IncrementalDecoder | None = None  # a fragmented text message
        self._binary = False
        self._failed = False  # we failed the connection (1007, 1011)

    # -- The handshake -----------------------------------------------------------------

    @property
    def refusal(self) -> Response | None:
        """The response that refuses a malformed handshake (400, 426...), or ``None``."""
        return None if self.response.status_code == 101 else self.response

    def accept(self, subprotocol: str | None, headers: Sequence[tuple[bytes, bytes]]) -> None:
        """Queue the 101 response, with the subprotocol and the view's extra headers."""
        response = self.response
        if subprotocol is not None:
            response.headers["Sec-WebSocket-Protocol"] = subprotocol
        for name, value in headers:
            response.headers[name.decode("latin-1")] = value.decode("latin-1")
        self._wire.send_response(response)

    # -- Incoming ------------------------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> list[Message]:
        """Feed bytes from the socket; return the messages they complete.

        Pings are answered (see :meth:`data_to_send`); a pong that matches the ping in
        flight ends the keepalive wait. Once a close frame arrived, :attr:`closed_with`
        says so, and what follows is discarded.
        """
        self._wire.receive_data(data)
        messages: list[Message] = []
        for frame in self._wire.events_received():
            if isinstance(frame, Frame):
                message = self._frame(frame)
                if message is not None:
                    messages.append(message)
        if self._ping_at is not None and self._wire.state is WireState.OPEN:
            self._ping_at = now + (self.ping_interval or 0)  # traffic counts as alive
        return messages

    def receive_eof(self) -> None:
        """The client closed its side of the TCP connection."""
        self._wire.receive_eof()

    def _frame(self, frame: Frame) -> Message | None:
        opcode = frame.opcode
        if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
            self._binary = opcode is Opcode.BINARY
            if frame.fin:
                return self._complete(bytes(frame.data))
            self._fragments = [bytes(frame.data)]
            if not self._binary:
                self._text = codecs.getincrementaldecoder("utf-8")()
                self._decode_fragment(self._fragments[0], final=False)
        elif opcode is Opcode.CONT:
            self._fragments.append(bytes(frame.data))
            if self._text is not None:
                self._decode_fragment(self._fragments[-1], final=frame.fin)
            if frame.fin:
                data, self._fragments = b"".join(self._fragments), []
                self._text = None
                return self._complete(data, checked=not self._binary)
        elif opcode is Opcode.PONG and self._pong is not None and frame.data == self._pong[0]:
            self._pong = None
        return None

    def _decode_fragment(self, data: bytes, *, final: bool) -> None:
        # Fail fast on invalid UTF-8 in a fragmented text message.
        assert self._text is not None
        try:
            self._text.decode(data, final=final)
        except UnicodeDecodeError as error:
            self._text = None
            self._fail(1007, f"invalid UTF-8: {error.reason}")

    def _complete(self, data: bytes, *, checked: bool = False) -> Message | None:
        if self._binary:
            return data
        if self._wire.state is not WireState.OPEN:
            return None  # failed meanwhile (1007)
        try:
            return data.decode()
        except UnicodeDecodeError as error:
            if not checked:
                self._fail(1007, f"invalid UTF-8: {error.reason}")
            return None

    @property
    def closed_with(self) -> tuple[int, str] | None:
        """The code and reason the connection closed with, unless we closed it.

        The client's close, a failure the wire decided (1002, 1007, 1009, 1011 for a
        missing pong), or 1006 when the connection dropped; ``None`` while it is open or
        closing because we asked (:meth:`close`).
        """
        wire = self._wire
        if wire.close_rcvd is not None:
            return wire.close_rcvd.code, wire.close_rcvd.reason
        if self._failed or wire.parser_exc is not None:
            return (wire.close_sent.code, wire.close_sent.reason) if wire.close_sent else (1006, "")
        if wire.state is WireState.CLOSED and wire.close_sent is None:
            return 1006, ""
        return None

    # -- Outgoing ------------------------------------------------------------------------

    def send(self, message: Message) -> None:
        """Queue one message: ``str`` as a text frame, ``bytes`` as a binary frame."""
        if isinstance(message, str):
            self._wire.send_text(message.encode())
        else:
            self._wire.send_binary(message)

    def close(self, code: int, reason: str, now: float) -> None:
        """Start the closing handshake (nothing if it has started)."""
        if self._wire.state is WireState.OPEN:
            self._wire.send_close(code, reason)
            self._close_by = now + CLOSE_TIMEOUT

    def _fail(self, code: int, reason: str) -> None:
        if self._wire.state is WireState.OPEN:
            self._failed = True
            self._wire.fail(code, reason)

    @property
    def has_output(self) -> bool:
        """Whether :meth:`data_to_send` has something."""
        return bool(self._wire.writes)

    def data_to_send(self) -> tuple[bytes, bool]:
        """Return the bytes to write, and whether to shut the write side down after."""
        writes = self._wire.data_to_send()
        eof = bool(writes) and writes[-1] == b""
        return b"".join(writes), eof

    @property
    def started(self) -> bool:
        """Whether the 101 went out (the WebSocket protocol is on)."""
        return self._wire.state is not WireState.CONNECTING

    @property
    def open(self) -> bool:
        """Whether messages can still be sent."""
        return self._wire.state is WireState.OPEN

    @property
    def finished(self) -> bool:
        """Whether the TCP connection should be closed now."""
        wire = self._wire
        return wire.state is WireState.CLOSED or (wire.eof_sent and wire.close_rcvd is not None)

    # -- Timers --------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        """When :meth:`on_deadline` must run next, or ``None``."""
        if self._close_by is not None:
            return self._close_by
        if self._pong is not None:
            return self._pong[1]
        return self._ping_at

    def on_deadline(self, now: float) -> bool:
        """Send the keepalive ping that is due, or fail a connection that went quiet.

        Returns whether the connection must be dropped now (the closing handshake
        timed out).
        """
        if self._close_by is not None:
            return now >= self._close_by
        if self._pong is not None:
            if now >= self._pong[1]:
                self._fail(1011, "keepalive ping timeout")
                self._close_by = now + CLOSE_TIMEOUT
            return False
        if self._ping_at is not None and now >= self._ping_at and self.open:
            data = os.urandom(4)
            self._wire.send_ping(data)
            self._ping_at = now + (self.ping_interval or 0)
            if self.ping_timeout is not None:
                self._pong = (data, now + self.ping_timeout)
        return False
