"""The views the benchmarks drive: echo (sync and async), login-only echo, group broadcast."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest

from django_websocket import abroadcast, require_websocket


@require_websocket
def echo_sync(request: HttpRequest) -> None:
    """Send back every message, on the view's own thread."""
    websocket = request.websocket  # type: ignore[attr-defined]
    for message in websocket:
        websocket.send(message)


@require_websocket
async def echo_async(request: HttpRequest) -> None:
    """Send back every message, on the event loop."""
    websocket = request.websocket  # type: ignore[attr-defined]
    async for message in websocket:
        await websocket.send(message)


# The handshake benchmark (peers.py): the echo for logged-in users only, so that every
# handshake loads the session and the user (the client sends a session cookie).
hello_sync = login_required(echo_sync)
hello_async = login_required(echo_async)


@require_websocket
async def group_member(request: HttpRequest) -> None:
    """Join group ``bench``, say ``joined``, then idle until the client closes."""
    websocket = request.websocket  # type: ignore[attr-defined]
    await websocket.join("bench")
    await websocket.send("joined")
    async for _ in websocket:
        pass


@require_websocket
async def group_publisher(request: HttpRequest) -> None:
    """Broadcast every message this socket receives to group ``bench``."""
    websocket = request.websocket  # type: ignore[attr-defined]
    async for message in websocket:
        await abroadcast("bench", message)
