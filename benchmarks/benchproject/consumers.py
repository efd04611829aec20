"""Channels consumers with the same shape as the broadcast views, for comparison.

Imported only where Channels is installed (it is not a dependency of this project).
``Member`` joins group ``bench`` on the layer ``channel_layer_alias``, says ``joined`` and
sends every group message to its client; ``Publisher`` sends every message it receives
to the group with ``group_send``. Plain ``AsyncWebsocketConsumer`` code.
"""

from __future__ import annotations

from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer


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
