#!/usr/bin/env python3
"""Echo benchmark: a raw ASGI app, sync and async Django views, on ASGI and WSGI servers.

One uvicorn process (``--ws websockets-sansio``, one worker, loopback, a free port) serves
three targets from ``benchproject.router``. ``--loop`` picks uvicorn's event loop and HTTP
parser: ``asyncio`` (the default: plain asyncio and h11) or ``uvloop`` (uvloop and
httptools, what ``pip install "uvicorn[standard]"`` brings; they live in ``.venv-peers``,
which ``python3 tasks.py bench --peers`` makes):

* ``raw``: a minimal ASGI echo without Django (the baseline);
* ``sync``: ``for m in request.websocket: request.websocket.send(m)``;
* ``async``: ``async for m in websocket: await websocket.send(m)``.

Two gunicorn processes (one worker each) serve the same views through
``benchproject.wsgi`` and the WSGI driver:

* ``sync-gthread`` and ``async-gthread``: the sync and async views on
  ``--worker-class gthread`` (a thread per socket, ``--threads`` 64);
* ``sync-gevent``: the sync view on ``--worker-class gevent`` (a greenlet per socket).

This process is the load client (the server is a subprocess): ``--connections``
picows connections each send a ``--size``-byte TEXT message, wait for its echo and send the
next, for ``--warmup`` + ``--duration`` seconds; only echoes that arrive in the
``--duration`` window count. Targets are interleaved (raw, sync, async, raw, ...) for
``--rounds`` rounds so that noise hits each alike; the report gives the median over rounds.

Run from the repository root::

    python3 tasks.py bench [--rounds 5 --duration 5 ...]
    .venv/bin/python benchmarks/echo.py [--rounds 5 --duration 5 ...]
    python3 tasks.py bench --loop uvloop   # runs it in .venv-peers

The targets are printed as MET / NOT MET; the exit status is 0 either way.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

BENCH_DIR = Path(__file__).resolve().parent
# target: (server, path); the servers are below
TARGETS = {
    "raw": ("uvicorn", "/raw"),
    "sync": ("uvicorn", "/sync"),
    "async": ("uvicorn", "/async"),
    "sync-gthread": ("gthread", "/sync"),
    "async-gthread": ("gthread", "/async"),
    "sync-gevent": ("gevent", "/sync"),
}
WORKERS = {  # gunicorn's --worker-class and what goes with it
    "gthread": ("gthread", "--threads", "64"),
    "gevent": ("gevent", "--worker-connections", "1000"),
}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# --loop: uvicorn's --loop and --http for each choice
LOOPS = {"asyncio": ("asyncio", "h11"), "uvloop": ("uvloop", "httptools")}

# (target, minimum ratio of its messages/s to raw's)
RATIO_GOALS = {"async": 0.95, "sync": 0.25, "sync-gthread": 0.8, "sync-gevent": 0.7}
ASYNC_P99_GOAL = 1.2  # the async view's p99 at most this times raw's


@dataclass
class RunResult:
    """What one run against one target measured."""

    messages: int
    seconds: float
    latencies_ns: list[int]
    client_cpu: float  # seconds of CPU this (client) process used in the window
    server_cpu: float  # seconds of CPU the server process used in the window
    errors: int

    @property
    def rate(self) -> float:
        """Round trips per second."""
        return self.messages / self.seconds

    @property
    def per_server_cpu_second(self) -> float:
        """Round trips per second of server CPU: less sensitive to a noisy machine."""
        return self.messages / self.server_cpu if self.server_cpu else 0.0

    def percentile_ms(self, fraction: float) -> float:
        """The latency below which ``fraction`` of the round trips fall, in ms."""
        ordered = sorted(self.latencies_ns)
        index = min(len(ordered) - 1, int(fraction * len(ordered)))
        return ordered[index] / 1e6


class _Load:
    """The state every connection of one run shares: the clock and the tallies."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self.sending = True  # cleared to stop: in-flight echoes still arrive
        self.recording = False  # True only inside the measured window
        self.latencies: list[int] = []
        self.errors = 0
        self.in_flight = 0
        self.idle = asyncio.Event()  # set once sending is off and nothing is in flight


