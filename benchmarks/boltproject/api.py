"""The django-bolt WebSocket echo of its README, returning each message as it came."""

from __future__ import annotations

from django_bolt import BoltAPI, WebSocket

api = BoltAPI()


@api.websocket("/echo")
async def echo(websocket: WebSocket) -> None:
    """Accept, then send back every text message."""
    await websocket.accept()
    async for message in websocket.iter_text():
        await websocket.send_text(message)
