#!/usr/bin/env python3
"""Peers benchmark: every stack of ``stacks.py`` on the same workloads, in one run (issue 13).

Workloads (``--workloads``), each against every stack that can run it, each stack in its
own server process(es), stacks interleaved for ``--rounds`` rounds, medians reported,
each figure also as a ratio to the raw ASGI app measured in the same run:

* ``echo``: ``--connections`` connections each send a ``--size``-byte TEXT message and
  wait for its echo, for ``--warmup`` + ``--duration`` s (``echo.py``'s client): msg/s,
  p50/p99 round trip;
* ``handshake``: ``--concurrency`` loops each open a connection with a logged-in session
  cookie, send one message, wait for its echo and close (``loads.py``); the route is
  behind the stack's session + auth (Django's middleware, Channels'
  ``AuthMiddlewareStack``, django-socket's ``login_required``): cycles/s, p50/p99;
* ``idle``: a fresh server, ``--idle-sockets`` connections opened and left idle: the
  growth of the server's RSS (all its processes) per socket;
* ``fanout``: ``--clients`` group members and one publisher (``broadcast.py``'s client),
  for each groups backend of the stack (Redis: two server processes, half the members
  each): deliveries/s with ``--window`` broadcasts in flight, fan-out latency with one
  at a time; the baseline is ``benchproject.raw``'s fan-out (each message sent to every
  member in turn).

Every uvicorn stack runs once per ``--loops`` choice (``asyncio``: plain asyncio + h11;
``uvloop``: uvloop + httptools, as ``uvicorn[standard]`` installs); daphne, gunicorn and
runbolt do not run on uvicorn's loop: they are measured once per round and shown in
each loop's table. Output: one table per workload and loop, the targets (MET / NOT MET;
exit status 0 either way), ``--json`` (``benchmarks/peers.json``) and ``--chart``
(``benchmarks/peers.png``).

``--check`` instead runs each stack once, briefly: one echo, one logged-in handshake (and
one without the cookie, which must be refused), one broadcast to two members; it exits
1 if any fails.

Run from the repository root (``tasks.py`` makes ``.venv-peers`` and ``.venv-bolt``)::

    python3 tasks.py bench --peers [--rounds 5 --pin ...]
    python3 tasks.py bench --peers --check
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import broadcast
import echo
import loads
from picows import WSError
from stacks import BENCH_DIR, SERVERS, STACKS, WORKLOADS, Stack

ROOT = BENCH_DIR.parent
REDIS_PROCESSES = 2  # a Redis backend's members are spread over two servers
IDLE_SETTLE = 2.0  # s between the last idle handshake and the RSS reading
Row = dict[str, Any]


@dataclass(frozen=True)
class Target:
    """One stack on one loop (``None``: its server has no uvicorn loop), one backend."""

    stack: Stack
    loop: str | None
    backend: str = "memory"  # BENCH_GROUPS: the fan-out's groups backend

    @property
    def key(self) -> str:
        """A unique name: ``stack[/backend][@loop]``."""
        backend = f"/{self.backend}" if self.backend != "memory" else ""
        return f"{self.stack.name}{backend}" + (f"@{self.loop}" if self.loop else "")


# Servers.


class Servers:
    """Starts stacks' servers with the run's environment; stops every one of them."""

    def __init__(self, args: argparse.Namespace, run_dir: Path, environ: dict[str, str]) -> None:
        self.args = args
        self.run_dir = run_dir
        self.environ = environ
        self.cpus = args.server_cpus
        self.running: list[subprocess.Popen[bytes]] = []
        self.count = 0

    def start(self, target: Target) -> tuple[int, subprocess.Popen[bytes]]:
        """Start ``target``'s server on a free port; raise RuntimeError if it fails."""
        stack = target.stack
        server = SERVERS[stack.server]
        port = echo._free_port()
        env = {**os.environ, **self.environ, "PYTHONPATH": str(BENCH_DIR)}
        env["BENCH_GROUPS"] = target.backend
        if stack.settings:
            env["DJANGO_SETTINGS_MODULE"] = stack.settings
        self.count += 1
        log = self.run_dir / f"{self.count:03d}-{target.key.replace('/', '-')}.log"
        pin = None if self.cpus is None else (lambda: os.sched_setaffinity(0, self.cpus))
        with log.open("wb") as output:
            process = subprocess.Popen(
                server.command(stack.app, port, target.loop or "asyncio"),
                env=env, cwd=BENCH_DIR, stdout=output, stderr=subprocess.STDOUT, preexec_fn=pin,
            )  # fmt: skip
        self.running.append(process)
        if error := echo.wait_listening(process, port, name=stack.server):
            tail = log.read_text(errors="replace").strip().splitlines()[-5:]
            raise RuntimeError(f"{error} (log {log}: {' | '.join(tail)})")
        return port, process

    def stop(self, process: subprocess.Popen[bytes]) -> None:
        """Stop one server (SIGINT, then SIGKILL after 10 s)."""
        if process.poll() is None:
            echo.stop_server(process)
        if process in self.running:
            self.running.remove(process)

    def stop_all(self) -> None:
        """Stop every server still running."""
        for process in list(self.running):
            self.stop(process)