class EchoClient(WSListener):
    """One connection: send, wait for the echo, record the round trip, send again."""

    def __init__(self, load: _Load) -> None:
        self.load = load
        self.transport: WSTransport | None = None
        self.sent_at = 0

    def start(self) -> None:
        """Send the first message; every echo then triggers the next."""
        self._send()

    def _send(self) -> None:
        assert self.transport is not None
        self.load.in_flight += 1
        self.sent_at = time.perf_counter_ns()
        self.transport.send(WSMsgType.TEXT, self.load.payload)

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        now = time.perf_counter_ns()
        load = self.load
        if frame.msg_type is not WSMsgType.TEXT:
            if frame.msg_type is WSMsgType.CLOSE:
                transport.disconnect()
            return
        load.in_flight -= 1
        if frame.payload_size != len(load.payload):
            load.errors += 1
        if load.recording:
            load.latencies.append(now - self.sent_at)
        if load.sending:
            self._send()
        elif load.in_flight == 0:
            load.idle.set()


def _server_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) the process ``pid`` has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


async def run_load(
    url: str,
    *,
    connections: int,
    size: int,
    warmup: float,
    duration: float,
    server_pid: int,
    cpu: Callable[[int], float] = _server_cpu,
) -> RunResult:
    """Drive ``connections`` echo loops against ``url`` and measure the window.

    ``cpu(server_pid)`` reads the server's CPU seconds (by default, that one process's).
    """
    load = _Load(b"x" * size)
    opened = await asyncio.gather(
        *(ws_connect(lambda: EchoClient(load), url) for _ in range(connections))
    )
    for _, client in opened:
        assert isinstance(client, EchoClient)
        client.start()
    await asyncio.sleep(warmup)

    cpu0, server0 = time.process_time(), cpu(server_pid)
    start = time.perf_counter()
    load.recording = True
    await asyncio.sleep(duration)
    load.recording = False
    seconds = time.perf_counter() - start
    cpu1, server1 = time.process_time(), cpu(server_pid)

    load.sending = False
    if load.in_flight:
        try:
            await asyncio.wait_for(load.idle.wait(), 5)
        except asyncio.TimeoutError:  # not the builtin TimeoutError before 3.11
            load.errors += load.in_flight
    for transport, _ in opened:
        transport.send_close(WSCloseCode.OK)
    await asyncio.wait_for(asyncio.gather(*(t.wait_disconnected() for t, _ in opened)), 10)
    return RunResult(
        messages=len(load.latencies),
        seconds=seconds,
        latencies_ns=load.latencies,
        client_cpu=cpu1 - cpu0,
        server_cpu=server1 - server0,
        errors=load.errors,
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def uvicorn_command(app: str, port: int, *, loop: str = "asyncio") -> list[str]:
    """The uvicorn command line of the benchmarks for ``app`` on ``port`` (see ``LOOPS``)."""
    loop_name, http = LOOPS[loop]
    return [
        sys.executable, "-m", "uvicorn", app,
        "--app-dir", str(BENCH_DIR), "--host", "127.0.0.1", "--port", str(port),
        "--ws", "websockets-sansio", "--loop", loop_name, "--http", http,
        "--log-level", "warning", "--workers", "1",
    ]  # fmt: skip


def loop_missing(loop: str) -> str | None:
    """Why ``--loop loop`` cannot run in this environment, or None when it can."""
    modules = [name for name in LOOPS[loop] if name not in ("asyncio", "h11")]
    absent = [name for name in modules if importlib.util.find_spec(name) is None]
    if not absent:
        return None
    return (
        f"--loop {loop} needs {' and '.join(absent)} (uvicorn[standard]): run it with "
        ".venv-peers/bin/python, which python3 tasks.py bench --peers makes"
    )


def wait_listening(server: subprocess.Popen[bytes], port: int, *, name: str = "uvicorn") -> str:
    """Wait until ``server`` accepts connections on ``port``.

    Returns "" once it does, or why not: it exited, or took more than 30 s (then it is
    killed).
    """
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            return f"{name} exited with status {server.returncode}"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return ""
        except OSError:
            time.sleep(0.1)
    server.kill()
    server.wait()
    return f"{name} did not start listening within 30 s"


def start_server(
    port: int,
    *,
    app: str = "benchproject.router:application",
    settings: str = "benchproject.settings",
    environ: dict[str, str] | None = None,
    cpus: set[int] | None = None,
    loop: str = "asyncio",
) -> subprocess.Popen[bytes]:
    """Start uvicorn serving ``app`` (``benchproject.router``) and wait until it listens.

    ``settings`` is the Django settings module; ``environ`` adds environment variables;
    ``cpus`` pins the server (all its threads) to those CPUs (Linux); ``loop`` is a key of
    ``LOOPS``.
    """
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": settings, **(environ or {})}
    pin = None if cpus is None else (lambda: os.sched_setaffinity(0, cpus))
    server = subprocess.Popen(uvicorn_command(app, port, loop=loop), env=env, preexec_fn=pin)
    if error := wait_listening(server, port):
        sys.exit(error)
    return server


def start_gunicorn(
    port: int, kind: str, *, cpus: set[int] | None = None
) -> subprocess.Popen[bytes]:
    """Start gunicorn (one ``kind`` worker, see ``WORKERS``) serving ``benchproject.wsgi``."""
    worker_class, *options = WORKERS[kind]
    command = [
        sys.executable, "-m", "gunicorn", "benchproject.wsgi:application",
        "--chdir", str(BENCH_DIR), "--bind", f"127.0.0.1:{port}", "--workers", "1",
        "--worker-class", worker_class, *options, "--log-level", "warning",
    ]  # fmt: skip
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "benchproject.settings"}
    pin = None if cpus is None else (lambda: os.sched_setaffinity(0, cpus))
    server = subprocess.Popen(command, env=env, preexec_fn=pin)
    if error := wait_listening(server, port, name=f"gunicorn {kind}"):
        sys.exit(error)
    return server


