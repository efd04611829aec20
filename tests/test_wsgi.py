"""What only the WSGI driver does, on gunicorn's gthread and gevent workers as real processes.

The behaviours every server shares (the seed's views, denials, close codes, sizes,
subprotocols...) run on these workers too, in test_servers.py.
"""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.sync.client import connect

from .conftest import ROOT, WSGI_SERVERS, Server, free_port, serve
from .test_groups import member, send_to, wait_for_size
from .test_groups_redis import RedisProcess, redis_env, redis_process  # noqa: F401
from .test_groups_slow import Reader, flood_until_slow_is_out, raw_member
from .test_servers import closed_with, closes_at_sigterm, ready


@contextlib.contextmanager
def worker(tmp_path: Path, kind: str, *args: str, **env: str) -> Iterator[Server]:
    """The test project on one gunicorn worker of ``kind`` (so groups meet in it)."""
    with serve(tmp_path, "--workers", "1", *args, kind=kind, **env) as server:
        yield ready(server)


def handshake(port: int, path: str, *, key: str | None = None) -> socket.socket:
    """Send a WebSocket handshake over a raw socket; return the socket."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = key if key is not None else base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    return sock


def read_all(sock: socket.socket) -> bytes:
    """Read until the server closes the connection."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


@pytest.fixture(params=WSGI_SERVERS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# --- Workers and servers that cannot serve WebSockets. ---------------------------------


def test_the_sync_worker_refuses_handshakes_with_503_and_one_log_line(tmp_path: Path) -> None:
    # (gunicorn turns a sync worker with --threads > 1 into gthread: one thread.)
    sync_worker = ("--worker-class", "sync", "--threads", "1", "--workers", "1")
    with serve(tmp_path, *sync_worker, kind="gthread") as server:
        ready(server)
        with pytest.raises(Exception) as caught:
            connect(f"{server.ws}/echo_once/", open_timeout=20)
        response = caught.value.response  # type: ignore[attr-defined]
        assert response.status_code == 503
        assert b"--worker-class gthread" in response.body
        assert server.get("/http_ok/")[0] == 200  # HTTP is served as usual
    assert server.log().count("WebSocket handshake refused with 503") == 1


def test_a_wsgi_server_that_does_not_hand_the_socket_over_answers_503(tmp_path: Path) -> None:
    # wsgiref, the standard library's WSGI server, has no gunicorn.socket.
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.project.settings",
        "TEST_DATABASE_NAME": str(tmp_path / "db.sqlite3"),
    }
    code = (
        "from wsgiref.simple_server import make_server;"
        "from tests.project.wsgi import application;"
        f"make_server('127.0.0.1', {port}, application).serve_forever()"
    )
    with open(tmp_path / "server.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", code], cwd=ROOT, env=env, stdout=log, stderr=log
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", port), 1).close()
                break
            assert time.monotonic() < deadline, (tmp_path / "server.log").read_text()
            time.sleep(0.1)
        sock = handshake(port, "/echo_once/")
        reply = read_all(sock)
        assert reply.startswith(b"HTTP/1.0 503") or reply.startswith(b"HTTP/1.1 503")
        assert b"does not hand the socket over" in reply
    finally:
        process.terminate()
        process.wait(10)
    assert "WebSocket handshake refused with 503" in (tmp_path / "server.log").read_text()


# --- The handshake and the end of the connection. --------------------------------------


def test_a_malformed_handshake_gets_400_and_no_error_is_logged(tmp_path: Path, kind: str) -> None:
    with worker(tmp_path, kind) as server:
        sock = handshake(server.port, "/echo_once/", key="not-base64!")
        reply = read_all(sock)
        assert reply.startswith(b"HTTP/1.1 400")
        assert b"Sec-WebSocket-Key" in reply
    assert "Traceback" not in server.log()
    assert "ERROR" not in server.log()


def test_after_the_close_the_worker_writes_nothing_more(tmp_path: Path, kind: str) -> None:
    with worker(tmp_path, kind) as server:
        sock = handshake(server.port, "/returns/")  # sends "bye", returns: close 1000
        close = b"\x88\x02\x03\xe8"
        data = b""
        while close not in data:
            data += sock.recv(65536)
        sock.sendall(b"\x88\x82\x00\x00\x00\x00\x03\xe8")  # the client's close (masked)
        data += read_all(sock)
        response, _, frames = data.partition(b"\r\n\r\n")
        assert response.startswith(b"HTTP/1.1 101")
        # Exactly the text frame "bye" and the close frame, nothing after them (no HTTP
        # response from the worker): then the server closed the TCP connection.
        assert frames == b"\x81\x03bye" + close
        # The worker goes on serving.
        with connect(f"{server.ws}/echo_once/") as ws:
            ws.send("still here")
            assert ws.recv(timeout=10) == "still here"


