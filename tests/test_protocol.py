"""The connection core: every rule, with no I/O (no server, no loop: milliseconds)."""

from __future__ import annotations

import pytest

from django_websocket import ConnectionClosedError, ConnectionClosedOK, WebSocketError
from django_websocket.protocol import (
    RATE_LIMITED,
    CloseAction,
    Protocol,
    RateLimit,
    State,
    TokenBucket,
    choose_subprotocol,
    too_big,
    validate_close,
)


def core(offered: list[str] | None = None, **options: int) -> Protocol:
    return Protocol(
        offered or [], max_queue=options.get("max_queue", 4), max_size=options.get("max_size", 100)
    )


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
    state = core(["v1", "v2"])
    state.preferred_subprotocols = ["v2"]
    assert state.accept() == "v2"
    assert (state.state, state.subprotocol) == (State.OPEN, "v2")


def test_accept_rejects_a_subprotocol_the_client_did_not_offer() -> None:
    with pytest.raises(ValueError, match="not offered"):
        core(["v1"]).accept("v9")


def test_accept_twice_is_an_error() -> None:
    state = core()
    state.accept()
    with pytest.raises(WebSocketError):
        state.accept()


def test_deny_only_before_accept() -> None:
    state = core()
    state.deny()
    assert state.state is State.CLOSED
    with pytest.raises(WebSocketError):
        state.deny()


def test_close_sends_a_frame_only_once() -> None:
    state = core()
    state.accept()
    assert state.close(4000, "bye") is CloseAction.SEND_CLOSE
    assert state.close(1000, "") is CloseAction.NOTHING
    assert (state.close_code, state.close_reason) == (4000, "bye")


def test_check_send_rejects_other_types_and_closed_connections() -> None:
    state = core()
    state.accept()
    with pytest.raises(TypeError, match="str or bytes"):
        state.check_send(42)  # type: ignore[arg-type]
    state.closed_by_peer(1001, "going")
    with pytest.raises(ConnectionClosedOK) as caught:
        state.check_send("late")
    assert (caught.value.code, caught.value.reason) == (1001, "going")


def test_check_send_on_a_closed_connection_is_connection_closed_whatever_the_message() -> None:
    state = core()
    state.accept()
    state.closed_by_peer(1000, "")
    with pytest.raises(ConnectionClosedOK):
        state.check_send(None)  # type: ignore[arg-type]


def test_closed_by_peer_keeps_the_first_close() -> None:
    state = core()
    state.accept()
    state.closed_by_peer(4001, "first")
    state.closed_by_peer(1000, "second")
    assert state.close_code == 4001
    assert isinstance(state.closed_error(), ConnectionClosedError)


def test_close_before_the_handshake_denies_it() -> None:
    state = core()
    assert state.close(1000, "") is CloseAction.DENY
    assert state.state is State.CLOSED


def test_close_validates_the_code_whoever_closes() -> None:
    state = core()
    state.accept()
    with pytest.raises(ValueError):
        state.close(1005, "")
    assert state.state is State.OPEN


def test_accept_records_the_time_the_idle_clock_starts() -> None:
    state = core()
    state.idle_timeout = 10
    state.accept(now=100.0)
    assert state.idle_deadline() == 110.0


def test_a_message_over_max_size_closes_with_1009() -> None:
    state = core(max_size=10)
    state.accept()
    assert state.receive("x" * 10, 1.0) is True
    assert state.receive(b"y" * 11, 2.0) is False
    assert (state.state, state.close_code, state.close_reason) == (
        State.CLOSED,
        1009,
        "message too big",
    )


@pytest.mark.parametrize(
    ("message", "limit", "expected"),
    [("é" * 5, 10, False), ("é" * 6, 10, True), ("abc", 3, False), (b"abcd", 3, True)],
)
def test_too_big_counts_text_in_utf8_bytes(
    message: str | bytes, limit: int, expected: bool
) -> None:
    assert too_big(message, limit) is expected
    state = core(max_size=limit)
    state.accept()
    assert state.receive(message, 0.0) is not expected


def test_unread_messages_pause_reading_at_max_queue() -> None:
    state = core(max_queue=2)
    state.accept()
    state.queue("a")
    assert not state.reading_paused
    state.queue("b")
    assert state.reading_paused
    assert state.take() == "a"
    assert not state.reading_paused
    assert (state.take(), state.take()) == ("b", None)


def test_finished_only_once_closed_and_drained() -> None:
    state = core()
    state.accept()
    state.queue("last")
    state.closed_by_peer(1000)
    assert not state.finished
    state.take()
    assert state.finished


def test_idle_deadline_follows_the_last_message_and_waits_while_the_view_is_behind() -> None:
    state = core(max_queue=1)
    assert state.idle_deadline() is None  # no timeout set
    state.idle_timeout = 5
    state.accept(now=0.0)
    state.receive("m", 3.0)
    assert state.idle_deadline() == 8.0
    assert not state.is_idle(7.9)
    assert state.is_idle(8.0)
    state.queue("m")  # the buffer is full: the view is behind, not the client idle
    assert state.idle_deadline() is None
    assert not state.is_idle(100.0)


def test_close_hooks_are_taken_once() -> None:
    state = core()
    calls: list[int] = []
    state.on_close(lambda: calls.append(1))
    for hook in state.take_close_hooks():
        hook()
    assert state.take_close_hooks() == []
    assert calls == [1]