def stop_server(server: subprocess.Popen[bytes]) -> None:
    """Stop a server gracefully (SIGINT), killing it and its workers if it lingers.

    A worker left behind (gunicorn's, when the master is killed) would go on using a CPU
    through every later measurement.
    """
    family = tree_pids(server.pid)
    server.send_signal(signal.SIGINT)
    try:
        server.wait(10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
    for pid in family[1:]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def tree_pids(pid: int) -> list[int]:
    """``pid`` and every process descending from it (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # exited meanwhile
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def start_profiler(pid: int, output: Path, fmt: str, gil: bool) -> subprocess.Popen[bytes]:
    """Attach py-spy to the server for one run (``--profile``)."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    command = [py_spy, "record", "--pid", str(pid), "--output", str(output), "--format", fmt,
               "--rate", "250", "--nonblocking", "--threads"]  # fmt: skip
    if gil:
        command.append("--gil")
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _median(values: list[float]) -> float:
    return statistics.median(values)


def report(results: dict[str, list[RunResult]]) -> None:
    """Print the per-target medians, the ratios to raw and the targets."""
    rates = {name: _median([r.rate for r in runs]) for name, runs in results.items()}
    p50 = {name: _median([r.percentile_ms(0.50) for r in runs]) for name, runs in results.items()}
    p99 = {name: _median([r.percentile_ms(0.99) for r in runs]) for name, runs in results.items()}
    raw = rates.get("raw")
    print()
    print(f"median of {len(next(iter(results.values())))} rounds")
    header = f"{'target':<14}{'msg/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'x raw':>8}"
    print(header + f"{'server CPU':>12}{'msg/CPU-s':>11}{'client CPU':>12}{'errors':>8}")
    for name, runs in results.items():
        shown = f"{rates[name] / raw:.2f}" if raw else "-"
        server = _median([r.server_cpu / r.seconds for r in runs]) * 100
        client = _median([r.client_cpu / r.seconds for r in runs]) * 100
        efficiency = _median([r.per_server_cpu_second for r in runs])
        errors = sum(r.errors for r in runs)
        print(
            f"{name:<14}{rates[name]:>10.0f}{p50[name]:>9.2f}{p99[name]:>9.2f}{shown:>8}"
            f"{server:>11.0f}%{efficiency:>11.0f}{client:>11.0f}%{errors:>8}"
        )
    print()
    print("targets")
    for name, goal in RATIO_GOALS.items():
        if name in rates and raw:
            ratio = rates[name] / raw
            verdict = "MET" if ratio >= goal else "NOT MET"
            print(f"  {name} >= {goal:.2f} x raw: {ratio:.3f} x -> {verdict}")
    if "async" in p99 and "raw" in p99:
        ratio = p99["async"] / p99["raw"]
        verdict = "MET" if ratio <= ASYNC_P99_GOAL else "NOT MET"
        print(
            f"  async p99 <= {ASYNC_P99_GOAL:g} x raw's: {p99['async']:.2f} ms / "
            f"{p99['raw']:.2f} ms = {ratio:.2f} x -> {verdict}"
        )


