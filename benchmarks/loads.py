"""The load clients ``peers.py`` adds to ``echo.py``'s and ``broadcast.py``'s.

* ``run_handshakes``: ``concurrency`` loops, each opening a connection (with the session
  cookie), sending one message, waiting for its echo and closing, again and again; the
  cycles that finish inside the measured window count.
* ``open_idle`` / ``close_idle``: many connections that only sit there.
* ``tree_rss`` / ``tree_cpu``: a server's resident memory and CPU time, summed over the
  server process and its children (gunicorn's worker, for one).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from echo import _server_cpu, tree_pids
from picows import WSCloseCode, WSError, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

__all__ = [
    "HandshakeResult",
    "close_idle",
    "echo_once",
    "load_average",
    "open_idle",
    "run_handshakes",
    "tree_cpu",
    "tree_pids",
    "tree_rss",
]


def tree_rss(pid: int) -> int:
    """Resident memory, in bytes, of ``pid`` and its descendants."""
    total = 0
    for member in tree_pids(pid):
        try:
            status = Path(f"/proc/{member}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by ``pid`` and its descendants."""
    total = 0.0
    for member in tree_pids(pid):
        try:
            total += _server_cpu(member)
        except OSError:
            continue
    return total


async def until_quiet(
    pid: int, *, share: float = 0.05, every: float = 0.5, limit: float = 60
) -> float:
    """Wait until ``pid``'s process tree uses under ``share`` of a CPU over ``every`` s.

    Returns the seconds waited (at most ``limit``). A server that just dropped thousands
    of sockets is still tearing them down: what is measured next would pay for that.
    """
    start = time.monotonic()
    before = tree_cpu(pid)
    while time.monotonic() - start < limit:
        await asyncio.sleep(every)
        now = tree_cpu(pid)
        if now - before < share * every:
            break
        before = now
    return time.monotonic() - start


# Handshakes.


@dataclass
class HandshakeResult:
    """What one handshake run measured."""

    cycles: int
    seconds: float
    latencies_ns: list[int]
    errors: int
    server_cpu: float

    @property
    def rate(self) -> float:
        """Cycles (open, one echo, close) per second."""
        return self.cycles / self.seconds

    def percentile_ms(self, fraction: float) -> float:
        """The cycle time below which ``fraction`` of the cycles fall, in ms."""
        if not self.latencies_ns:
            return float("nan")
        ordered = sorted(self.latencies_ns)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] / 1e6


class _Once(WSListener):
    """Send one message on connect; resolve ``answered`` with whether its echo came back."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self.answered: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    def on_ws_connected(self, transport: WSTransport) -> None:
        transport.send(WSMsgType.TEXT, self.payload)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is WSMsgType.TEXT and not self.answered.done():
            self.answered.set_result(frame.get_payload_as_bytes() == self.payload)
        elif frame.msg_type is WSMsgType.CLOSE:
            if not self.answered.done():
                self.answered.set_result(False)  # refused after the handshake (e.g. 4401)
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if not self.answered.done():
            self.answered.set_result(False)


async def echo_once(url: str, payload: bytes, headers: Mapping[str, str]) -> bool:
    """Open, send one message, wait for its echo, close; whether it all went well."""
    try:
        transport, listener = await ws_connect(
            lambda: _Once(payload), url, extra_headers=headers, max_redirects=0
        )
    except (OSError, WSError, asyncio.TimeoutError):
        return False
    assert isinstance(listener, _Once)
    try:
        ok = await asyncio.wait_for(listener.answered, 10)
        transport.send_close(WSCloseCode.OK)
        await asyncio.wait_for(transport.wait_disconnected(), 10)
    except asyncio.TimeoutError:  # not the builtin TimeoutError before 3.11
        transport.disconnect()
        return False
    return ok


async def run_handshakes(
    url: str,
    *,
    concurrency: int,
    size: int,
    warmup: float,
    duration: float,
    server_pid: int,
    headers: Mapping[str, str],
) -> HandshakeResult:
    """Run ``concurrency`` open/echo/close loops against ``url``; measure the window."""
    payload = b"x" * size
    state = {"recording": False, "sending": True}
    latencies: list[int] = []
    errors = [0]

    async def loop() -> None:
        while state["sending"]:
            started = time.perf_counter_ns()
            ok = await echo_once(url, payload, headers)
            if state["recording"]:
                if ok:
                    latencies.append(time.perf_counter_ns() - started)
                else:
                    errors[0] += 1
            if not ok:
                await asyncio.sleep(0.05)  # a refusing server is not hammered

    loops = [asyncio.ensure_future(loop()) for _ in range(concurrency)]
    await asyncio.sleep(warmup)
    cpu0 = tree_cpu(server_pid)
    start = time.perf_counter()
    state["recording"] = True
    await asyncio.sleep(duration)
    state["recording"] = False
    seconds = time.perf_counter() - start
    cpu1 = tree_cpu(server_pid)
    state["sending"] = False
    await asyncio.wait_for(asyncio.gather(*loops), 30)
    return HandshakeResult(len(latencies), seconds, latencies, errors[0], cpu1 - cpu0)


# Idle sockets.


class _Idle(WSListener):
    """A connection that only counts whether the server dropped it."""

    def __init__(self, lost: list[int]) -> None:
        self.lost = lost
        self.closing = False

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is WSMsgType.CLOSE:
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if not self.closing:
            self.lost[0] += 1


async def open_idle(
    url: str, count: int, *, batch: int = 100
) -> tuple[list[tuple[WSTransport, _Idle]], list[int]]:
    """Open ``count`` connections to ``url``, ``batch`` handshakes at a time.

    Returns the connections and a one-element list counting those the server has
    dropped since (read it after a pause to know whether all are still open).
    """
    lost = [0]
    opened: list[tuple[WSTransport, _Idle]] = []
    for start in range(0, count, batch):
        pairs = await asyncio.gather(
            *(ws_connect(lambda: _Idle(lost), url) for _ in range(min(batch, count - start)))
        )
        for transport, listener in pairs:
            if not isinstance(listener, _Idle):  # refused: count it, keep the others
                lost[0] += 1
                continue
            opened.append((transport, listener))
    return opened, lost


async def close_idle(opened: list[tuple[WSTransport, _Idle]]) -> None:
    """Close every connection of ``open_idle`` and wait until they are gone."""
    for transport, listener in opened:
        listener.closing = True
        transport.send_close(WSCloseCode.OK)
    pending = [transport.wait_disconnected() for transport, _ in opened]
    try:
        await asyncio.wait_for(asyncio.gather(*pending), 60)
    except asyncio.TimeoutError:
        for transport, _ in opened:
            transport.disconnect()


def load_average() -> str:
    """The 1-minute load average."""
    return Path("/proc/loadavg").read_text().split()[0]
