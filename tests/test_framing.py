"""The wire protocol on a socket of our own, with no I/O: a websockets client talks to it."""

from __future__ import annotations

import pytest
from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import enable_client_permessage_deflate
from websockets.frames import Frame, Opcode
from websockets.uri import parse_uri

from django_websocket.framing import CLOSE_TIMEOUT, Framing, handshake_from_environ, http_response


def pair(
    *, max_size: int = 1 << 20, ping: float | None = None, compress: bool = True
) -> tuple[ClientProtocol, Framing]:
    extensions = enable_client_permessage_deflate(None) if compress else None
    client = ClientProtocol(parse_uri("ws://testserver/echo/"), extensions=extensions)
    request = client.connect()
    framing = Framing(
        request.serialize(), max_size=max_size, ping_interval=ping, ping_timeout=ping, now=0.0
    )
    return client, framing


def opened(**options: object) -> tuple[ClientProtocol, Framing]:
    client, framing = pair(**options)  # type: ignore[arg-type]
    framing.accept(None, [])
    client.receive_data(framing.data_to_send()[0])
    client.events_received()
    return client, framing


def to_server(client: ClientProtocol) -> bytes:
    return b"".join(client.data_to_send())


def frames_at_client(client: ClientProtocol, framing: Framing) -> list[Frame]:
    client.receive_data(framing.data_to_send()[0])
    return [event for event in client.events_received() if isinstance(event, Frame)]


def test_handshake_from_environ_rebuilds_the_request() -> None:
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": "/chat/?room=1",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "example.com",
        "HTTP_SEC_WEBSOCKET_KEY": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    assert handshake_from_environ(environ) == (
        b"GET /chat/?room=1 HTTP/1.1\r\nHost: example.com\r\n"
        b"Sec-Websocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )


def test_accept_writes_101_with_the_subprotocol_headers_and_compression() -> None:
    _client, framing = pair()
    assert framing.refusal is None
    framing.accept("chat.v1", [(b"X-Extra", b"1")])
    data, eof = framing.data_to_send()
    assert data.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert b"Sec-WebSocket-Protocol: chat.v1" in data and b"X-Extra: 1" in data
    assert b"permessage-deflate" in data
    assert not eof


def test_a_malformed_handshake_is_refused_with_400() -> None:
    client = ClientProtocol(parse_uri("ws://testserver/"))
    request = client.connect()
    del request.headers["Sec-WebSocket-Key"]
    request.headers["Sec-WebSocket-Key"] = "not-base64!"
    framing = Framing(request.serialize(), max_size=1, ping_interval=None, ping_timeout=None, now=0)
    assert framing.refusal is not None and framing.refusal.status_code == 400


def test_messages_both_ways_text_binary_and_fragments() -> None:
    client, framing = opened()
    client.send_text(b"hello")
    client.send_binary(b"\x00\x01")
    client.send_text("é".encode()[:1], fin=False)
    client.send_continuation("é".encode()[1:], fin=True)
    assert framing.receive_data(to_server(client), 1.0) == ["hello", b"\x00\x01", "é"]
    framing.send("back")
    framing.send(b"\xff")
    assert [(f.opcode, f.data) for f in frames_at_client(client, framing)] == [
        (Opcode.TEXT, b"back"),
        (Opcode.BINARY, b"\xff"),
    ]


def test_invalid_utf8_fails_with_1007() -> None:
    client, framing = opened(compress=False)
    client.send_text(b"\xff\xfe")
    assert framing.receive_data(to_server(client), 1.0) == []
    assert framing.closed_with is not None
    assert framing.closed_with[0] == 1007


def test_a_message_over_max_size_fails_with_1009_and_the_cores_reason() -> None:
    client, framing = opened(max_size=10)
    client.send_binary(b"x" * 11)
    assert framing.receive_data(to_server(client), 1.0) == []
    assert framing.closed_with == (1009, "message too big")


def test_a_client_close_is_answered_and_reported() -> None:
    client, framing = opened()
    client.send_close(4001, "bye")
    framing.receive_data(to_server(client), 1.0)
    assert framing.closed_with == (4001, "bye")
    data, eof = framing.data_to_send()
    assert data.startswith(b"\x88") and eof  # the close echoed, then the TCP end
    assert framing.finished


def test_pings_are_answered() -> None:
    client, framing = opened()
    client.send_ping(b"abc")
    framing.receive_data(to_server(client), 1.0)
    assert [(f.opcode, f.data) for f in frames_at_client(client, framing)] == [
        (Opcode.PONG, b"abc")
    ]


def test_keepalive_pings_and_a_missing_pong_fails_with_1011() -> None:
    client, framing = opened(ping=5.0)
    assert framing.next_deadline() == 5.0
    assert framing.on_deadline(5.0) is False
    [ping] = frames_at_client(client, framing)
    assert ping.opcode is Opcode.PING
    assert framing.next_deadline() == 10.0  # the pong's deadline
    framing.on_deadline(10.0)
    assert framing.closed_with == (1011, "keepalive ping timeout")
    assert framing.next_deadline() == 10.0 + CLOSE_TIMEOUT
    assert framing.on_deadline(10.0 + CLOSE_TIMEOUT) is True  # then drop it


def test_an_answered_ping_keeps_the_connection() -> None:
    client, framing = opened(ping=5.0)
    framing.on_deadline(5.0)
    frames_at_client(client, framing)  # the client's protocol answers the ping
    framing.receive_data(to_server(client), 6.0)
    assert framing.closed_with is None
    assert framing.next_deadline() == 11.0  # the next ping, counted from the traffic


def test_our_close_waits_for_the_client_then_times_out() -> None:
    _client, framing = opened()
    framing.close(1000, "", now=1.0)
    assert not framing.open
    assert framing.next_deadline() == 1.0 + CLOSE_TIMEOUT
    assert framing.on_deadline(1.0 + CLOSE_TIMEOUT) is True


@pytest.mark.parametrize(("status", "body"), [(403, b""), (418, b"no entry")])
def test_http_response(status: int, body: bytes) -> None:
    response = http_response(status, [(b"X-Why", b"teapot")], body)
    head, _, rest = response.partition(b"\r\n\r\n")
    assert head.startswith(f"HTTP/1.1 {status} ".encode())
    assert b"X-Why: teapot" in head and f"Content-Length: {len(body)}".encode() in head
    assert rest == body
