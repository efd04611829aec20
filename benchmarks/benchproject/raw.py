"""A minimal ASGI WebSocket echo, without Django: the benchmark's baseline."""

from __future__ import annotations

from django_websocket.asyncio.asgi import Receive, Scope, Send

__all__ = ["Receive", "Scope", "Send", "echo"]


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
