"""websocket_connected / websocket_disconnected and the connection log, on real servers.

The test project, served with receivers (a sync one, an async one, and one that raises)
that write one JSON line per signal to a file, on uvicorn (the asyncio driver) and on
gunicorn's gthread worker (the blocking socket driver). Each test ends connections one
way and checks that each receiver heard each signal exactly once, with the right facts.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.utils.functional import SimpleLazyObject
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from django_websocket.lifecycle import Lifecycle
from django_websocket.protocol import Protocol

from .conftest import Server, serve
from .test_groups import send_to
from .test_groups_slow import SIZE, raw_member

KINDS = ["uvicorn", "gthread", "gevent"]
ASYNC_KINDS = ["uvicorn", "gthread"]  # gevent refuses async views (503)


def each_kind(sync_path: str, async_path: str) -> pytest.MarkDecorator:
    """Parametrize a test with the server fixture and a view: sync ones everywhere."""
    cases = [(kind, sync_path) for kind in KINDS] + [(kind, async_path) for kind in ASYNC_KINDS]
    return pytest.mark.parametrize(("served", "path"), cases, indirect=["served"])


EXPECTED = [
    ("async", "connected"),
    ("async", "disconnected"),
    ("sync", "connected"),
    ("sync", "disconnected"),
]


class Signals:
    """The lines the server's receivers wrote."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def clear(self) -> None:
        self.path.write_text("")

    def lines(self) -> list[dict]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines()]

    def wait(self, count: int, timeout: float = 30.0) -> list[dict]:
        """The lines once ``count`` are there (or what there is after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while len(lines := self.lines()) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return lines

    def ended(self, path: str, connections: int = 1) -> list[dict]:
        """Check each connection to ``path`` was announced once each way; its ends."""
        lines = [line for line in self.wait(4 * connections) if line["path"] == path]
        got = sorted((line["receiver"], line["signal"]) for line in lines)
        assert got == sorted(EXPECTED * connections), lines
        ends = [line for line in lines if line["signal"] == "disconnected"]
        for end in ends:
            assert end["duration_ok"]
            assert end["websocket"] in ("WebSocket", "AsyncWebSocket")
        return [end for end in ends if end["receiver"] == "sync"]


@contextlib.contextmanager
def signalled_server(tmp_path: Path, kind: str, **env: str) -> Iterator[tuple[Server, Signals]]:
    """Serve the test project with the receivers on; one gunicorn worker (one process)."""
    signals = Signals(tmp_path / "signals.jsonl")
    with serve(
        tmp_path,
        *([] if kind == "uvicorn" else ["--workers", "1"]),
        kind=kind,
        TEST_WEBSOCKET_SIGNALS_FILE=str(signals.path),
        **env,
    ) as server:
        yield server, signals


@pytest.fixture(scope="module", params=KINDS)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, Signals]]:
    kind = str(request.param)
    folder = tmp_path_factory.mktemp(kind)
    with signalled_server(folder, kind, TEST_WEBSOCKET_MAX_MESSAGE_SIZE="1000") as running:
        yield running


@pytest.fixture
def signals(served: tuple[Server, Signals]) -> Signals:
    served[1].clear()
    return served[1]


@pytest.fixture
def server(served: tuple[Server, Signals]) -> Server:
    return served[0]


def log_line(server: Server, path: str) -> str:
    """The last connection log line for ``path``."""
    deadline = time.monotonic() + 10
    while not (found := re.findall(rf"WebSocket {re.escape(path)} closed .*", server.log())):
        assert time.monotonic() < deadline, f"no connection log line for {path}:\n{server.log()}"
        time.sleep(0.05)
    return found[-1]


@each_kind("/lower_case/", "/async_echo/")
def test_client_close_is_signalled_once_each_way_with_counts_and_logged(
    server: Server, signals: Signals, path: str
) -> None:
    with connect(server.ws + path) as ws:
        for text in ("A", "B", "C"):
            ws.send(text)
            ws.recv(timeout=5)
        # Connected is sent while the socket is open, to every receiver.
        connected = signals.wait(2)
        assert sorted(line["receiver"] for line in connected) == ["async", "sync"]
        assert {line["signal"] for line in connected} == {"connected"}
    (end,) = signals.ended(path)
    assert (end["code"], end["reason"]) == (1000, "")
    assert (end["messages_received"], end["messages_sent"]) == (3, 3)
    assert end["websocket"] == ("AsyncWebSocket" if "async" in path else "WebSocket")
    assert re.fullmatch(
        rf"WebSocket {path} closed 1000 after \d+\.\d{{3}}s: 3 received, 3 sent",
        log_line(server, path),
    )
    # The receiver that raises was logged by Django, and the socket worked regardless.
    assert "a receiver that raises" in server.log()


def test_view_return_is_signalled_with_1000(server: Server, signals: Signals) -> None:
    with connect(f"{server.ws}/echo_once/") as ws:
        ws.send("once")
        assert ws.recv(timeout=5) == "once"
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
    (end,) = signals.ended("/echo_once/")
    assert (end["code"], end["messages_received"], end["messages_sent"]) == (1000, 1, 1)


def test_untouched_view_is_accepted_and_signalled(server: Server, signals: Signals) -> None:
    with connect(f"{server.ws}/returns_untouched/") as ws, pytest.raises(ConnectionClosed):
        ws.recv(timeout=5)
    (end,) = signals.ended("/returns_untouched/")
    assert (end["code"], end["messages_received"], end["messages_sent"]) == (1000, 0, 0)


@each_kind("/crash/", "/async_crash/")
def test_crash_is_signalled_with_1011(server: Server, signals: Signals, path: str) -> None:
    with connect(server.ws + path) as ws:
        assert ws.recv(timeout=5) == "about to fail"
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
    (end,) = signals.ended(path)
    assert (end["code"], end["messages_sent"]) == (1011, 1)
    assert re.search(r"closed 1011 after", log_line(server, path))


def test_too_big_is_signalled_with_1009(server: Server, signals: Signals) -> None:
    with connect(f"{server.ws}/size_report/", max_size=None) as ws:
        ws.send("x" * 10)
        assert ws.recv(timeout=5) == "10"
        ws.send("x" * 2000)
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
    (end,) = signals.ended("/size_report/")
    assert (end["code"], end["messages_received"], end["messages_sent"]) == (1009, 1, 1)


def test_idle_timeout_is_signalled(server: Server, signals: Signals) -> None:
    with connect(f"{server.ws}/idle/") as ws:
        ws.send("hi")
        assert ws.recv(timeout=5) == "hi"
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)
    (end,) = signals.ended("/idle/")
    assert (end["code"], end["reason"]) == (1000, "idle timeout")


def test_denied_handshake_sends_no_signal(server: Server, signals: Signals) -> None:
    for path in ("/deny/", "/async_deny/", "/unmarked/"):
        with pytest.raises(InvalidStatus):
            connect(server.ws + path)
    with connect(f"{server.ws}/echo_once/") as ws:  # a marker after the denials
        ws.send("x")
        ws.recv(timeout=5)
    signals.ended("/echo_once/")
    assert {line["path"] for line in signals.lines()} == {"/echo_once/"}


def test_logged_in_user_is_in_the_log_line(server: Server, signals: Signals) -> None:
    cookie = server.login()
    with connect(f"{server.ws}/whoami/", additional_headers={"Cookie": cookie}) as ws:
        ws.recv(timeout=5)
    signals.ended("/whoami/")
    assert re.search(r", user \d+$", log_line(server, "/whoami/"))


@pytest.mark.parametrize("kind", KINDS)
def test_server_shutdown_is_signalled_with_1001(tmp_path: Path, kind: str) -> None:
    # The clients outlive the server: entered first, left last.
    with (
        contextlib.ExitStack() as clients,
        signalled_server(tmp_path, kind) as (server, signals),
    ):
        paths = ["/lower_case/", "/async_echo/" if kind in ASYNC_KINDS else "/record_on_close/"]
        sockets = [clients.enter_context(connect(server.ws + path)) for path in paths]
        for ws in sockets:
            ws.send("up")
            ws.recv(timeout=5)
        assert len(signals.wait(4)) == 4
    # The server stopped (SIGTERM): each socket closed with 1001 and was announced.
    for path in paths:
        (end,) = signals.ended(path)
        assert end["code"] == 1001, end
    assert [ws.close_code for ws in sockets] == [1001, 1001]
    assert "closed 1001 after" in server.log()


@pytest.mark.parametrize("kind", KINDS)
def test_slow_client_close_is_signalled_with_1013(tmp_path: Path, kind: str) -> None:
    env = {"TEST_WEBSOCKET_GROUP_BUFFER": "4", "TEST_WEBSOCKET_SLOW_CLIENT": "close"}
    with signalled_server(tmp_path, kind, **env) as (server, signals):
        slow = raw_member(server, "flood")
        try:
            joined = b""
            while b"joined" not in joined:  # the 101 and the view's "joined"; then no reads
                joined += slow.recv(4096)
            for number in range(1000):  # until its buffers and outbox are full
                if send_to(server, "flood", str(number), size=str(SIZE))[1]["count"] == 0:
                    break
        finally:
            slow.close()
        (end,) = signals.ended("/group_member/")
    assert end["code"] == 1013, end


# --- The user in the log line, without a query nobody reads ------------------------------


def _ended(**request: Any) -> tuple[Lifecycle, list[int]]:
    """A Lifecycle for an accepted, closed connection whose user loads lazily (counted)."""
    loads: list[int] = []

    def load() -> Any:
        loads.append(1)
        return SimpleNamespace(is_authenticated=True, pk=7)

    protocol = Protocol(max_queue=1, max_size=10)
    protocol.accept(now=0.0)
    protocol.close(1000, "")
    fake = SimpleNamespace(
        path="/p/", websocket=None, resolver_match=None,
        websocket_session=SimpleNamespace(protocol=protocol), user=SimpleLazyObject(load),
        **request,
    )  # fmt: skip
    return Lifecycle(fake, sender=object, is_async=True), loads  # type: ignore[arg-type]


@pytest.mark.parametrize("is_async", [True, False])
async def test_the_user_is_not_loaded_when_the_log_line_is_off(
    caplog: pytest.LogCaptureFixture, is_async: bool
) -> None:
    lifecycle, loads = _ended()
    with caplog.at_level("WARNING", logger="django_websocket"):
        await lifecycle.adisconnected() if is_async else lifecycle.disconnected()
    assert loads == []


async def test_the_log_line_loads_the_user_once(caplog: pytest.LogCaptureFixture) -> None:
    lifecycle, loads = _ended()
    with caplog.at_level("INFO", logger="django_websocket"):
        await lifecycle.adisconnected()
    assert loads == [1]
    assert caplog.messages[-1].endswith(", user 7")


async def test_the_user_auser_loaded_is_used_as_it_is(caplog: pytest.LogCaptureFixture) -> None:
    # login_required on an async view loads the user through request.auser(): no new query.
    lifecycle, loads = _ended(_acached_user=SimpleNamespace(is_authenticated=True, pk=9))
    with caplog.at_level("INFO", logger="django_websocket"):
        await lifecycle.adisconnected()
    assert loads == []
    assert caplog.messages[-1].endswith(", user 9")
