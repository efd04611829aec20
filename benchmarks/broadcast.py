#!/usr/bin/env python3
"""Broadcast benchmark: one message to 1,000 group members, repeated (issue 4).

``--clients`` picows connections (in this process) open ``/group/member``, a view that
joins group ``bench``, sends ``joined`` and idles. A publisher connection sends each
broadcast to ``/group/publish``, a view that calls ``abroadcast("bench", message)`` for
every message it receives, so the broadcast starts inside the server process. Every
message carries its send time (``time.monotonic_ns()``, system-wide on Linux); each
client records the fan-out latency of every delivery and which broadcasts it got, so
missing and duplicate deliveries are counted exactly.

Targets (``--targets``):

* ``raw``: the baseline, ``benchproject.raw``'s fan-out (no Django: every ``/raw/member``
  socket is a member, each message to ``/raw/publish`` is sent to every member in turn),
  on the ``memory`` server;
* ``memory``: ``MemoryBackend``, one uvicorn process;
* ``redis``: ``RedisBackend``, two uvicorn processes with half the clients each; the
  publisher talks to the first, which publishes to Redis and delivers locally;
* ``channels-memory`` and ``channels-redis`` (``RedisPubSubChannelLayer``): the same
  shape with plain ``AsyncWebsocketConsumer`` code and ``group_send`` on the same
  servers, where Channels and channels_redis are installed (they are not dependencies);
  ``channels-redis-core`` (``RedisChannelLayer``) only when asked for with ``--targets``:
  its consumers exhaust its Redis connection pool when they leave (the servers log
  ``MaxConnectionsError`` tracebacks).

Each run does two phases on one set of connections: ``closed`` sends the next broadcast
when every client got the previous one (clean latency), ``window`` keeps ``--window``
broadcasts in flight (throughput). Targets are interleaved for ``--rounds`` rounds; the
report gives medians. The targets are ratios of ``window``-phase deliveries/s measured in
the same run (ours >= 0.9 x raw, >= 10 x the matching Channels layer), printed as MET /
NOT MET; the exit status is 0 either way.

Run from the repository root::

    .venv/bin/python benchmarks/broadcast.py [--rounds 3 --broadcasts 200 ...]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import signal
import statistics
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from echo import _free_port, _server_cpu, start_profiler, start_server, stop_server
from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect


@dataclass(frozen=True)
class Target:
    """Where one target's members and publisher connect."""

    servers: str  # "memory" (one process) or "redis" (two)
    member: str
    publish: str
    channels: bool = False


TARGETS = {
    "raw": Target("memory", "/raw/member", "/raw/publish"),
    "memory": Target("memory", "/group/member", "/group/publish"),
    "redis": Target("redis", "/group/member", "/group/publish"),
    "channels-memory": Target("memory", "/channels/member", "/channels/publish", True),
    "channels-redis": Target("redis", "/channels/member", "/channels/publish", True),
    "channels-redis-core": Target("redis", "/channels/core/member", "/channels/core/publish", True),
}
DEFAULT_TARGETS = ["raw", "memory", "redis", "channels-memory", "channels-redis"]
SERVER_COUNT = {"memory": 1, "redis": 2}
# (target, baseline, minimum ratio of their deliveries/s, window phase; issue 13)
GOALS = [
    ("memory", "raw", 0.9),
    ("redis", "raw", 0.9),
    ("memory", "channels-memory", 10.0),
    ("redis", "channels-redis", 10.0),
]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# The clients.