def targets_of(stacks: list[Stack], loops: list[str], workload: str) -> list[Target]:
    """Every (stack, loop[, backend]) that runs ``workload``."""
    found = []
    for stack in stacks:
        if stack.path(workload) is None:
            continue
        stack_loops: list[str | None] = list(loops) if SERVERS[stack.server].uses_loop else [None]
        backends = stack.groups if workload == "fanout" else ("memory",)
        found += [Target(stack, loop, backend) for loop in stack_loops for backend in backends]
    return found


# One measurement of each workload.


def measure_echo(target: Target, port: int, pid: int, args: argparse.Namespace) -> Row:
    """One echo run: msg/s, p50/p99, server CPU share, errors."""
    result = asyncio.run(
        echo.run_load(
            f"ws://127.0.0.1:{port}{target.stack.echo}",
            connections=args.connections, size=args.size, warmup=args.warmup,
            duration=args.duration, server_pid=pid, cpu=loads.tree_cpu,
        )
    )  # fmt: skip
    return {
        "value": result.rate,
        "p50_ms": result.percentile_ms(0.5),
        "p99_ms": result.percentile_ms(0.99),
        "server_cpu": result.server_cpu / result.seconds,
        "errors": result.errors,
    }


def measure_handshake(target: Target, port: int, pid: int, args: argparse.Namespace) -> Row:
    """One handshake run: cycles/s, p50/p99 cycle time, server CPU share, errors."""
    result = asyncio.run(
        loads.run_handshakes(
            f"ws://127.0.0.1:{port}{target.stack.handshake}",
            concurrency=args.concurrency, size=args.size, warmup=args.warmup,
            duration=args.duration, server_pid=pid, headers={"Cookie": args.cookie},
        )
    )  # fmt: skip
    return {
        "value": result.rate,
        "p50_ms": result.percentile_ms(0.5),
        "p99_ms": result.percentile_ms(0.99),
        "server_cpu": result.server_cpu / result.seconds,
        "errors": result.errors,
    }


async def _idle(url: str, pid: int, count: int) -> Row:
    warm, _ = await loads.open_idle(url, 20)  # load what a first connection loads
    await loads.close_idle(warm)
    await asyncio.sleep(1)
    before = loads.tree_rss(pid)
    started = time.perf_counter()
    opened, lost = await loads.open_idle(url, count)
    opening = time.perf_counter() - started
    await asyncio.sleep(IDLE_SETTLE)
    after = loads.tree_rss(pid)
    dropped = lost[0]
    await loads.close_idle(opened)
    return {
        "value": (after - before) / count / 1024,  # KiB per socket
        "rss_before_mib": before / 2**20,
        "rss_after_mib": after / 2**20,
        "open_s": opening,
        "errors": dropped,
    }


def measure_idle(target: Target, servers: Servers, args: argparse.Namespace) -> Row:
    """One idle run on a fresh server: RSS growth per idle socket (KiB)."""
    port, process = servers.start(target)
    try:
        return asyncio.run(_idle(f"ws://127.0.0.1:{port}{target.stack.echo}", process.pid,
                                 args.idle_sockets))  # fmt: skip
    finally:
        servers.stop(process)


