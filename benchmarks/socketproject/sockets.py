"""django-socket handlers with the shape of the other stacks' (``peers.py``)."""

from __future__ import annotations

from typing import Any

from django_socket import login_required, ws


@ws("echo/")
async def echo(sock: Any) -> None:
    """Send back every message (django-socket's first example, without its prefix)."""
    async for msg in sock:
        await sock.send(msg.text)


@ws("hello/")
@login_required
async def hello(sock: Any) -> None:
    """``echo`` for logged-in users only (the handshake benchmark)."""
    async for msg in sock:
        await sock.send(msg.text)


@ws("group/member/", group="bench")
async def member(sock: Any) -> None:
    """A member of group ``bench`` (joined on connect): say ``joined``, then idle."""
    await sock.send("joined")
    async for _ in sock:
        pass


@ws("group/publish/")
async def publish(sock: Any) -> None:
    """Broadcast every message received to group ``bench``."""
    async for msg in sock:
        await sock.broadcast(msg.text, to="bench")