class Phase:
    """One series of broadcasts: sends them, tallies deliveries, keeps the window full."""

    def __init__(self, tag: str, bench: Bench, *, count: int, window: int, limit: float) -> None:
        self.tag = tag
        self.bench = bench
        self.count = count
        self.window = window
        self.expected = len(bench.members)
        self.deadline = time.monotonic_ns() + int(limit * 1e9)  # no new broadcast after it
        self.per_broadcast = [0] * count
        self.latencies: list[int] = []
        self.sent = self.completed = self.delivered = self.duplicates = self.stray = 0
        self.first_sent_at = self.last_delivery_at = 0
        self.done = asyncio.Event()
        for member in bench.members:
            member.seen = bytearray(count)

    def start(self) -> None:
        """Send the first ``window`` broadcasts; each completed one sends the next."""
        self.first_sent_at = time.monotonic_ns()
        for _ in range(min(self.window, self.count)):
            self._send_next()

    def _send_next(self) -> None:
        if self.sent >= self.count or time.monotonic_ns() > self.deadline:
            if self.completed == self.sent:
                self.done.set()
            return
        prefix = f"{self.tag}:{self.sent}:{time.monotonic_ns()}:"
        payload = prefix.ljust(self.bench.size, "x").encode()
        assert self.bench.publisher is not None
        self.bench.publisher.send(WSMsgType.TEXT, payload)
        self.sent += 1

    def receive(self, member: Member, text: str, now: int) -> None:
        """Tally one delivery to ``member``."""
        tag, number, sent_at, _ = text.split(":", 3)
        if tag != self.tag:
            self.stray += 1  # a late message of an earlier phase
            return
        seq = int(number)
        if member.seen[seq]:
            self.duplicates += 1
            return
        member.seen[seq] = 1
        self.latencies.append(now - int(sent_at))
        self.delivered += 1
        self.last_delivery_at = now
        self.per_broadcast[seq] += 1
        if self.per_broadcast[seq] == self.expected:
            self.completed += 1
            self._send_next()

    @property
    def missing(self) -> int:
        """Deliveries that should have happened for the broadcasts sent, and did not."""
        return self.sent * self.expected - self.delivered


class Bench:
    """The connections of one run and the phase they currently report to."""

    def __init__(self, clients: int, size: int) -> None:
        self.clients = clients
        self.size = size
        self.members: list[Member] = []
        self.publisher: WSTransport | None = None
        self.phase: Phase | None = None
        self.joined = 0
        self.all_joined = asyncio.Event()
        self.unexpected = 0  # frames that are neither "joined" nor a broadcast


class Member(WSListener):
    """One group member: timestamps every broadcast it receives."""

    def __init__(self, bench: Bench) -> None:
        self.bench = bench
        self.seen = bytearray()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is WSMsgType.TEXT:
            now = time.monotonic_ns()
            text = frame.get_payload_as_ascii_text()
            bench = self.bench
            if bench.phase is not None:
                bench.phase.receive(self, text, now)
            elif text == "joined":
                bench.joined += 1
                if bench.joined == bench.clients:
                    bench.all_joined.set()
            else:
                bench.unexpected += 1
        elif frame.msg_type is WSMsgType.CLOSE:
            transport.disconnect()


class Publisher(WSListener):
    """The connection broadcasts are sent through; it expects nothing back."""

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is WSMsgType.CLOSE:
            transport.disconnect()


# Measuring.