def measure_fanout(target: Target, ports: list[int], pids: list[int], args: Any) -> Row:
    """One fan-out run (``broadcast.run_target``): both phases' figures."""
    member, publish = target.stack.fanout or ("", "")
    shape = broadcast.Target(target.backend, member, publish)
    result = asyncio.run(broadcast.run_target(shape, ports, args, pids))
    window, closed = result.phases["window"], result.phases["closed"]
    return {
        "value": window.rate,
        "p50_ms": closed.percentile_ms(0.5),
        "p99_ms": closed.percentile_ms(0.99),
        "window_p99_ms": window.percentile_ms(0.99),
        "server_cpu": window.share(window.server_cpu),
        "errors": window.missing + closed.missing + window.duplicates + closed.duplicates,
        "stalled": window.stalled or closed.stalled,
    }


# The rounds.


def _print_run(workload: str, round_number: int, target: Target, row: Row) -> None:
    unit = {"echo": "msg/s", "handshake": "cycles/s", "idle": "KiB/socket", "fanout": "deliv/s"}
    figures = f"{row['value']:>10.1f} {unit[workload]}"
    if "p99_ms" in row:
        figures += f"  p50 {row['p50_ms']:7.2f} ms  p99 {row['p99_ms']:7.2f} ms"
    if "rss_after_mib" in row:
        figures += f"  RSS {row['rss_before_mib']:.1f} -> {row['rss_after_mib']:.1f} MiB"
    print(f"{workload} round {round_number} {target.key:<32}{figures}  errors {row['errors']}",
          flush=True)  # fmt: skip


def run_workload(
    workload: str, targets: list[Target], servers: Servers, args: argparse.Namespace
) -> tuple[dict[str, list[Row]], dict[str, str]]:
    """Run ``workload``'s interleaved rounds; the rows per target key, and the failures."""
    results: dict[str, list[Row]] = {target.key: [] for target in targets}
    failed: dict[str, str] = {}
    started: dict[str, tuple[list[int], list[int]]] = {}  # key -> (ports, pids)
    if workload != "idle":  # idle starts a fresh server for every run
        for target in targets:
            count = REDIS_PROCESSES if target.backend == "redis" else 1
            try:
                pairs = [servers.start(target) for _ in range(count)]
            except RuntimeError as exc:
                failed[target.key] = str(exc)
                continue
            started[target.key] = ([port for port, _ in pairs], [p.pid for _, p in pairs])
    fanout_args = argparse.Namespace(
        **{**vars(args), "warmup": args.fanout_warmup, "size": args.fanout_size}
    )
    for round_number in range(1, args.rounds + 1):
        for target in targets:
            if target.key in failed:
                continue
            try:
                if workload == "idle":
                    row = measure_idle(target, servers, args)
                else:
                    ports, pids = started[target.key]
                    if workload == "echo":
                        row = measure_echo(target, ports[0], pids[0], args)
                    elif workload == "handshake":
                        row = measure_handshake(target, ports[0], pids[0], args)
                    else:
                        row = measure_fanout(target, ports, pids, fanout_args)
            except (OSError, WSError, asyncio.TimeoutError, RuntimeError) as exc:
                failed[target.key] = f"round {round_number}: {type(exc).__name__}: {exc}"
                print(f"{workload} round {round_number} {target.key}: FAILED ({exc})", flush=True)
                continue
            results[target.key].append(row)
            _print_run(workload, round_number, target, row)
            time.sleep(0.5)  # let the server finish closing the connections
    servers.stop_all()
    return {key: rows for key, rows in results.items() if rows and key not in failed}, failed


# Reporting.

UNITS = {
    "echo": ("msg/s", True),
    "handshake": ("handshakes/s", True),
    "idle": ("KiB per idle socket", False),
    "fanout": ("deliveries/s", True),
}


