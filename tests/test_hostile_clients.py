"""Clients that never read, floods of handshakes, and random handshakes: nothing unbounded."""

from __future__ import annotations

import contextlib
import json
import string
import time

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from .conftest import Server, serve
from .hostile import open_fds, raw_handshake, rss_bytes, threads

MIB = 1024 * 1024


def test_a_client_that_never_reads_stops_the_sending_view(server: Server) -> None:
    pid = server.process.pid
    rss_before = rss_bytes(pid)
    sock = raw_handshake(server.port, "/firehose/")  # read the 101, then nothing more
    try:
        time.sleep(2)
        sent_early = json.loads(server.get("/firehose_count/")[2])["sent"]
        time.sleep(1.5)
        sent_late = json.loads(server.get("/firehose_count/")[2])["sent"]
        grown = rss_bytes(pid) - rss_before
    finally:
        sock.close()
    # send() waits for the server to take each frame: once the socket buffers are
    # full the view blocks, so nothing piles up in the process.
    assert sent_early == sent_late
    assert sent_late * 65536 < 64 * MIB
    assert grown < 64 * MIB


def test_a_flood_of_handshakes_leaves_threads_and_fds_bounded(tmp_path) -> None:
    with serve(tmp_path, TEST_WEBSOCKET_MAX_SYNC_VIEWS="20") as server:
        pid = server.process.pid
        base_threads, base_fds = threads(pid), open_fds(pid)
        held, refused = 0, 0
        with contextlib.ExitStack() as stack:
            for _ in range(80):
                try:
                    stack.enter_context(connect(f"{server.ws}/hold/", open_timeout=10))
                    held += 1
                except InvalidStatus as error:
                    assert error.response.status_code == 503
                    refused += 1
            peak_threads = threads(pid)
        assert (held, refused) == (20, 60)
        assert peak_threads <= base_threads + 20 + 5  # one thread per running sync view
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (
            threads(pid) > base_threads + 2 or open_fds(pid) > base_fds + 2
        ):
            time.sleep(0.1)
        assert threads(pid) <= base_threads + 2
        assert open_fds(pid) <= base_fds + 2


_token = st.text(string.ascii_letters + string.digits + "-_.~", min_size=0, max_size=20)
# Header values within HTTP's field-value characters: a control byte such as DEL is the
# server's parser's business (uvicorn's websockets-sansio never answers one, raw app or not).
_header_value = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60)


@settings(
    max_examples=100,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # shrinking over a network is slow
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    path=st.sampled_from(["/echo_once/", "/async_echo/", "/whoami/", "/deny/", "/nope/", "/"])
    | _token.map(lambda t: "/" + t),
    query=_token,
    headers=st.lists(st.tuples(_token.filter(bool), _header_value), max_size=4),
    protocol=_header_value,
    origin=_header_value,
)
def test_random_handshakes_never_cause_a_500_or_an_unhandled_error(
    server: Server, path: str, query: str, headers: list, protocol: str, origin: str
) -> None:
    extra = "".join(f"X-{name}: {value}\r\n" for name, value in headers)
    extra += f"Sec-WebSocket-Protocol: {protocol}\r\nOrigin: {origin}\r\n"
    log_before = len(server.log())
    with raw_handshake(server.port, f"{path}?{query}", extra, read=False) as sock:
        status_line = sock.recv(4096).split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 ")
    assert not status_line.startswith(b"HTTP/1.1 5"), status_line
    new_log = server.log()[log_before:]
    assert "Traceback" not in new_log
    assert "Exception in ASGI application" not in new_log
