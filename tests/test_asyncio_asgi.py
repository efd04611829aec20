"""The ASGI handshake and close events, and what each server does differently."""

from __future__ import annotations

from typing import Any

import pytest

from django_websocket.asyncio.asgi import ASGITransport


class Recorder:
    """An ASGI server's two callables, recording what the app sends."""

    def __init__(self, incoming: list[dict[str, Any]] | None = None) -> None:
        self.sent: list[Any] = []
        self.incoming = list(incoming or [])

    async def receive(self) -> dict[str, Any]:
        return self.incoming.pop(0)

    async def send(self, event: Any) -> None:
        self.sent.append(event)


def transport(recorder: Recorder, **scope: Any) -> ASGITransport:
    return ASGITransport({"type": "websocket", **scope}, recorder.receive, recorder.send)


def test_subprotocols_are_split_when_a_server_passes_the_raw_header() -> None:
    assert transport(Recorder(), subprotocols=["a, b", "c"]).subprotocols == ["a", "b", "c"]
    assert transport(Recorder()).subprotocols == []


async def test_deny_sends_the_response_where_the_server_supports_it() -> None:
    recorder = Recorder()
    await transport(recorder, extensions={"websocket.http.response": {}}).deny(
        418, [(b"x", b"y")], b"body"
    )
    assert recorder.sent == [
        {"type": "websocket.http.response.start", "status": 418, "headers": [(b"x", b"y")]},
        {"type": "websocket.http.response.body", "body": b"body"},
    ]


async def test_deny_closes_where_the_server_has_no_response_extension() -> None:
    recorder = Recorder()
    await transport(recorder).deny(418, [], b"body")
    assert recorder.sent == [{"type": "websocket.close", "code": 1000}]


async def test_close_on_a_dead_connection_is_not_an_error() -> None:
    async def broken_send(event: Any) -> None:
        raise OSError("gone")

    await ASGITransport({"type": "websocket"}, Recorder().receive, broken_send).close(1000, "")


class Autobahn(Recorder):
    """Daphne's send: autobahn raises for close codes other than 1000 and 3000-4999."""

    async def send(self, event: Any) -> None:
        code = event.get("code", 1000)
        if event["type"] == "websocket.close" and not (code == 1000 or 3000 <= code <= 4999):
            raise Exception(f"invalid close code {code} (must be 1000 or from [3000, 4999])")
        await super().send(event)


@pytest.mark.parametrize(("code", "sent"), [(1011, 1000), (1001, 1000), (4000, 4000)])
async def test_close_falls_back_to_1000_where_the_server_refuses_the_code(
    code: int, sent: int
) -> None:
    recorder = Autobahn()
    await transport(recorder).close(code, "why")
    assert recorder.sent == [{"type": "websocket.close", "code": sent, "reason": "why"}]