def summarize(
    workload: str, targets: list[Target], results: dict[str, list[Row]], failed: dict[str, str]
) -> dict[str, Any]:
    """The JSON of one workload: per target, its runs and their medians."""
    rows = []
    for target in targets:
        runs = results.get(target.key)
        if not runs:
            continue
        median = {
            name: statistics.median(run[name] for run in runs)
            for name in runs[0]
            if isinstance(runs[0][name], float | int) and not isinstance(runs[0][name], bool)
        }
        median["errors"] = sum(run["errors"] for run in runs)
        rows.append({
            "key": target.key, "stack": target.stack.name, "label": target.stack.label,
            "server": target.stack.server, "loop": target.loop, "backend": target.backend,
            "note": target.stack.notes.get(workload, ""), "median": median, "runs": runs,
        })  # fmt: skip
    unit, higher = UNITS[workload]
    return {"unit": unit, "higher_is_better": higher, "rows": rows, "failed": failed}


def _raw_value(summary: dict[str, Any], loop: str, backend: str = "memory") -> float | None:
    for row in summary["rows"]:
        if row["stack"] == "raw" and row["loop"] == loop and row["backend"] == backend:
            return float(row["median"]["value"])
    return None


def add_ratios(summary: dict[str, Any], loops: list[str]) -> None:
    """Give every row ``x_raw``: its median over raw's on the same loop (both, if none)."""
    for row in summary["rows"]:
        row["x_raw"] = {}
        for loop in [row["loop"]] if row["loop"] else loops:
            raw = _raw_value(summary, loop)
            if raw:
                row["x_raw"][loop] = row["median"]["value"] / raw


def print_table(workload: str, summary: dict[str, Any], loop: str) -> None:
    """One workload's table for ``loop``."""
    unit, higher = summary["unit"], summary["higher_is_better"]
    better = "higher" if higher else "lower"
    print(f"\n{workload} on {loop} ({unit}; {better} is better; medians)")
    latency = workload != "idle"
    header = f"{'stack':<36}{'server':<18}{unit.split()[0]:>12}{'x raw':>8}"
    header += f"{'p50 ms':>9}{'p99 ms':>9}{'srv CPU':>9}" if latency else f"{'RSS MiB':>16}"
    print(header + f"{'errors':>8}")
    for row in summary["rows"]:
        if row["loop"] not in (loop, None):
            continue
        median = row["median"]
        name = row["label"] + (f" ({row['backend']})" if workload == "fanout" else "")
        ratio = row["x_raw"].get(loop)
        line = f"{name[:35]:<36}{row['server']:<18}{median['value']:>12.1f}"
        line += f"{ratio:>8.2f}" if ratio is not None else f"{'-':>8}"
        if latency:
            line += f"{median['p50_ms']:>9.2f}{median['p99_ms']:>9.2f}"
            line += f"{median.get('server_cpu', 0):>8.0%} "
        else:
            line += f"{median['rss_before_mib']:>7.1f} ->{median['rss_after_mib']:>6.1f}"
        print(line + f"{median['errors']:>8}" + (f"  [{row['note']}]" if row["note"] else ""))
    for key, why in summary["failed"].items():
        print(f"  {key}: FAILED: {why}")


def not_run(stacks: list[Stack], workload: str) -> dict[str, str]:
    """The stacks that cannot run ``workload``, and why."""
    return {s.name: s.why_not.get(workload, "-") for s in stacks if s.path(workload) is None}


# Targets of issue 13, per loop: (workload, what, stack, other, factor, at_least).
GOALS = [
    ("echo", "our async view >= 2 x Channels async", "ours-async", "channels-async", 2.0, True),
    ("echo", "our async view >= django-socket", "ours-async", "django-socket", 1.0, True),
    ("echo", "our sync view >= 3 x Channels sync", "ours-sync", "channels-sync", 3.0, True),
    ("echo", "our sync view on gthread >= 0.8 x raw", "ours-sync-gthread", "raw", 0.8, True),
    ("echo", "our sync view on gevent >= 0.7 x raw", "ours-sync-gevent", "raw", 0.7, True),
    ("echo", "our sync view on gthread >= 3 x Channels sync", "ours-sync-gthread",
     "channels-sync", 3.0, True),
    ("idle", "our async view <= 1.5 x raw per socket", "ours-async", "raw", 1.5, False),
    ("idle", "our sync view <= 1.5 x raw per socket", "ours-sync", "raw", 1.5, False),
    ("fanout", "ours (memory) >= 0.9 x raw fan-out", "ours-async", "raw", 0.9, True),
    ("fanout", "ours (memory) >= 10 x Channels InMemory", "ours-async", "channels-async", 10, True),
    ("fanout", "ours (redis) >= 0.9 x raw fan-out", "ours-async/redis", "raw", 0.9, True),
    ("fanout", "ours (redis) >= 10 x channels_redis", "ours-async/redis", "channels-async/redis",
     10, True),
]  # fmt: skip
DJANGO_PEERS = [s.name for s in STACKS if s.settings and not s.name.startswith("ours")]


