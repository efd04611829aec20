"""Shutting down: closing every connection at once."""

from __future__ import annotations

import asyncio
import time

import pytest

from django_websocket.asgi import ASGIApplication


class FakeConnection:
    """Stands for a Connection in WebSocketHandler._connections."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.closed_with: tuple[int, str] | None = None

    async def close(self, code: int, reason: str) -> None:
        await asyncio.sleep(0.2)
        if self.error is not None:
            raise self.error
        self.closed_with = (code, reason)


async def test_close_all_closes_every_connection_at_once_and_never_raises(
    caplog: pytest.LogCaptureFixture,
) -> None:
    handler = ASGIApplication().websocket_handler
    connections = [FakeConnection() for _ in range(200)]
    broken = FakeConnection(RuntimeError("boom"))
    handler._connections.update([*connections, broken])
    started = time.monotonic()
    await handler.close_all(1001, "server shutting down")
    assert time.monotonic() - started < 1.5  # 200 x 0.2 s one after another: 40 s
    assert {c.closed_with for c in connections} == {(1001, "server shutting down")}
    assert "Closing a WebSocket connection failed" in caplog.text
