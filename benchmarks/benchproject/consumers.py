"""Channels consumers with the same shape as the benchmark views, for comparison.

Imported only where Channels is installed (it is not a dependency of this project).

* ``Echo`` and ``SyncEcho``: the echo of Channels' documentation, async and sync;
  ``LoggedInEcho`` and ``SyncLoggedInEcho`` accept logged-in users only (``peers.py``'s
  handshake benchmark, behind ``AuthMiddlewareStack``).
* ``Member`` joins group ``bench`` on the layer ``channel_layer_alias``, says ``joined``
  and sends every group message to its client; ``Publisher`` sends every message it
  receives to the group with ``group_send``.

Plain ``AsyncWebsocketConsumer`` / ``WebsocketConsumer`` code.
"""

from __future__ import annotations

from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer, WebsocketConsumer


class Echo(AsyncWebsocketConsumer):
    """Send back every message."""

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        await self.send(text_data=text_data, bytes_data=bytes_data)


class SyncEcho(WebsocketConsumer):
    """Send back every message, from Channels' worker thread."""

    def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        self.send(text_data=text_data, bytes_data=bytes_data)


class LoggedInEcho(Echo):
    """``Echo`` for a logged-in ``scope["user"]``; anyone else is closed at once."""

    async def connect(self) -> None:
        if self.scope["user"].is_authenticated:
            await self.accept()
        else:
            await self.close()


class SyncLoggedInEcho(SyncEcho):
    """``SyncEcho`` for a logged-in ``scope["user"]``; anyone else is closed at once."""

    def connect(self) -> None:
        if self.scope["user"].is_authenticated:
            self.accept()
        else:
            self.close()


class Member(AsyncWebsocketConsumer):
    """Join ``bench`` on connect; forward each ``bench.message`` to the client."""

    async def connect(self) -> None:
        await self.channel_layer.group_add("bench", self.channel_name)
        await self.accept()
        await self.send(text_data="joined")

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard("bench", self.channel_name)

    async def bench_message(self, event: dict[str, Any]) -> None:
        await self.send(text_data=event["text"])


class Publisher(AsyncWebsocketConsumer):
    """``group_send`` every received message to ``bench``."""

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        await self.channel_layer.group_send("bench", {"type": "bench.message", "text": text_data})


class CoreMember(Member):
    """``Member`` on the ``core`` layer (channels_redis' ``RedisChannelLayer``)."""

    channel_layer_alias = "core"


class CorePublisher(Publisher):
    """``Publisher`` on the ``core`` layer."""

    channel_layer_alias = "core"