def _value(summary: dict[str, Any], name: str, loop: str) -> float | None:
    for row in summary["rows"]:
        key = row["key"].split("@")[0]
        if key == name and row["loop"] in (loop, None):
            return float(row["median"]["value"])
    return None


def judge(summaries: dict[str, dict[str, Any]], loops: list[str]) -> list[dict[str, Any]]:
    """Every target of the issue that this run measured, per loop, MET or not."""
    goals = list(GOALS)
    for view in ("ours-async", "ours-sync"):
        for peer in DJANGO_PEERS:
            goals.append(("handshake", f"{view} >= {peer}", view, peer, 1.0, True))
    verdicts = []
    for loop in loops:
        for workload, what, ours, other, factor, at_least in goals:
            if workload not in summaries:
                continue
            mine, theirs = _value(summaries[workload], ours, loop), None
            theirs = _value(summaries[workload], other, loop)
            if mine is None or theirs is None or not theirs:
                continue
            ratio = mine / theirs
            met = ratio >= factor if at_least else ratio <= factor
            verdicts.append({"loop": loop, "workload": workload, "target": what,
                             "ratio": ratio, "goal": factor, "met": met})  # fmt: skip
    return verdicts


def print_verdicts(verdicts: list[dict[str, Any]]) -> None:
    """The targets, MET / NOT MET."""
    print("\ntargets (ratios of medians, same run, same loop)")
    for v in verdicts:
        verdict = "MET" if v["met"] else "NOT MET"
        print(f"  [{v['loop']}] {v['workload']}: {v['target']}: {v['ratio']:.2f} x -> {verdict}")


def _versions(args: argparse.Namespace) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    names = ["django", "django-websocket-views", "uvicorn", "websockets", "uvloop", "httptools",
             "h11", "channels", "channels-redis", "daphne", "twisted", "django-socket", "flask",
             "flask-sock", "simple-websocket", "gunicorn", "redis", "picows"]  # fmt: skip
    found = {"python": platform.python_version()}
    for name in names:
        with contextlib.suppress(PackageNotFoundError):
            found[name] = version(name)
    if SERVERS["runbolt"].python.exists():
        code = (
            "import importlib.metadata as m, platform; "
            "print(m.version('django-bolt'), m.version('django'), platform.python_version())"
        )
        out = subprocess.run([str(SERVERS["runbolt"].python), "-c", code], capture_output=True,
                             text=True, check=False).stdout.split()  # fmt: skip
        if len(out) == 3:
            found["django-bolt"] = f"{out[0]} (Django {out[1]}, Python {out[2]})"
    return found


def machine() -> dict[str, Any]:
    """What the run ran on."""
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    memory = Path("/proc/meminfo").read_text().split("\n", 1)[0].split()[1]
    return {"cpus": os.cpu_count(), "cpu": model, "memory_gib": round(int(memory) / 2**20, 1),
            "kernel": platform.release(), "system": platform.system()}  # fmt: skip


# Set-up.


