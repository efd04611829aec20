"""The seed README's API end to end: decorators, middleware, settings, its two examples."""

from __future__ import annotations

import json
import time

import pytest
from websockets.exceptions import ConnectionClosedOK, InvalidStatus
from websockets.sync.client import connect

from .conftest import Server, serve


def test_echo_once_sends_one_message_back_then_closes_1000(server: Server) -> None:
    with connect(f"{server.ws}/echo_once/") as ws:
        ws.send("Hello, World")
        assert ws.recv(timeout=5) == "Hello, World"
        with pytest.raises(ConnectionClosedOK):
            ws.recv(timeout=5)
        assert ws.close_code == 1000


def test_echo_once_ends_quietly_when_the_client_leaves_without_a_message(
    server: Server,
) -> None:
    log_before = len(server.log())
    with connect(f"{server.ws}/echo_once/") as ws:
        ws.close()
    time.sleep(0.3)
    new_log = server.log()[log_before:]
    assert "/echo_once/" in new_log  # the connection was served...
    assert "Error" not in new_log  # ...and wait() -> None, send(None) ended it quietly


def test_lower_case_over_websocket_lowercases_every_message(server: Server) -> None:
    with connect(f"{server.ws}/lower_case/") as ws:
        for message in ["HeLLo", "WORLD", "ÀÉÎ"]:
            ws.send(message)
            assert ws.recv(timeout=5) == message.lower()


def test_lower_case_over_http_uses_the_query_string(server: Server) -> None:
    status, _, body = server.get("/lower_case/?message=ShOuT")
    assert (status, body) == (200, b"shout")


def test_require_websocket_refuses_http_with_426_and_does_not_call_the_view(
    server: Server,
) -> None:
    status, headers, _ = server.get("/echo_once/")
    assert status == 426
    assert headers["Upgrade"] == "websocket"


def test_unmarked_view_refuses_the_handshake_with_400(server: Server) -> None:
    with pytest.raises(InvalidStatus) as caught:
        connect(f"{server.ws}/unmarked/")
    assert caught.value.response.status_code == 400


def test_accept_all_opens_unmarked_views(tmp_path) -> None:
    with (
        serve(tmp_path, TEST_WEBSOCKET_ACCEPT_ALL="1") as server,
        connect(f"{server.ws}/unmarked/") as ws,
    ):
        assert ws.recv(timeout=5) == "unmarked view reached"


def test_websocket_request_has_is_websocket_true_and_a_websocket(server: Server) -> None:
    with connect(f"{server.ws}/attributes/") as ws:
        assert json.loads(ws.recv(timeout=5)) == {"is_websocket": True, "websocket_is_none": False}


def test_decorator_gives_http_requests_is_websocket_false_and_none(server: Server) -> None:
    status, _, body = server.get("/attributes/")
    assert status == 200
    assert json.loads(body) == {"is_websocket": False, "websocket_is_none": True}


def test_middleware_gives_every_http_request_the_attributes(
    server: Server, server_with_middleware: Server
) -> None:
    assert json.loads(server.get("/unmarked/")[2]) == {"is_websocket": None, "has_attr": False}
    body = server_with_middleware.get("/unmarked/")[2]
    assert json.loads(body) == {"is_websocket": False, "has_attr": True}


def test_middleware_does_not_open_unmarked_views(server_with_middleware: Server) -> None:
    with pytest.raises(InvalidStatus) as caught:
        connect(f"{server_with_middleware.ws}/unmarked/")
    assert caught.value.response.status_code == 400


def test_decorators_work_with_the_middleware(server_with_middleware: Server) -> None:
    with connect(f"{server_with_middleware.ws}/lower_case/") as ws:
        ws.send("MIDDLEWARE")
        assert ws.recv(timeout=5) == "middleware"
    assert server_with_middleware.get("/echo_once/")[0] == 426