@pytest.mark.parametrize(
    ("accepted", "status", "returned_nothing", "failed", "code"),
    [
        (False, 403, False, False, None),  # a response before the handshake denies it
        (False, 101, True, False, 1000),  # nothing returned: accept, then close 1000
        (True, 101, True, False, 1000),
        (True, 500, False, False, 1011),  # a 5xx after the handshake
        (True, 500, False, True, 1011),  # the view raised
        (True, 200, False, False, 1000),
    ],
)
def test_end_code_maps_the_views_outcome(
    accepted: bool, status: int, returned_nothing: bool, failed: bool, code: int | None
) -> None:
    state = core()
    if accepted:
        state.accept()
    state.failed = failed
    assert state.end_code(status, returned_nothing=returned_nothing) == code


# -- The rate limit --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "count", "period", "canonical"),
    [
        ("10/s", 10, 1.0, "10/s"),
        ("100/5m", 100, 300.0, "100/5m"),
        ("60/m", 60, 60.0, "60/m"),
        ("1000/h", 1000, 3600.0, "1000/h"),
        ("5/d", 5, 86400.0, "5/d"),
        (" 7 / 30s ", 7, 30.0, "7/30s"),
        ("2/60s", 2, 60.0, "2/m"),
    ],
)
def test_rate_limit_parses_count_per_period(
    text: str, count: int, period: float, canonical: str
) -> None:
    limit = RateLimit.parse(text)
    assert (limit.count, limit.period) == (count, period)
    assert str(limit) == canonical


@pytest.mark.parametrize("text", ["", "60", "60/", "/m", "0/m", "60/0m", "60/w", "60/min", "-1/s"])
def test_rate_limit_refuses_other_forms_with_the_formats_in_the_message(text: str) -> None:
    with pytest.raises(ValueError, match=r'"10/s", "100/5m", "60/m" or "1000/h"'):
        RateLimit.parse(text)


@pytest.mark.parametrize("value", [60, 1.5, True, b"60/m"])
def test_rate_limit_refuses_what_is_not_a_str(value: object) -> None:
    with pytest.raises(TypeError, match="60/m"):
        RateLimit.parse(value)  # type: ignore[arg-type]


def test_token_bucket_allows_a_burst_of_count_then_refuses() -> None:
    bucket = TokenBucket(RateLimit(3, 60.0))
    assert [bucket.take(100.0) for _ in range(4)] == [True, True, True, False]


def test_token_bucket_refills_at_count_per_period() -> None:
    bucket = TokenBucket(RateLimit(2, 10.0))  # one token back every 5 s
    assert bucket.take(0.0) and bucket.take(0.0)
    assert not bucket.take(4.0)  # 0.8 of a token
    assert bucket.take(5.5)  # 1.1 tokens: one message
    assert not bucket.take(5.5)
    assert bucket.take(1000.0) and bucket.take(1000.0)  # full again, never fuller
    assert not bucket.take(1000.0)


def test_token_bucket_lets_a_steady_client_at_the_rate_through_forever() -> None:
    bucket = TokenBucket(RateLimit(1, 0.5))
    assert all(bucket.take(n * 0.5) for n in range(1000))


def test_receive_past_the_rate_limit_closes_with_1008() -> None:
    state = core()
    state.limit_rate(RateLimit(2, 3600.0))
    state.accept()
    assert state.receive("a", 1.0) and state.receive("b", 1.0)
    assert not state.receive("c", 1.0)
    assert (state.state, state.close_code, state.close_reason) == (State.CLOSED, *RATE_LIMITED)
    assert RATE_LIMITED == (1008, "rate limit exceeded")


def test_receive_without_a_rate_limit_takes_everything() -> None:
    state = core()
    state.limit_rate(RateLimit(1, 60.0))
    state.limit_rate(None)
    state.accept()
    assert state.rate_limit is None
    assert all(state.receive("m", 0.0) for _ in range(1000))


def test_rate_limit_is_per_connection() -> None:
    limit = RateLimit(1, 60.0)
    first, second = core(), core()
    for state in (first, second):
        state.limit_rate(limit)
        state.accept()
    assert first.receive("a", 0.0)
    assert not first.receive("b", 0.0)
    assert second.receive("a", 0.0)  # the other connection's bucket is its own
    assert second.rate_limit == limit


# -- The lifecycle -----------------------------------------------------------------------


def test_lifecycle_is_announced_once_each_way_only_after_the_accept() -> None:
    protocol = Protocol(max_queue=4, max_size=100)
    assert not protocol.take_connected() and not protocol.take_disconnected()
    protocol.accept(now=5.0)
    assert protocol.accepted_at == 5.0
    assert protocol.take_connected() and not protocol.take_connected()
    protocol.close(1001, "bye")
    assert protocol.take_disconnected() and not protocol.take_disconnected()


def test_denied_handshake_records_its_status_and_is_never_announced() -> None:
    protocol = Protocol(max_queue=4, max_size=100)
    protocol.deny(401)
    assert protocol.denied_status == 401
    closed = Protocol(max_queue=4, max_size=100)
    closed.close(1000, "")  # a close before the handshake refuses it with 403
    assert closed.denied_status == 403
    assert not protocol.take_connected() and not protocol.take_disconnected()


def test_messages_are_counted_each_way_and_metered() -> None:
    seen: list[tuple[str, object]] = []

    class Meter:
        def received(self, message: object) -> None:
            seen.append(("in", message))

        def sent(self, message: object) -> None:
            seen.append(("out", message))

    protocol = Protocol(max_queue=4, max_size=10)
    protocol.accept()
    protocol.meter = Meter()
    assert protocol.receive("hi", 1.0)
    assert not protocol.receive(b"x" * 11, 2.0)  # too big: refused, not counted
    protocol.sent("ho")
    assert (protocol.messages_received, protocol.messages_sent) == (1, 1)
    assert seen == [("in", "hi"), ("out", "ho")]