def _busy_cpu() -> float:
    """CPU seconds the whole machine has spent busy (all cores), from /proc/stat."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(
        int, Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    )
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def _redis_cpu(url: str) -> float:
    """CPU seconds the Redis server has used (0 when it cannot be asked)."""
    try:
        import redis
    except ImportError:
        return 0.0
    client = redis.Redis.from_url(url, socket_timeout=2)
    try:
        info = client.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])
    except redis.RedisError:
        return 0.0
    finally:
        client.close()


@dataclass
class PhaseResult:
    """What one phase of one run measured."""

    broadcasts: int
    deliveries: int
    seconds: float
    latencies_ns: list[int]
    missing: int
    duplicates: int
    stray: int
    client_cpu: float  # seconds, this process
    server_cpu: float  # seconds, all server processes of the target
    redis_cpu: float  # seconds, the Redis server (redis targets)
    other_cpu: float  # seconds, everything else on the machine
    stalled: bool

    @property
    def rate(self) -> float:
        """Deliveries per second."""
        return self.deliveries / self.seconds if self.seconds else 0.0

    def percentile_ms(self, fraction: float) -> float:
        """The fan-out latency below which ``fraction`` of the deliveries fall, in ms."""
        if not self.latencies_ns:
            return float("nan")
        ordered = sorted(self.latencies_ns)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] / 1e6

    @property
    def per_server_cpu_second(self) -> float:
        """Deliveries per second of server CPU: moves less than the rate on a busy machine."""
        return self.deliveries / self.server_cpu if self.server_cpu else 0.0

    def share(self, cpu: float) -> float:
        """``cpu`` seconds as a share of one core over the phase."""
        return cpu / self.seconds if self.seconds else 0.0


@dataclass
class RunResult:
    """Both phases of one run against one target."""

    phases: dict[str, PhaseResult] = field(default_factory=dict)


async def run_phase(
    bench: Bench,
    tag: str,
    *,
    count: int,
    window: int,
    limit: float,
    stall: float,
    server_pids: list[int],
    redis_url: str | None,
) -> PhaseResult:
    """Send ``count`` broadcasts, ``window`` at a time, and wait for their deliveries."""
    cpu0, busy0 = time.process_time(), _busy_cpu()
    servers0 = sum(_server_cpu(pid) for pid in server_pids)
    redis0 = _redis_cpu(redis_url) if redis_url else 0.0
    phase = Phase(tag, bench, count=count, window=window, limit=limit)
    bench.phase = phase
    phase.start()
    stalled = False
    progress, progress_at = -1, time.monotonic()
    while not phase.done.is_set():
        try:
            await asyncio.wait_for(phase.done.wait(), 0.25)
        except asyncio.TimeoutError:  # not the builtin TimeoutError before 3.11
            if phase.delivered != progress:
                progress, progress_at = phase.delivered, time.monotonic()
            elif time.monotonic() - progress_at > stall:
                stalled = True  # deliveries are missing: stop waiting for them
                break
    cpu1, busy1 = time.process_time(), _busy_cpu()
    servers1 = sum(_server_cpu(pid) for pid in server_pids)
    redis1 = _redis_cpu(redis_url) if redis_url else 0.0
    await asyncio.sleep(0.2)  # let late duplicates arrive before the tally
    bench.phase = None
    client, server, redis = cpu1 - cpu0, servers1 - servers0, redis1 - redis0
    return PhaseResult(
        broadcasts=phase.sent,
        deliveries=phase.delivered,
        seconds=max(phase.last_delivery_at - phase.first_sent_at, 0) / 1e9,
        latencies_ns=phase.latencies,
        missing=phase.missing,
        duplicates=phase.duplicates,
        stray=phase.stray,
        client_cpu=client,
        server_cpu=server,
        redis_cpu=redis,
        other_cpu=max((busy1 - busy0) - client - server - redis, 0.0),
        stalled=stalled,
    )


async def run_target(
    target: Target,
    ports: list[int],
    args: argparse.Namespace,
    server_pids: list[int],
) -> RunResult:
    """Connect the members and the publisher, run both phases, disconnect."""
    bench = Bench(args.clients, args.size)
    urls = [f"ws://127.0.0.1:{port}{target.member}" for port in ports]
    opened: list[WSTransport] = []
    for start in range(0, args.clients, 100):  # 100 handshakes at a time
        batch = range(start, min(start + 100, args.clients))
        pairs = await asyncio.gather(
            *(ws_connect(lambda: Member(bench), urls[i % len(urls)]) for i in batch)
        )
        for transport, member in pairs:
            assert isinstance(member, Member)
            bench.members.append(member)
            opened.append(transport)
    publisher, _ = await ws_connect(Publisher, f"ws://127.0.0.1:{ports[0]}{target.publish}")
    bench.publisher = publisher
    try:
        await asyncio.wait_for(bench.all_joined.wait(), 30)
        redis_url = args.redis_url if target.servers == "redis" else None
        common = {"stall": args.stall, "server_pids": server_pids, "redis_url": redis_url}
        await run_phase(bench, "warm", count=args.warmup, window=1, limit=5, **common)
        result = RunResult()
        result.phases["closed"] = await run_phase(
            bench, "closed", count=args.broadcasts, window=1, limit=args.limit, **common
        )
        result.phases["window"] = await run_phase(
            bench, "window", count=args.broadcasts, window=args.window, limit=args.limit, **common
        )
        return result
    finally:
        for transport in [*opened, publisher]:
            transport.send_close(WSCloseCode.OK)
        await asyncio.wait_for(
            asyncio.gather(*(t.wait_disconnected() for t in [*opened, publisher])), 30
        )


# Reporting.


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def report(results: dict[str, list[RunResult]], clients: int, window: int) -> None:
    """Print the per-target, per-phase medians and the targets."""
    print()
    print(f"medians over {len(next(iter(results.values())))} rounds; CPU as a share of one core")
    header = (
        f"{'target':<20}{'phase':<9}{'clients':>8}{'bcasts':>7}{'deliv/s':>10}"
        f"{'p50 ms':>8}{'p99 ms':>8}{'miss':>6}{'dup':>5}{'deliv/srvCPU-s':>15}"
        f"{'server':>8}{'redis':>7}{'client':>8}{'other':>7}"
    )
    print(header)
    rates: dict[str, float] = {}
    for name, runs in results.items():
        for phase in ("closed", "window"):
            shown = [run.phases[phase] for run in runs]
            rate = _median([r.rate for r in shown])
            if phase == "window":
                rates[name] = rate
            label = "closed" if phase == "closed" else f"{window} in fl"
            stalled = " (stalled)" if any(r.stalled for r in shown) else ""
            print(
                f"{name:<20}{label:<9}{clients:>8}"
                f"{int(_median([r.broadcasts for r in shown])):>7}{rate:>10.0f}"
                f"{_median([r.percentile_ms(0.5) for r in shown]):>8.2f}"
                f"{_median([r.percentile_ms(0.99) for r in shown]):>8.2f}"
                f"{sum(r.missing for r in shown):>6}{sum(r.duplicates for r in shown):>5}"
                f"{_median([r.per_server_cpu_second for r in shown]):>15.0f}"
                f"{_median([r.share(r.server_cpu) for r in shown]):>8.0%}"
                f"{_median([r.share(r.redis_cpu) for r in shown]):>7.0%}"
                f"{_median([r.share(r.client_cpu) for r in shown]):>8.0%}"
                f"{_median([r.share(r.other_cpu) for r in shown]):>7.0%}{stalled}"
            )
    print(
        "  miss/dup: summed over all rounds; deliv/srvCPU-s: deliveries per second of server\n"
        "  CPU (all server processes); server/redis/client/other: CPU as a share of one core,\n"
        "  other = everything else on the machine (other users)"
    )
    print()
    print(f"targets (ratios of deliveries/s with {window} broadcasts in flight, same run)")
    for name, baseline, goal in GOALS:
        if rates.get(name) and rates.get(baseline):
            ratio = rates[name] / rates[baseline]
            verdict = "MET" if ratio >= goal else "NOT MET"
            print(f"  {name} >= {goal:g} x {baseline}: {ratio:.2f} x -> {verdict}")


# Servers and the main loop.


def _channels_installed() -> bool:
    return all(importlib.util.find_spec(name) for name in ("channels", "channels_redis"))


def main(argv: list[str] | None = None) -> None:
    """Parse the flags, start the servers, run the interleaved rounds, print the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000, help="group members (1000)")
    parser.add_argument("--broadcasts", type=int, default=200, help="per phase (200)")
    parser.add_argument("--window", type=int, default=10, help="in flight, window phase (10)")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured broadcasts (20)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of all targets (3)")
    parser.add_argument("--size", type=int, default=64, help="message size in bytes (64)")
    parser.add_argument("--limit", type=float, default=10.0, help="max s of sending a phase (10)")
    parser.add_argument("--stall", type=float, default=3.0, help="s without a delivery: stop (3)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="record each server with py-spy (pip install py-spy) during each run, into DIR "
        "as collapsed stacks (the GIL-holding thread only)",
    )
    parser.add_argument(
        "--targets",
        default=",".join(DEFAULT_TARGETS),
        help=f"comma-separated, from {','.join(TARGETS)} ({','.join(DEFAULT_TARGETS)}; "
        "the Channels ones where Channels is installed)",
    )
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.targets.split(",") if name.strip()]
    if unknown := set(names) - set(TARGETS):
        parser.error(f"unknown targets: {', '.join(sorted(unknown))}")
    if not _channels_installed():
        skipped = [name for name in names if TARGETS[name].channels]
        names = [name for name in names if not TARGETS[name].channels]
        if skipped:
            print(f"Channels/channels_redis not installed: skipping {', '.join(skipped)}")
    if not names:
        return
    if args.size < 40:
        parser.error("--size must be at least 40 bytes (the sequence number and timestamp)")

    needed = {TARGETS[name].servers for name in names}
    prefix = f"bench-{uuid.uuid4().hex}:"  # this run's own Redis channels
    environ = {"BENCH_REDIS_URL": args.redis_url, "BENCH_REDIS_PREFIX": prefix}
    servers: dict[str, list[tuple[int, subprocess.Popen[bytes]]]] = {}  # kind -> (port, server)
    print(
        f"broadcast: {args.clients} clients, {args.broadcasts} broadcasts per phase "
        f"(closed loop, then {args.window} in flight), {args.size}-byte TEXT, "
        f"{args.rounds} rounds of {', '.join(names)}; {os.cpu_count()} CPUs; "
        f"load average {Path('/proc/loadavg').read_text().split()[0]}",
        flush=True,
    )
    results: dict[str, list[RunResult]] = {name: [] for name in names}
    try:
        for kind in sorted(needed):
            servers[kind] = []
            for _ in range(SERVER_COUNT[kind]):
                port = _free_port()
                process = start_server(
                    port,
                    app="benchproject.broadcast_router:application",
                    settings="benchproject.broadcast_settings",
                    environ={**environ, "BENCH_GROUPS": kind},
                )
                servers[kind].append((port, process))
        for round_number in range(1, args.rounds + 1):
            for name in names:
                target = TARGETS[name]
                ports = [port for port, _ in servers[target.servers]]
                pids = [process.pid for _, process in servers[target.servers]]
                profilers = []
                if args.profile:
                    args.profile.mkdir(parents=True, exist_ok=True)
                    profilers = [
                        start_profiler(
                            pid, args.profile / f"{name}-{round_number}-{i}.txt", "raw", True
                        )
                        for i, pid in enumerate(pids)
                    ]
                try:
                    result = asyncio.run(run_target(target, ports, args, pids))
                except (OSError, asyncio.TimeoutError) as exc:
                    print(f"round {round_number} {name}: failed ({type(exc).__name__}: {exc})")
                    continue
                finally:
                    for profiler in profilers:
                        profiler.send_signal(signal.SIGINT)
                        profiler.wait(30)
                results[name].append(result)
                for phase, r in result.phases.items():
                    print(
                        f"round {round_number} {name:<20}{phase:<7}{r.broadcasts:>5} bcasts"
                        f"{r.rate:>10.0f} deliv/s  p50 {r.percentile_ms(0.5):7.2f} ms"
                        f"  p99 {r.percentile_ms(0.99):7.2f} ms  miss {r.missing} dup"
                        f" {r.duplicates} late {r.stray}  server {r.share(r.server_cpu):4.0%}"
                        f"  client {r.share(r.client_cpu):4.0%}"
                        f"  other {r.share(r.other_cpu):4.0%}",
                        flush=True,
                    )
                time.sleep(0.5)  # let the servers finish closing the connections
    finally:
        for kind_servers in servers.values():
            for _, process in kind_servers:
                stop_server(process)
    results = {name: runs for name, runs in results.items() if runs}
    if results:
        report(results, args.clients, args.window)
    print(f"load average at the end: {Path('/proc/loadavg').read_text().split()[0]}")


if __name__ == "__main__":
    main()