def test_a_crashing_view_closes_with_1011_and_logs(tmp_path: Path, kind: str) -> None:
    with worker(tmp_path, kind) as server:
        with connect(f"{server.ws}/crash/") as ws:
            assert ws.recv(timeout=10) == "about to fail"
            assert closed_with(ws)[0] == 1011
        with connect(f"{server.ws}/echo_once/") as bystander:
            bystander.send("fine")
            assert bystander.recv(timeout=10) == "fine"
    assert "boom in a websocket view" in server.log()


# --- Keepalive. ---------------------------------------------------------------------------


def test_keepalive_pings_close_a_client_that_does_not_answer(tmp_path: Path, kind: str) -> None:
    timing = {"TEST_WEBSOCKET_PING_INTERVAL": "0.3", "TEST_WEBSOCKET_PING_TIMEOUT": "0.3"}
    # A client that answers pings (the websockets client does) stays open...
    with (
        worker(tmp_path, kind, **timing) as server,
        connect(f"{server.ws}/hold/", ping_interval=None) as answering,
    ):
        assert answering.recv(timeout=10) == "holding"
        # ...while a raw socket that never reads, so never answers, is closed.
        silent = handshake(server.port, "/hold/")
        started = time.monotonic()
        data = read_all(silent)
        assert time.monotonic() - started < 10
        assert b"\x89\x04" in data  # it got a ping
        assert b"\x88" in data and b"keepalive ping timeout" in data  # then 1011
        time.sleep(1.0)  # the server's pings came and went, answered
        assert answering.ping().wait(5)  # still open both ways


# --- Threads and greenlets. -----------------------------------------------------------------


def test_every_gthread_thread_busy_makes_the_next_handshake_wait(tmp_path: Path) -> None:
    with (
        worker(tmp_path, "gthread", "--threads", "2") as server,
        connect(f"{server.ws}/hold/") as one,
        connect(f"{server.ws}/hold/") as two,
    ):
        assert one.recv(timeout=10) == two.recv(timeout=10) == "holding"
        waiting = threading.Thread(target=lambda: results.append(_echo(server)))
        results: list[str] = []
        waiting.start()
        time.sleep(1.0)
        assert results == []  # no thread is free: the handshake waits, unanswered
        one.close()
        waiting.join(20)
        assert results == ["after a thread came free"]


def _echo(server: Server) -> str:
    with connect(f"{server.ws}/echo_once/", open_timeout=30) as ws:
        ws.send("after a thread came free")
        return str(ws.recv(timeout=10))


def test_many_sockets_on_one_gevent_worker(tmp_path: Path) -> None:
    with worker(tmp_path, "gevent") as server, contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(connect(f"{server.ws}/hold/")) for _ in range(300)]
        for ws in sockets:
            assert ws.recv(timeout=10) == "holding"
        with connect(f"{server.ws}/echo_once/") as ws:
            ws.send("one more")
            assert ws.recv(timeout=10) == "one more"


def _worker_fds(server: Server) -> int:
    master = server.process.pid
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    assert len(children) == 1
    return len(os.listdir(f"/proc/{children[0]}/fd"))


def test_a_socket_holds_one_descriptor_in_the_worker(tmp_path: Path, kind: str) -> None:
    # Writes that must not wait (group messages, pings) and, under gevent, every send
    # go through a non-blocking socket object: never a second descriptor per socket.
    with (
        worker(tmp_path, kind) as server,
        member(server, "fds") as joined,  # starts the groups' loop (its descriptors)
        contextlib.ExitStack() as stack,
    ):
        assert wait_for_size(server, "fds", 1) == 1
        before = _worker_fds(server)
        sockets = [stack.enter_context(member(server, "fds")) for _ in range(20)]
        assert wait_for_size(server, "fds", 21) == 21
        assert send_to(server, "fds", "hi") == (200, {"count": 21})
        for ws in [joined, *sockets]:
            assert ws.recv(timeout=10) == "hi"
        added = _worker_fds(server) - before
        # 20 members: a socket and a wake-up descriptor each (40, give or take the
        # HTTP connections of the calls above); a duplicate per socket would make 60.
        assert 35 <= added <= 45


# --- Groups. ---------------------------------------------------------------------------------


