"""A minimal ASGI WebSocket echo, without Django: the benchmark's baseline."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

Scope = dict[str, Any]
Event = dict[str, Any]
Receive = Callable[[], Awaitable[Event]]
Send = Callable[[Event], Awaitable[None]]


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Accept a ``websocket`` scope and send back every message until disconnect."""
    if (await receive())["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    while True:
        event = await receive()
        if event["type"] != "websocket.receive":
            return  # websocket.disconnect
        text = event.get("text")
        if text is not None:
            await send({"type": "websocket.send", "text": text})
        else:
            await send({"type": "websocket.send", "bytes": event.get("bytes") or b""})