def prepare_database(run_dir: Path) -> tuple[str, str]:
    """Make the run's SQLite database with one logged-in user; (path, Django cookie)."""
    path = run_dir / "bench.sqlite3"
    env = {**os.environ, "PYTHONPATH": str(BENCH_DIR), "BENCH_DB": str(path),
           "DJANGO_SETTINGS_MODULE": "benchproject.peers_settings"}  # fmt: skip
    django = [sys.executable, "-m", "django"]
    subprocess.run([*django, "migrate", "--noinput", "-v", "0"], env=env, check=True)
    code = (
        "from django.contrib.auth.models import User; from django.test import Client\n"
        "client = Client(); client.force_login(User.objects.create_user('bench'))\n"
        "print(client.cookies['sessionid'].value)"
    )
    done = subprocess.run([*django, "shell", "-c", code], env=env, check=True,
                          capture_output=True, text=True)  # fmt: skip
    return str(path), f"sessionid={done.stdout.split()[-1]}"  # after shell's own messages


def available(stacks: list[Stack]) -> tuple[list[Stack], dict[str, str]]:
    """The stacks whose packages are installed, and why the others are skipped."""
    usable, skipped = [], {}
    for stack in stacks:
        python = SERVERS[stack.server].python
        if not python.exists():
            skipped[stack.name] = f"{python} missing: python3 tasks.py bench --peers makes it"
        elif absent := [name for name in stack.needs if importlib.util.find_spec(name) is None]:
            skipped[stack.name] = f"{', '.join(absent)} missing: python3 tasks.py bench --peers"
        else:
            usable.append(stack)
    return usable, skipped


def redis_reachable(url: str) -> bool:
    """Whether a Redis server answers at ``url``."""
    try:
        import redis
    except ImportError:
        return False
    client = redis.Redis.from_url(url, socket_timeout=2)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


@contextmanager
def run_directory(keep: Path | None) -> Iterator[Path]:
    """The run's directory (database, server logs): ``keep``, or a temporary one."""
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
    else:
        with tempfile.TemporaryDirectory(prefix="peers-") as folder:
            yield Path(folder)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--rounds", type=int, default=5, help="rounds of every stack (5)")
    add("--duration", type=float, default=5.0, help="measured s per echo/handshake run (5)")
    add("--warmup", type=float, default=1.0, help="unmeasured s per echo/handshake run (1)")
    add("--connections", type=int, default=50, help="echo connections (50)")
    add("--concurrency", type=int, default=50, help="handshake loops at once (50)")
    add("--size", type=int, default=32, help="echo message size in bytes (32)")
    add("--idle-sockets", type=int, default=5000, help="idle connections (5000)")
    add("--clients", type=int, default=1000, help="fan-out group members (1000)")
    add("--broadcasts", type=int, default=200, help="broadcasts per fan-out phase (200)")
    add("--window", type=int, default=10, help="broadcasts in flight, fan-out window phase (10)")
    add("--fanout-warmup", type=int, default=20, help="unmeasured broadcasts (20)")
    add("--fanout-size", type=int, default=64, help="broadcast size in bytes, >= 40 (64)")
    add("--limit", type=float, default=10.0, help="max s of sending a fan-out phase (10)")
    add("--stall", type=float, default=3.0, help="s without a delivery: stop the phase (3)")
    add("--redis-url", default="redis://127.0.0.1:6379/0")
    add("--loops", default="asyncio,uvloop", help="uvicorn loops, of asyncio,uvloop (both)")
    add("--stacks", default=",".join(s.name for s in STACKS), help="comma-separated (all)")
    add("--workloads", default=",".join(WORKLOADS), help="comma-separated (all)")
    add("--pin", action="store_true", help="servers on CPU 0, this client on the others")
    add("--json", type=Path, default=BENCH_DIR / "peers.json", help="(benchmarks/peers.json)")
    add("--chart", type=Path, default=BENCH_DIR / "peers.png", help="(benchmarks/peers.png)")
    add("--keep", type=Path, metavar="DIR", help="keep the database and server logs in DIR")
    add("--check", action="store_true", help="one echo, handshake and broadcast per stack")
    args = parser.parse_args(argv)
    args.loops = [name.strip() for name in args.loops.split(",") if name.strip()]
    if bad := [name for name in args.loops if name not in echo.LOOPS]:
        parser.error(f"unknown loops: {', '.join(bad)}")
    for loop in args.loops:
        if missing := echo.loop_missing(loop):
            parser.error(missing)
    names = {s.name: s for s in STACKS}
    wanted = [name.strip() for name in args.stacks.split(",") if name.strip()]
    if bad := [name for name in wanted if name not in names]:
        parser.error(f"unknown stacks: {', '.join(bad)}")
    if "raw" not in wanted and not args.check:
        wanted.insert(0, "raw")  # every ratio needs it
    args.stack_list = [names[name] for name in wanted]
    args.workload_list = [w.strip() for w in args.workloads.split(",") if w.strip()]
    if bad := [name for name in args.workload_list if name not in WORKLOADS]:
        parser.error(f"unknown workloads: {', '.join(bad)}")
    if args.clients < 2 or args.size < 1 or args.fanout_size < 40:
        parser.error("--clients must be >= 2, --size >= 1 and --fanout-size >= 40")
    args.server_cpus = None
    if args.pin:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            parser.error("--pin needs at least 2 CPUs")
        args.server_cpus = {cpus[0]}
        os.sched_setaffinity(0, cpus[1:])
    return args


