"""``peers.py --check``: does every stack's app answer correctly? One of each, no timing.

For each stack, on a fresh server (uvicorn on plain asyncio): one echo; one handshake
with the logged-in session cookie, answered, and one without it, refused (except the raw
app, which has no auth); for each groups backend, two members each get every one of
three broadcasts exactly once (Redis: the two members on two servers). Prints one line
per check; returns the exit status (1 if any check failed).
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import broadcast
import loads
from peers import REDIS_PROCESSES, Servers, Target
from stacks import SERVERS, Stack

__all__ = ["check"]

PAYLOAD = b"check" * 8


def _fan_out(target: Target, ports: list[int], pids: list[int]) -> str:
    """ "" when two members each got three broadcasts once, else what went wrong."""
    member, publish = target.stack.fanout or ("", "")
    args = argparse.Namespace(clients=2, size=64, warmup=1, broadcasts=3, window=1, limit=5,
                              stall=3, redis_url="")  # fmt: skip
    result = asyncio.run(broadcast.run_target(broadcast.Target("memory", member, publish),
                                              ports, args, pids))  # fmt: skip
    problems = []
    for name, phase in result.phases.items():
        if phase.deliveries != 6 or phase.missing or phase.duplicates:
            problems.append(f"{name}: {phase.deliveries} of 6 delivered, "
                            f"{phase.duplicates} duplicates")  # fmt: skip
    return "; ".join(problems)


def _check_stack(stack: Stack, servers: Servers, cookie: str, redis_ok: bool) -> list[str]:
    """Run the checks of one stack; one "OK ..." or "FAIL ..." line per check."""
    loop = "asyncio" if SERVERS[stack.server].uses_loop else None
    lines = []
    port, process = servers.start(Target(stack, loop))
    base = f"ws://127.0.0.1:{port}"
    try:
        if stack.echo:
            ok = asyncio.run(loads.echo_once(base + stack.echo, PAYLOAD, {}))
            lines.append(f"{'OK' if ok else 'FAIL'} echo {stack.echo}")
        if stack.handshake:
            url = base + stack.handshake
            ok = asyncio.run(loads.echo_once(url, PAYLOAD, {"Cookie": cookie}))
            lines.append(f"{'OK' if ok else 'FAIL'} logged-in handshake {stack.handshake}")
            if stack.name != "raw":
                refused = not asyncio.run(loads.echo_once(url, PAYLOAD, {}))
                lines.append(f"{'OK' if refused else 'FAIL'} anonymous handshake refused")
    finally:
        servers.stop(process)
    for backend in stack.groups:
        if backend == "redis" and not redis_ok:
            lines.append("FAIL fan-out (redis): no Redis server")
            continue
        target = Target(stack, loop, backend)
        count = REDIS_PROCESSES if backend == "redis" else 1
        started = [servers.start(target) for _ in range(count)]
        try:
            problem = _fan_out(target, [p for p, _ in started], [s.pid for _, s in started])
        finally:
            for _, server in started:
                servers.stop(server)
        lines.append(f"{'FAIL' if problem else 'OK'} fan-out ({backend}) {problem}".rstrip())
    return lines


def check(stacks: list[Stack], servers: Servers, args: Any, redis_ok: bool) -> int:
    """Check every stack; print the results; 0 if all passed, else 1."""
    failed = 0
    for stack in stacks:
        try:
            lines = _check_stack(stack, servers, args.cookie, redis_ok)
        except (OSError, RuntimeError, asyncio.TimeoutError) as exc:
            lines = [f"FAIL {type(exc).__name__}: {exc}"]
        for line in lines:
            print(f"{stack.name:<24}{line}", flush=True)
        failed += sum(line.startswith("FAIL") for line in lines)
    print(f"{'all checks passed' if not failed else f'{failed} checks FAILED'}")
    return 1 if failed else 0
