"""Soak: many connect / echo / disconnect cycles, then check the server gave it all back.

Cycles (the default): ``--cycles`` (10,000) cycles against the echo views of
``benchproject``, ``--concurrency`` at a time, on one server (loopback only, at most
``TIME_LIMIT`` seconds a view): ``--server uvicorn`` (the sync and the async view),
``gthread`` (gunicorn's gthread worker serving ``benchproject/wsgi.py``: both views) or
``gevent`` (gunicorn's gevent worker: the sync view; async views are refused there).
gunicorn runs one worker, started as ``echo.py``'s ``start_gunicorn`` starts it. Before
(after a warm-up of a quarter as many cycles) and after, it reads the serving process's
thread count, open file descriptors and RSS from /proc (uvicorn itself, gunicorn's
worker) and prints them with a verdict: threads and fds back to where they started, RSS
grown less than 10%. Exits 1 when a check fails.

Idle (``--idle N``): N connections opened and left idle on a fresh server each, for the
sync view on ONE gevent worker, and for raw ASGI and the async view on uvicorn; prints
the serving process's RSS (uvicorn, gunicorn's worker) before and after, and the growth
per socket in KiB (as ``peers.py``'s idle workload, which adds gunicorn's master: the same
growth). Each socket costs the client a file descriptor
and the server one: the client raises its soft ``RLIMIT_NOFILE`` to the hard limit, and
the servers it starts inherit it. Exits 1 if the server dropped any socket.

    .venv/bin/python benchmarks/soak.py [--server uvicorn|gthread|gevent] [--cycles 10000]
    .venv/bin/python benchmarks/soak.py --idle 10000
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import subprocess
import sys
import time
from pathlib import Path

from websockets.asyncio.client import connect

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]
from echo import WORKERS, _free_port, start_gunicorn, start_server, stop_server  # noqa: E402
from loads import close_idle, open_idle, tree_pids  # noqa: E402

from tests.hostile import open_fds, rss_bytes, threads  # noqa: E402

TIME_LIMIT = 600.0  # seconds for one view's cycles, whatever happens
IDLE_SETTLE = 2.0  # seconds between the last idle handshake and the reading

# --server: the echo views it serves (paths of benchproject)
VIEWS = {"uvicorn": ("sync", "async"), "gthread": ("sync", "async"), "gevent": ("sync",)}

# --idle: (name, server, path), each on a fresh server
IDLE_TARGETS = (
    ("sync view, gevent", "gevent", "/sync"),
    ("raw ASGI, uvicorn", "uvicorn", "/raw"),
    ("async view, uvicorn", "uvicorn", "/async"),
)


async def _cycles(url: str, count: int, concurrency: int) -> int:
    """Run ``count`` connect/echo/disconnect cycles; return how many failed."""
    remaining = count
    failures = 0

    async def worker() -> None:
        nonlocal remaining, failures
        while remaining > 0:
            remaining -= 1
            try:
                async with connect(url, open_timeout=10, close_timeout=10) as ws:
                    await ws.send("soak")
                    if await asyncio.wait_for(ws.recv(), 10) != "soak":
                        failures += 1
            except (OSError, asyncio.TimeoutError, Exception):
                failures += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return failures


def start(server: str, port: int, connections: int = 0) -> subprocess.Popen[bytes]:
    """Start ``server`` (a key of ``VIEWS``) on ``port``.

    ``connections``: for gevent, the worker's ``--worker-connections`` (at least its default
    of 1000).
    """
    if server == "uvicorn":
        return start_server(port)
    if server == "gevent" and connections > 1000:
        WORKERS["gevent-many"] = ("gevent", "--worker-connections", str(connections))
        return start_gunicorn(port, "gevent-many")
    return start_gunicorn(port, server)


def serving_pid(server: str, process: subprocess.Popen[bytes]) -> int:
    """The process that serves the sockets: uvicorn itself, or gunicorn's one worker."""
    if server == "uvicorn":
        return process.pid
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        children = [pid for pid in tree_pids(process.pid) if pid != process.pid]
        if children:
            return min(children)  # the worker: the master's only child with --workers 1
        time.sleep(0.1)
    raise RuntimeError("gunicorn started no worker")


def warm_up_concurrency(server: str, concurrency: int) -> int:
    """How many cycles the warm-up runs at once on ``server``.

    gthread's pool of ``--threads`` threads starts empty, grows by one whenever a
    connection finds no idle thread (so past ``concurrency`` too, as cycles overlap) and
    never shrinks: the warm-up runs as many cycles at once as it has threads, so that the
    pool is full before the first reading (measured: 2 threads at boot, 26 after 2,000
    cycles 20 at a time, 66 after 2,000 more 64 at a time, and 66 from then on).
    """
    if server != "gthread":
        return concurrency
    _, *options = WORKERS["gthread"]
    return max(concurrency, int(options[options.index("--threads") + 1]))


