"""Raw ASGI WebSocket apps without Django: the benchmarks' baselines.

* ``/raw``: an echo, every message sent back (``echo.py``, ``peers.py``);
* ``/raw/member`` and ``/raw/publish``: a fan-out, every ``member`` socket says
  ``joined`` and is kept in a set; each message a ``publish`` socket sends goes to every
  member, one ``send`` after the other (``broadcast.py``, ``peers.py``).

``application`` routes those paths; it imports nothing of Django or django_websocket, so
``uvicorn benchproject.raw:application`` is the raw stack of ``peers.py`` on its own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["Receive", "Scope", "Send", "application", "echo", "fan_out_member", "fan_out_publish"]

Scope = dict[str, Any]
Event = dict[str, Any]
Receive = Callable[[], Awaitable[Event]]
Send = Callable[[Event], Awaitable[None]]

_members: set[Send] = set()  # the fan-out's members, by their ASGI send callable


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


async def fan_out_member(scope: Scope, receive: Receive, send: Send) -> None:
    """Accept, say ``joined``, and be a fan-out member until disconnect."""
    if (await receive())["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    _members.add(send)
    try:
        await send({"type": "websocket.send", "text": "joined"})
        while (await receive())["type"] == "websocket.receive":
            pass
    finally:
        _members.discard(send)


async def fan_out_publish(scope: Scope, receive: Receive, send: Send) -> None:
    """Accept, then send every message received to every member."""
    if (await receive())["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    while (event := await receive())["type"] == "websocket.receive":
        message = {"type": "websocket.send", "text": event.get("text"), "bytes": event.get("bytes")}
        for member in tuple(_members):
            try:
                await member(message)
            except OSError:  # uvicorn's ClientDisconnected: that member is leaving
                _members.discard(member)


ROUTES = {"/raw": echo, "/raw/member": fan_out_member, "/raw/publish": fan_out_publish}


async def application(scope: Scope, receive: Receive, send: Send) -> None:
    """Serve ``ROUTES`` on ``websocket`` scopes; close anything else."""
    handler = ROUTES.get(scope["path"]) if scope["type"] == "websocket" else None
    if handler is not None:
        await handler(scope, receive, send)
    elif scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.close", "code": 1008})
    elif scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
