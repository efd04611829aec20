"""The I/O-free connection state: transitions, subprotocol choice, close validation."""

from __future__ import annotations

import pytest

from django_websocket import ConnectionClosedError, ConnectionClosedOK, WebSocketError
from django_websocket.state import ConnectionState, State, choose_subprotocol, validate_close


def test_choose_subprotocol_prefers_the_views_order() -> None:
    assert choose_subprotocol(["b", "a"], ["a", "b"]) == "a"
    assert choose_subprotocol(["x"], ["a"]) is None
    assert choose_subprotocol([], ["a"]) is None


@pytest.mark.parametrize("code", [1000, 1001, 1008, 1011, 3000, 4999])
def test_validate_close_accepts_sendable_codes(code: int) -> None:
    validate_close(code, "ok")


@pytest.mark.parametrize("code", [999, 1004, 1005, 1006, 1015, 2000, 5000])
def test_validate_close_rejects_reserved_codes(code: int) -> None:
    with pytest.raises(ValueError, match=str(code)):
        validate_close(code, "")


def test_validate_close_rejects_a_reason_over_123_bytes() -> None:
    validate_close(1000, "é" * 61)  # 122 bytes
    with pytest.raises(ValueError, match="123 bytes"):
        validate_close(1000, "é" * 62)


def test_accept_moves_to_open_with_the_preferred_subprotocol() -> None:
    state = ConnectionState(["v1", "v2"])
    state.preferred_subprotocols = ["v2"]
    assert state.accept(None) == "v2"
    assert (state.state, state.subprotocol) == (State.OPEN, "v2")


def test_accept_rejects_a_subprotocol_the_client_did_not_offer() -> None:
    with pytest.raises(ValueError, match="not offered"):
        ConnectionState(["v1"]).accept("v9")


def test_accept_twice_is_an_error() -> None:
    state = ConnectionState()
    state.accept(None)
    with pytest.raises(WebSocketError):
        state.accept(None)


def test_deny_only_before_accept() -> None:
    state = ConnectionState()
    state.deny()
    assert state.state is State.CLOSED
    with pytest.raises(WebSocketError):
        state.deny()


def test_close_sends_a_frame_only_once() -> None:
    state = ConnectionState()
    state.accept(None)
    assert state.close(4000, "bye") is True
    assert state.close(1000, "") is False
    assert (state.close_code, state.close_reason) == (4000, "bye")


def test_check_send_rejects_other_types_and_closed_connections() -> None:
    state = ConnectionState()
    state.accept(None)
    with pytest.raises(TypeError, match="str or bytes"):
        state.check_send(42)  # type: ignore[arg-type]
    state.closed_by_peer(1001, "going")
    with pytest.raises(ConnectionClosedOK) as caught:
        state.check_send("late")
    assert (caught.value.code, caught.value.reason) == (1001, "going")


def test_check_send_on_a_closed_connection_is_connection_closed_whatever_the_message() -> None:
    state = ConnectionState()
    state.accept(None)
    state.closed_by_peer(1000, "")
    with pytest.raises(ConnectionClosedOK):
        state.check_send(None)  # type: ignore[arg-type]


def test_closed_by_peer_keeps_the_first_close() -> None:
    state = ConnectionState()
    state.accept(None)
    state.closed_by_peer(4001, "first")
    state.closed_by_peer(1000, "second")
    assert state.close_code == 4001
    assert isinstance(state.closed_error(), ConnectionClosedError)