def test_groups_in_one_worker_reach_their_members(tmp_path: Path, kind: str) -> None:
    # Sync and async members on gthread; on gevent two sync ones (no async views there).
    other = "async_group_member" if kind == "gthread" else "group_member"
    with (
        worker(tmp_path, kind) as server,
        member(server, "news") as sync_member,
        member(server, "news", view=other) as async_member,
        member(server, "elsewhere") as outsider,
    ):
        assert wait_for_size(server, "news", 2) == 2
        assert send_to(server, "news", "hello") == (200, {"count": 2})
        assert sync_member.recv(timeout=10) == "hello"
        assert async_member.recv(timeout=10) == "hello"
        sync_member.send("say:news:from a member")  # a broadcast from a socket's thread
        assert async_member.recv(timeout=10) == "from a member"
        assert sync_member.recv(timeout=10) == "said:1"
        outsider.send("say:nobody-here:x")
        assert outsider.recv(timeout=10) == "said:0"
        sync_member.close()
        async_member.close()
        assert wait_for_size(server, "news", 0) == 0  # closed sockets left the group


def test_a_member_that_stops_reading_never_slows_the_others(tmp_path: Path, kind: str) -> None:
    env = {"TEST_WEBSOCKET_GROUP_BUFFER": "64", "TEST_WEBSOCKET_SLOW_CLIENT": "drop"}
    with worker(tmp_path, kind, **env) as server:
        slow = raw_member(server, "flood")
        try:
            with member(server, "flood") as fast:
                assert wait_for_size(server, "flood", 2) == 2
                reader = Reader(fast)
                reader.start()
                sent, counts = flood_until_slow_is_out(server, "flood")
                assert counts[0] == 2 and counts[-1] == 1  # the slow one's outbox filled
                assert reader.wait_for(sent) == list(range(sent))  # fast: all, in order
        finally:
            slow.close()


def test_groups_through_redis_between_a_wsgi_and_an_asgi_process(
    tmp_path: Path,
    kind: str,
    redis_process: RedisProcess,  # noqa: F811
) -> None:
    env = redis_env(redis_process)
    (tmp_path / "wsgi").mkdir()
    (tmp_path / "asgi").mkdir()
    with (
        worker(tmp_path / "wsgi", kind, **env) as wsgi,
        serve(tmp_path / "asgi", **env) as asgi,
        member(wsgi, "room") as on_wsgi,
        member(asgi, "room", view="async_group_member") as on_asgi,
    ):
        assert send_to(wsgi, "room", "from wsgi") == (200, {"count": 1})
        assert (on_wsgi.recv(timeout=10), on_asgi.recv(timeout=10)) == ("from wsgi",) * 2
        assert send_to(asgi, "room", "from asgi") == (200, {"count": 1})
        assert (on_wsgi.recv(timeout=10), on_asgi.recv(timeout=10)) == ("from asgi",) * 2


# --- Graceful stop. ------------------------------------------------------------------------


def test_a_graceful_stop_closes_every_socket_with_1001_and_the_worker_exits(
    tmp_path: Path, kind: str
) -> None:
    with serve(tmp_path, "--graceful-timeout", "20", kind=kind) as server:
        echo = "/async_echo/" if kind == "gthread" else "/lower_case/"
        closes = closes_at_sigterm(ready(server), echo)
        signalled = time.monotonic()
        assert closes == [(1001, "server shutting down")] * 6
        server.process.wait(30)
        assert time.monotonic() - signalled < 15  # the views ended: no graceful timeout
    assert "graceful timeout" not in server.log()
    assert "Traceback" not in server.log()


def test_a_client_that_ignores_the_close_is_dropped_at_a_graceful_stop(
    tmp_path: Path, kind: str
) -> None:
    with serve(tmp_path, "--graceful-timeout", "30", kind=kind) as server:
        ready(server)
        silent = handshake(server.port, "/hold/")  # never reads, never answers the close
        time.sleep(0.5)
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(30)
        assert time.monotonic() - started < 20  # dropped after the close timeout (10 s)
        silent.close()


def test_max_requests_restarts_the_worker_with_1001_for_its_sockets(tmp_path: Path) -> None:
    args = ("--max-requests", "3", "--workers", "1")
    with serve(tmp_path, *args, kind="gthread") as server:
        ready(server)  # the first request
        with connect(f"{server.ws}/hold/") as ws:
            assert ws.recv(timeout=10) == "holding"
            server.get("/http_ok/")  # the third request: the worker restarts after it
            assert closed_with(ws) == (1001, "server shutting down")
        assert ready(server).get("/http_ok/")[0] == 200  # a new worker serves