def main(argv: list[str] | None = None) -> None:
    """Parse the flags, run the interleaved rounds and print the report."""
    import loads  # gunicorn's CPU is its worker's: the process tree's (loads imports us)

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds of all targets (5)")
    parser.add_argument("--duration", type=float, default=5.0, help="measured s per run (5)")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured s per run (1)")
    parser.add_argument("--connections", type=int, default=50, help="concurrent clients (50)")
    parser.add_argument("--size", type=int, default=32, help="message size in bytes (32)")
    parser.add_argument(
        "--targets",
        default=",".join(TARGETS),
        help=f"comma-separated subset of {','.join(TARGETS)} (all)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="record the server with py-spy (pip install py-spy) during each run into DIR",
    )
    parser.add_argument(
        "--profile-gil",
        action="store_true",
        help="sample only the thread holding the GIL (py-spy --gil)",
    )
    parser.add_argument(
        "--profile-format",
        default="flamegraph",
        choices=["flamegraph", "speedscope", "raw"],
        help="py-spy output format (flamegraph)",
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="pin the server to CPU 0 and this client to the others (Linux, 2+ CPUs)",
    )
    parser.add_argument(
        "--loop",
        choices=list(LOOPS),
        default="asyncio",
        help="uvicorn's loop: asyncio (plain asyncio + h11, the default) or uvloop "
        "(uvloop + httptools, as uvicorn[standard] installs)",
    )
    args = parser.parse_args(argv)
    if missing := loop_missing(args.loop):
        parser.error(missing)
    names = [name.strip() for name in args.targets.split(",") if name.strip()]
    unknown = set(names) - set(TARGETS)
    if unknown or not names:
        parser.error(f"unknown targets: {', '.join(sorted(unknown)) or '(none)'}")
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)

    ports = {kind: _free_port() for kind in {TARGETS[name][0] for name in names}}
    port = ports.get("uvicorn", 0)
    print(
        f"echo: {args.connections} connections, {args.size}-byte TEXT round trips, "
        f"{args.warmup:g} s warm-up + {args.duration:g} s measured per run, "
        f"{args.rounds} rounds of {', '.join(names)}; "
        f"uvicorn --ws websockets-sansio --loop {LOOPS[args.loop][0]} --http "
        f"{LOOPS[args.loop][1]} on 127.0.0.1:{port}; gunicorn (one worker) for the WSGI "
        f"targets; {os.cpu_count()} CPUs",
        flush=True,
    )
    server_cpus = None
    if args.pin:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            parser.error("--pin needs at least 2 CPUs")
        server_cpus = {cpus[0]}
        os.sched_setaffinity(0, cpus[1:])
        print(f"pinned: server on CPU {cpus[0]}, client on CPU {cpus[1:]}", flush=True)
    servers: dict[str, subprocess.Popen[bytes]] = {}
    results: dict[str, list[RunResult]] = {name: [] for name in names}
    try:
        for kind, kind_port in ports.items():
            if kind == "uvicorn":
                servers[kind] = start_server(kind_port, cpus=server_cpus, loop=args.loop)
            else:
                servers[kind] = start_gunicorn(kind_port, kind, cpus=server_cpus)
        for round_number in range(1, args.rounds + 1):
            for name in names:
                kind, path = TARGETS[name]
                server = servers[kind]
                profiler = None
                if args.profile:
                    suffix = {"flamegraph": "svg", "speedscope": "json", "raw": "txt"}
                    output = args.profile / f"{name}-{round_number}.{suffix[args.profile_format]}"
                    profiler = start_profiler(
                        server.pid, output, args.profile_format, args.profile_gil
                    )
                result = asyncio.run(
                    run_load(
                        f"ws://127.0.0.1:{ports[kind]}{path}",
                        connections=args.connections,
                        size=args.size,
                        warmup=args.warmup,
                        duration=args.duration,
                        server_pid=server.pid,
                        cpu=_server_cpu if kind == "uvicorn" else loads.tree_cpu,
                    )
                )
                if profiler is not None:
                    profiler.send_signal(signal.SIGINT)
                    profiler.wait(30)
                results[name].append(result)
                print(
                    f"round {round_number} {name:<14}{result.rate:>9.0f} msg/s"
                    f"  p50 {result.percentile_ms(0.5):6.2f} ms"
                    f"  p99 {result.percentile_ms(0.99):6.2f} ms"
                    f"  server CPU {result.server_cpu / result.seconds:4.0%}"
                    f"  client CPU {result.client_cpu / result.seconds:4.0%}",
                    flush=True,
                )
                time.sleep(0.5)  # let the server finish closing the connections
    finally:
        for server in servers.values():
            stop_server(server)
    report(results)


if __name__ == "__main__":
    main()
