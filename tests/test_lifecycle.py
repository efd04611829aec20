"""Errors, threads, bounds and database connections, against a real server."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from .conftest import Server, serve


@pytest.mark.parametrize("path", ["crash", "async_crash"])
def test_view_raising_closes_1011_logs_and_signals_and_others_carry_on(
    server: Server, path: str
) -> None:
    server.events()
    with connect(f"{server.ws}/async_echo/") as bystander:
        with connect(f"{server.ws}/{path}/") as ws:
            assert ws.recv(timeout=5) == "about to fail"
            with pytest.raises(ConnectionClosed):
                ws.recv(timeout=5)
        assert ws.close_code == 1011
        bystander.send("still here")
        assert bystander.recv(timeout=5) == "still here"
    assert server.wait_for_events(1) == [{"signal": "got_request_exception", "path": f"/{path}/"}]
    log = server.log()
    assert f"Internal Server Error: /{path}/" in log
    assert "boom in a" in log


def test_view_raising_before_accept_denies_with_500(server: Server) -> None:
    with pytest.raises(InvalidStatus) as caught:
        connect(f"{server.ws}/crash_before_accept/")
    assert caught.value.response.status_code == 500
    assert "boom before accept" in server.log()


def test_sync_views_each_run_on_their_own_thread(server: Server) -> None:
    # Two views blocked in wait() at once: on one shared thread the second would never run.
    with connect(f"{server.ws}/blocking/") as first, connect(f"{server.ws}/blocking/") as second:
        second.send("go")
        second_thread = json.loads(second.recv(timeout=5))["thread"]
        first.send("go")
        first_thread = json.loads(first.recv(timeout=5))["thread"]
    assert first_thread != second_thread


def test_many_sync_views_run_concurrently(server: Server) -> None:
    def open_and_report(_: int) -> int:
        with connect(f"{server.ws}/thread_id/") as ws:
            thread = json.loads(ws.recv(timeout=10))["thread"]
            time.sleep(0.5)  # hold the connection while the others open
            return thread

    with ThreadPoolExecutor(20) as pool:
        threads = list(pool.map(open_and_report, range(20)))
    assert len(set(threads)) == 20


def test_sync_views_past_the_bound_are_denied_with_503(tmp_path) -> None:
    with serve(tmp_path, TEST_WEBSOCKET_MAX_SYNC_VIEWS="2") as server:
        with connect(f"{server.ws}/hold/") as one, connect(f"{server.ws}/hold/") as two:
            assert one.recv(timeout=5) == two.recv(timeout=5) == "holding"
            with pytest.raises(InvalidStatus) as caught:
                connect(f"{server.ws}/hold/")
            assert caught.value.response.status_code == 503
            with connect(f"{server.ws}/async_echo/") as async_view:  # async views don't count
                async_view.send("ok")
                assert async_view.recv(timeout=5) == "ok"
        time.sleep(0.3)
        with connect(f"{server.ws}/hold/") as three:  # slots free again once views end
            assert three.recv(timeout=5) == "holding"


def test_unread_messages_are_bounded_by_max_queue(tmp_path) -> None:
    with serve(tmp_path, TEST_WEBSOCKET_MAX_QUEUE="4") as server:
        with connect(f"{server.ws}/slow_reader/", max_queue=None) as ws:
            assert ws.recv(timeout=5) == "ready"
            for n in range(50):
                ws.send(f"message {n}")
            report = json.loads(ws.recv(timeout=5))
            ws.close()
        assert report["count"] == 4
        [event] = server.wait_for_events(1)
        assert event == {"view": "slow_reader", "received": 50}


def test_long_lived_sync_view_drops_its_database_connection_between_messages(
    server: Server,
) -> None:
    with connect(f"{server.ws}/database/") as ws:
        time.sleep(0.1)
        ws.send("next")
        report = json.loads(ws.recv(timeout=5))
    # CONN_MAX_AGE = 0: the connection made for the first query is closed by wait(),
    # so the second query opens a new one.
    assert report["after"] == report["before"] + 1


def test_plain_http_still_goes_through_django(server: Server) -> None:
    assert server.get("/http_ok/")[:1] == (200,)