def main(argv: list[str] | None = None) -> None:
    """Run the workloads (or ``--check``) and report."""
    args = parse_args(argv)
    stacks, skipped = available(args.stack_list)
    for name, why in skipped.items():
        print(f"skipping {name}: {why}")
    with run_directory(args.keep) as run_dir:
        db, django_cookie = prepare_database(run_dir)
        from flaskapp import session_cookie  # Flask is in .venv-peers with the other peers

        args.cookie = f"{django_cookie}; {session_cookie('bench')}"
        environ = {"BENCH_DB": db, "BENCH_REDIS_URL": args.redis_url,
                   "BENCH_REDIS_PREFIX": f"bench-{uuid.uuid4().hex}:"}  # fmt: skip
        servers = Servers(args, run_dir, environ)
        redis_ok = redis_reachable(args.redis_url)
        try:
            if args.check:
                from peers_check import check

                sys.exit(check(stacks, servers, args, redis_ok))
            report = run_all(stacks, servers, args, redis_ok)
        finally:
            servers.stop_all()
    report["skipped"] = skipped
    args.json.write_text(json.dumps(report, indent=1, default=str) + "\n")
    print(f"\nwrote {args.json}")
    from peers_chart import draw

    draw(report, args.chart)
    print(f"wrote {args.chart}")


def run_all(
    stacks: list[Stack], servers: Servers, args: argparse.Namespace, redis_ok: bool
) -> dict[str, Any]:
    """Every workload of ``args``, then the tables and targets; the JSON report."""
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    load_before = loads.load_average()
    print(f"peers: {', '.join(s.name for s in stacks)}; loops {', '.join(args.loops)}; "
          f"{args.rounds} rounds; {os.cpu_count()} CPUs; load average {load_before}",
          flush=True)  # fmt: skip
    summaries: dict[str, dict[str, Any]] = {}
    for workload in args.workload_list:
        targets = targets_of(stacks, args.loops, workload)
        if not redis_ok:
            targets = [t for t in targets if t.backend != "redis"]
        results, failed = run_workload(workload, targets, servers, args)
        summary = summarize(workload, targets, results, failed)
        add_ratios(summary, args.loops)
        summary["not_run"] = not_run(stacks, workload)
        if not redis_ok and workload == "fanout":
            summary["not_run"]["(redis backends)"] = f"no Redis at {args.redis_url}"
        summaries[workload] = summary
    for workload, summary in summaries.items():
        for loop in args.loops:
            print_table(workload, summary, loop)
        for name, why in summary["not_run"].items():
            print(f"  not run: {name}: {why}")
    verdicts = judge(summaries, args.loops)
    print_verdicts(verdicts)
    settings = {k: v for k, v in vars(args).items()
                if k not in ("stack_list", "workload_list", "server_cpus", "cookie")}  # fmt: skip
    return {
        "started": started,
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "load_average": {"before": load_before, "after": loads.load_average()},
        "machine": machine(),
        "versions": _versions(args),
        "settings": settings,
        "stacks": [asdict(s) for s in stacks],
        "workloads": summaries,
        "targets": verdicts,
    }


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop servers on SIGTERM too
    main()
