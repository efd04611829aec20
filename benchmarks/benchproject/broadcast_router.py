"""The ASGI application ``broadcast.py`` serves: ``benchproject.router`` plus Channels.

``/channels/...`` WebSocket paths go to the Channels consumers (only where Channels is
installed); everything else, including the ``/group/...`` views, to ``router``. The
choice is made once per connection.
"""

from __future__ import annotations

from typing import Any

from . import router
from .raw import Receive, Scope, Send

try:
    from . import consumers
except ImportError:  # Channels is not installed: no /channels/ paths
    CHANNELS: dict[str, Any] = {}
else:
    CHANNELS = {
        "/channels/member": consumers.Member.as_asgi(),
        "/channels/publish": consumers.Publisher.as_asgi(),
        "/channels/core/member": consumers.CoreMember.as_asgi(),
        "/channels/core/publish": consumers.CorePublisher.as_asgi(),
    }


async def application(scope: Scope, receive: Receive, send: Send) -> None:
    """Route ``/channels/...`` to Channels, the rest to ``benchproject.router``."""
    consumer = CHANNELS.get(scope["path"]) if scope["type"] == "websocket" else None
    if consumer is not None:
        await consumer(scope, receive, send)
    else:
        await router.application(scope, receive, send)