def _snapshot(pid: int) -> tuple[int, int, float]:
    time.sleep(1.0)  # let closing connections and their threads finish
    return threads(pid), open_fds(pid), rss_bytes(pid) / 2**20


def soak(server: str, views: list[str], cycles: int, concurrency: int) -> bool:
    """Run the cycles on each of ``views`` on one ``server``; print and return the verdict."""
    port = _free_port()
    process = start(server, port)
    ok = True
    try:
        for view in views:
            url = f"ws://127.0.0.1:{port}/{view}"
            # Warm-up: imports, caches, gthread's pool (warm_up_concurrency) and glibc's
            # per-thread malloc arenas (sync views under uvicorn run on new threads)
            # reach their steady size in the first few thousand cycles; measured here,
            # RSS then stays flat from one batch to the next.
            warming = warm_up_concurrency(server, concurrency)
            asyncio.run(_cycles(url, max(200, cycles // 4), warming))
            pid = serving_pid(server, process)
            threads0, fds0, rss0 = _snapshot(pid)
            begun = time.monotonic()
            failures = asyncio.run(asyncio.wait_for(_cycles(url, cycles, concurrency), TIME_LIMIT))
            elapsed = time.monotonic() - begun
            threads1, fds1, rss1 = _snapshot(pid)
            growth = (rss1 - rss0) / rss0
            checks = {
                "threads back": threads1 <= threads0,
                "fds back": fds1 <= fds0,
                "RSS +<10%": growth < 0.10,
                "no failed cycle": failures == 0,
            }
            ok = ok and all(checks.values())
            print(
                f"{server:7} {view:5}  {cycles} cycles in {elapsed:5.1f} s "
                f"({cycles / elapsed:6.0f}/s), {failures} failed | "
                f"threads {threads0} -> {threads1} | fds {fds0} -> {fds1} | "
                f"RSS {rss0:.1f} -> {rss1:.1f} MiB ({growth:+.1%}) | "
                + ", ".join(f"{name}: {'ok' if good else 'FAIL'}" for name, good in checks.items()),
                flush=True,
            )
    finally:
        stop_server(process)
    return ok


async def _idle(url: str, pid: int, count: int) -> tuple[float, float, int, int, int, float]:
    """Open ``count`` idle sockets; return RSS before and after (MiB), fds, drops, time."""
    warm, _ = await open_idle(url, 20)  # load what a first connection loads
    await close_idle(warm)
    await asyncio.sleep(1)
    before, fds0 = rss_bytes(pid), open_fds(pid)
    started = time.perf_counter()
    opened, lost = await open_idle(url, count)
    opening = time.perf_counter() - started
    await asyncio.sleep(IDLE_SETTLE)
    after, fds1 = rss_bytes(pid), open_fds(pid)
    dropped = lost[0]
    await close_idle(opened)
    return before / 2**20, after / 2**20, fds0, fds1, dropped, opening


def idle(count: int) -> bool:
    """Measure ``count`` idle sockets on each of ``IDLE_TARGETS``; print a table."""
    ok = True
    per_socket: dict[str, float] = {}
    for name, server, path in IDLE_TARGETS:
        port = _free_port()
        process = start(server, port, connections=count + 100)
        try:
            pid = serving_pid(server, process)
            before, after, fds0, fds1, dropped, opening = asyncio.run(
                _idle(f"ws://127.0.0.1:{port}{path}", pid, count)
            )
        finally:
            stop_server(process)
        per_socket[name] = (after - before) * 1024 / count
        ok = ok and dropped == 0
        print(
            f"{name:20} {count} idle sockets opened in {opening:5.1f} s, {dropped} dropped | "
            f"fds {fds0} -> {fds1} | RSS {before:.1f} -> {after:.1f} MiB | "
            f"{per_socket[name]:5.1f} KiB/socket",
            flush=True,
        )
    base = per_socket["raw ASGI, uvicorn"]
    print(
        "per socket, x raw ASGI on uvicorn: "
        + ", ".join(f"{name} {value / base:.2f}" for name, value in per_socket.items())
    )
    return ok


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", choices=sorted(VIEWS), default="uvicorn")
    parser.add_argument("--cycles", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--targets", help="views, comma-separated (default: all it serves)")
    parser.add_argument("--idle", type=int, default=0, metavar="N", help="idle sockets instead")
    args = parser.parse_args(argv)
    _raise_fd_limit()
    if args.idle:
        ok = idle(args.idle)
    else:
        views = args.targets.split(",") if args.targets else list(VIEWS[args.server])
        ok = soak(args.server, views, args.cycles, args.concurrency)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
