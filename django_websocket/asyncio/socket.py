"""ASGI events over a socket of our own, for async views under a WSGI server.

Django runs an async view under WSGI on an event loop of its own (``async_to_sync``);
the connection's socket, handed over by the WSGI server, is then read and written on that
loop. :class:`SocketServer` plays the ASGI server for the asyncio driver: its ``receive``
and ``send`` turn :class:`~django_websocket.framing.Framing`'s messages into
``websocket.*`` events and back, with the loop's non-blocking socket calls, and it sends
the keepalive pings while a ``receive`` waits. The blocking driver, which shares the
socket and the framing, finishes the closing handshake once the view is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections import deque

from ..framing import Framing, http_response
from ..protocol import Message
from .asgi import Event

__all__ = ["SocketServer"]

_READ_SIZE = 65536


class SocketServer:
    """The ``receive`` and ``send`` of one connection on the running loop.

    Args:
        sock: the connection's socket; made non-blocking until :meth:`release`.
        framing: the wire protocol, shared with the blocking driver (which is idle
            meanwhile: the WSGI thread waits for the view).
    """

    def __init__(self, sock: socket.socket, framing: Framing) -> None:
        self._loop = asyncio.get_running_loop()
        self._sock = sock
        self._framing = framing
        self._writing = asyncio.Lock()  # writes go out whole and in order
        self._messages: deque[Message] = deque()
        self._closed = False  # the disconnect event has been delivered
        sock.setblocking(False)

    def release(self) -> None:
        """Give the socket back to blocking use."""
        self._sock.setblocking(True)

    async def receive(self) -> Event:
        """Return the next ``websocket.receive`` event, or ``websocket.disconnect``."""
        framing = self._framing
        while not self._messages:
            closed = framing.closed_with
            if closed is not None or self._closed:
                code, reason = closed or (1006, "")
                self._closed = True
                return {"type": "websocket.disconnect", "code": code, "reason": reason}
            deadline = framing.next_deadline()
            timeout = None if deadline is None else max(deadline - time.monotonic(), 0)
            try:
                data = await asyncio.wait_for(self._loop.sock_recv(self._sock, _READ_SIZE), timeout)
            except asyncio.TimeoutError:
                if framing.on_deadline(time.monotonic()):
                    self._closed = True
                await self._write()
                continue
            except OSError:
                data = b""
            if data:
                self._messages.extend(framing.receive_data(data, time.monotonic()))
            else:
                framing.receive_eof()
                self._closed = True
            await self._write()  # pongs, the close reply
        message = self._messages.popleft()
        if isinstance(message, str):
            return {"type": "websocket.receive", "text": message}
        return {"type": "websocket.receive", "bytes": message}

    async def send(self, event: Event) -> None:
        """Carry out ``websocket.accept``, ``websocket.send`` or ``websocket.close``.

        Raises:
            OSError: the connection is gone (the driver makes it ``ConnectionClosed``).
        """
        kind = event["type"]
        framing = self._framing
        if kind == "websocket.accept":
            framing.accept(event.get("subprotocol"), event.get("headers") or ())
        elif kind == "websocket.send":
            if not framing.open:
                raise ConnectionResetError("the WebSocket connection is closed")
            text = event.get("text")
            framing.send(text if text is not None else bytes(event.get("bytes") or b""))
        elif kind == "websocket.close" and not framing.started:
            # Before the handshake, as servers do: refuse it with 403.
            async with self._writing:
                await self._loop.sock_sendall(self._sock, http_response(403, [], b""))
            return
        elif kind == "websocket.close":
            code, reason = int(event.get("code", 1000)), event.get("reason") or ""
            framing.close(code, reason, time.monotonic())
        await self._write()

    async def _write(self) -> None:
        async with self._writing:
            data, eof = self._framing.data_to_send()
            if data:
                await self._loop.sock_sendall(self._sock, data)
            if eof:
                with contextlib.suppress(OSError):
                    self._sock.shutdown(socket.SHUT_WR)
