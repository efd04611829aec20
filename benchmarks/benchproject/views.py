"""The two echo views the benchmark drives: one sync, one async."""

from __future__ import annotations

from django.http import HttpRequest

from django_websocket import require_websocket


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
