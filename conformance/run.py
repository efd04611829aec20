#!/usr/bin/env python3
"""Autobahn TestSuite conformance: echo views on ASGI and WSGI servers, against baselines.

kosoku (the Autobahn TestSuite's case files, run under Python 3 by a Rust client) drives
the echo endpoints of the conformance project on five servers:

* ``uvicorn``: ``uvicorn benchproject.router:application --ws websockets-sansio
  --ws-max-size 16 MiB``, serving ``/raw`` (the raw ASGI echo, no Django), ``/sync`` and
  ``/async`` (the benchmark's echo views) from one process;
* ``runserver``: ``conformance/manage.py runserver --noreload`` for ``/sync`` and
  ``/async``, and ``manage.py runserver_raw --noreload`` (the same command with the raw
  echo at ``/raw``) for the raw baseline;
* ``gthread`` and ``gevent``: ``gunicorn autobahnproject.wsgi:application`` (the views
  through ``django_websocket.wsgi``), one worker of that class: ``/sync`` and ``/async``
  on gthread, ``/sync`` on gevent (where an async view is refused with 503 by design);
* ``websockets``: ``conformance/websockets_echo.py``, the websockets library's own server
  echoing (the baseline of the two gunicorn servers, as the raw echo is uvicorn's).

``WEBSOCKET_MAX_MESSAGE_SIZE`` is 16 MiB in ``autobahnproject/settings.py`` (group 9
sends messages of up to 16 MiB; the library's default is 1 MiB).

Each case's outcome is compared with ``conformance/expected.json`` (every case OK unless
listed there, per server where they differ, with the reason and the baseline's identical
outcome as evidence) and, for the views, with their baseline's outcome in the same run.
The run fails (exit status 1) when a case is worse than expected, when a view fails a
case (FAILED, UNIMPLEMENTED, ERROR, or a failed closing handshake) that its baseline
passes, when a run yields no result, or when a compression case (12.*, 13.*) did not
negotiate permessage-deflate. Outcomes better than expected are printed, not failed.

Then group 9 (large and fragmented messages, timed) runs ``--timing-rounds`` times, one
case at a time, uvicorn's raw / sync / async and gthread's sync / async and the websockets
server interleaved, and the per-subgroup durations (medians over the rounds) are printed
next to uvicorn raw's, with the 1.2 x raw target as MET / NOT MET (timing is reported,
never failed: the machine is shared).

What runs by default (CI) and with ``--full`` is described in ``docs/conformance.md``.
The reports (Autobahn's HTML, one column per server and target) go to
``reports/conformance/``.

Run from the repository root::

    python3 tasks.py conformance [--full] [--cases 1.* --cases 7.1.5 ...]
    .venv/bin/python conformance/run.py [--full] ...
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT / "benchmarks")]

from autobahnproject.settings import WEBSOCKET_MAX_MESSAGE_SIZE  # noqa: E402
from kosoku import FailureError, run_fuzzingclient  # noqa: E402
from kosoku._report import write_reports  # noqa: E402  (the report writer kosoku's CLI uses)

SERVERS = ("uvicorn", "runserver", "websockets", "gthread", "gevent")
TARGETS = {"raw": "/raw", "sync": "/sync", "async": "/async"}
VIEWS = ("sync", "async")
# What each server serves: the WSGI servers serve the views only (an async view is
# refused with 503 on gevent, by design), the websockets server only its echo.
SERVER_TARGETS = {
    "uvicorn": ("raw", "sync", "async"),
    "runserver": ("raw", "sync", "async"),
    "websockets": ("raw",),
    "gthread": ("sync", "async"),
    "gevent": ("sync",),
}
# Whose "raw" target a server's views are compared with, case for case: the raw ASGI echo
# on the same ASGI server; for gunicorn, the websockets library's own server.
BASELINE = {
    "uvicorn": "uvicorn",
    "runserver": "runserver",
    "gthread": "websockets",
    "gevent": "websockets",
}
GUNICORN_WORKERS = {  # gunicorn --worker-class and what goes with it (as benchmarks/echo.py)
    "gthread": ("gthread", "--threads", "64"),
    "gevent": ("gevent", "--worker-connections", "1000"),
}
EXPECTED_FILE = HERE / "expected.json"
REPORTS = ROOT / "reports" / "conformance"

# How bad an outcome is: a larger rank is worse. OK and INFORMATIONAL both pass.
BEHAVIOR_RANK = {"OK": 0, "INFORMATIONAL": 0, "NON-STRICT": 1, "UNIMPLEMENTED": 2, "FAILED": 3}
CLOSE_RANK = {"OK": 0, "INFORMATIONAL": 0}  # anything else (WRONG CODE, UNCLEAN, ...): 1
PASSING = ("OK", "NON-STRICT", "INFORMATIONAL")
COMPRESSION_GROUPS = ("12", "13")
TIMING_GOAL = 1.2  # a view's group 9 time at most this many times raw's

# What CI runs on runserver, gthread and gevent (besides the baselines' listed cases):
# every case but the compression groups, plus this sample of those (uvicorn's views run
# all of 12.* and 13.*; runserver's permessage-deflate is uvicorn's, the WSGI driver's
# is the websockets library's, as under uvicorn).
COMPRESSION_SAMPLE = ["12.1.*", *(f"13.{i}.{j}" for i in range(1, 8) for j in range(1, 10))]


@dataclass
class Run:
    """One server + target: which cases to run, and what came back."""

    server: str
    target: str
    include: list[str] | None  # None: the whole suite
    exclude: list[str] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)  # case id -> CaseResult
    seconds: float = 0.0
    error: str | None = None

    @property
    def name(self) -> str:
        return f"{self.server}-{self.target}"


class _Renamed:
    """A kosoku ``CaseResult`` under another agent name: one report column per run."""

    def __init__(self, result: Any, agent: str) -> None:
        self._result = result
        self.agent = agent

    def __getattr__(self, name: str) -> Any:
        return getattr(self._result, name)


# Servers.


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """One server process on a free loopback port, logging to ``reports/conformance``."""

    def __init__(self, kind: str, port: int) -> None:
        self.kind = kind  # a key of SERVER_TARGETS, or "runserver_raw"
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        address = f"127.0.0.1:{self.port}"
        if self.kind == "uvicorn":
            return [
                sys.executable, "-m", "uvicorn", "benchproject.router:application",
                "--host", "127.0.0.1", "--port", str(self.port), "--ws", "websockets-sansio",
                "--ws-max-size", str(WEBSOCKET_MAX_MESSAGE_SIZE), "--log-level", "warning",
                "--workers", "1",
                # No keepalive pings (uvicorn's default: every 20 s, whatever the traffic):
                # a ping in the middle of a 12.* case ends it as FAILED, so a case slowed
                # past 20 s by a loaded machine would fail for no protocol reason.
                "--ws-ping-interval", "0",
            ]  # fmt: skip
        if self.kind in GUNICORN_WORKERS:
            worker_class, *options = GUNICORN_WORKERS[self.kind]
            return [
                sys.executable, "-m", "gunicorn", "autobahnproject.wsgi:application",
                "--bind", address, "--workers", "1", "--worker-class", worker_class,
                *options, "--log-level", "warning",
            ]  # fmt: skip
        if self.kind == "websockets":
            return [sys.executable, str(HERE / "websockets_echo.py"), str(self.port)]
        manage = str(HERE / "manage.py")
        return [sys.executable, manage, self.kind, "--noreload", "--skip-checks", address]

    def start(self) -> None:
        REPORTS.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "autobahnproject.settings",
            "PYTHONPATH": os.pathsep.join(
                [str(HERE), str(ROOT / "benchmarks"), os.environ.get("PYTHONPATH", "")]
            ),
        }
        log = (REPORTS / f"{self.kind}.log").open("ab")
        self.process = subprocess.Popen(
            self.command(), env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
        )
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                sys.exit(f"{self.kind} exited with status {self.process.returncode}; see its log")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        sys.exit(f"{self.kind} did not start listening within 60 s")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def url(self, target: str) -> str:
        return f"ws://127.0.0.1:{self.port}{TARGETS[target]}"


def _server_kind(server: str, target: str) -> str:
    if server == "runserver" and target == "raw":
        return "runserver_raw"
    return server


# Running the suite.


async def _fuzz(url: str, include: list[str] | None, exclude: list[str], parallelism: int) -> Any:
    try:
        return await run_fuzzingclient(url, include, exclude or None, concurrency=parallelism)
    except FailureError as failure:  # some case did not pass: judged below, not here
        return failure.results


def run_suite(
    server: Server, target: str, include: list[str] | None, exclude: list[str], *,
    parallelism: int, timeout: float,
) -> tuple[dict[str, Any], float, str | None]:  # fmt: skip
    """Run the selected cases against one target: (results by case id, seconds, error)."""
    start = time.perf_counter()
    try:
        results = asyncio.run(
            asyncio.wait_for(_fuzz(server.url(target), include, exclude, parallelism), timeout)
        )
        error = None
    except (asyncio.TimeoutError, TimeoutError):  # not the builtin TimeoutError before 3.11
        results, error = [], f"did not finish within {timeout:g} s"
    except Exception as exc:  # a crashed client is reported as missing cases, not a traceback
        results, error = [], f"{type(exc).__name__}: {exc}"
    return {r.case_id: r for r in results}, time.perf_counter() - start, error


def plan(args: argparse.Namespace, expected: dict[str, dict[str, dict[str, Any]]]) -> list[Run]:
    """The runs to make: ``--cases`` for everything, ``--full``, or the CI selection.

    ``expected`` is ``expectations()``: each server's listed cases.
    """
    runs = []
    for server in (s for s in SERVERS if s in args.servers):
        for target in (t for t in SERVER_TARGETS[server] if t in args.targets):
            if args.cases:
                runs.append(Run(server, target, list(args.cases), list(args.exclude)))
            elif args.full:
                runs.append(Run(server, target, None, list(args.exclude)))
            elif target == "raw":  # the baseline: the cases not OK here or where compared
                compared = [s for s, base in BASELINE.items() if base == server]
                listed = {case for s in {server, *compared} for case in expected[s]}
                runs.append(Run(server, target, sorted(listed, key=_case_key), list(args.exclude)))
            elif server == "uvicorn":
                runs.append(Run(server, target, None, list(args.exclude)))
            else:  # runserver, gthread, gevent: a sample of the compression groups
                others = [f"{g}.*" for g in COMPRESSION_GROUPS]
                runs.append(Run(server, target, None, [*others, *args.exclude]))
                runs.append(Run(server, target, list(COMPRESSION_SAMPLE), list(args.exclude)))
    # Runs of one server and target (the views' two parts) are merged later.
    return runs


def expectations(document: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """Each server's expected outcomes: {server: {case id: entry}} from ``expected.json``.

    An entry applies to every server; its ``on`` maps a server to the fields that differ
    there (``behavior``, ``behaviorClose``, ``remoteCloseCode``, ``why`` ...). A case that
    comes out OK/OK for a server is not listed for it.
    """
    by_server: dict[str, dict[str, dict[str, Any]]] = {server: {} for server in SERVERS}
    for case_id, entry in document["cases"].items():
        for server in SERVERS:
            merged = {k: v for k, v in entry.items() if k != "on"}
            merged.update(entry.get("on", {}).get(server, {}))
            if (merged["behavior"], merged["behaviorClose"]) != ("OK", "OK"):
                by_server[server][case_id] = merged
    return by_server


# Judging.


def _outcome(result: Any) -> dict[str, Any]:
    return {
        "behavior": result.behavior.value,
        "behaviorClose": result.behavior_close.value,
        "remoteCloseCode": result.remote_close_code,
    }


def _worse(actual: dict[str, Any], reference: dict[str, Any]) -> bool:
    """Whether ``actual`` is a worse outcome than ``reference`` (ERROR and unknowns: 9)."""
    behavior = BEHAVIOR_RANK.get(actual["behavior"], 9)
    close = CLOSE_RANK.get(actual["behaviorClose"], 1)
    return behavior > BEHAVIOR_RANK.get(reference["behavior"], 9) or close > CLOSE_RANK.get(
        reference["behaviorClose"], 1
    )


def _fails(outcome: dict[str, Any]) -> bool:
    """Whether Autobahn counts the outcome as a failure (not OK, NON-STRICT or INFORMATIONAL)."""
    return outcome["behavior"] not in PASSING or outcome["behaviorClose"] not in CLOSE_RANK


def judge(
    results: dict[tuple[str, str], dict[str, Any]],
    expected: dict[str, dict[str, dict[str, Any]]],
) -> tuple[list[str], list[str]]:
    """Return (regressions, notes) for every server, target and case.

    ``expected`` is ``expectations()``; a view is also compared with its server's
    ``BASELINE`` (the raw echo of the same ASGI server, or the websockets server).
    """
    regressions: list[str] = []
    notes: list[str] = []
    default = {"behavior": "OK", "behaviorClose": "OK"}
    for (server, target), by_case in results.items():
        name = f"{server} {target}"
        if not by_case:
            regressions.append(f"{name}: no case ran")
        baseline_server = BASELINE.get(server, server)
        raw = results.get((baseline_server, "raw"), {})
        listed = expected[server]
        for case_id, result in sorted(by_case.items(), key=lambda kv: _case_key(kv[0])):
            actual = _outcome(result)
            wanted = listed.get(case_id, default)
            shown = f"{actual['behavior']}/{actual['behaviorClose']} ({actual['remoteCloseCode']})"
            if _worse(actual, wanted):
                regressions.append(
                    f"{name} {case_id}: {shown}, expected "
                    f"{wanted['behavior']}/{wanted['behaviorClose']}"
                )
            elif _worse(wanted, actual):
                notes.append(
                    f"{name} {case_id}: {shown}, better than expected "
                    f"{wanted['behavior']}/{wanted['behaviorClose']} (update expected.json?)"
                )
            if target in VIEWS and case_id in raw:
                baseline = _outcome(raw[case_id])
                if _fails(actual) and not _fails(baseline):
                    regressions.append(
                        f"{name} {case_id}: {shown}, but raw on {baseline_server} passes: "
                        f"{baseline['behavior']}/{baseline['behaviorClose']} "
                        f"({baseline['remoteCloseCode']})"
                    )
            if case_id.split(".")[0] in COMPRESSION_GROUPS and (
                "permessage-deflate" not in (result.http_response or "").lower()
            ):
                regressions.append(f"{name} {case_id}: permessage-deflate was not negotiated")
            code = wanted.get("remoteCloseCode")
            if case_id in listed and code is not None and code != actual["remoteCloseCode"]:
                notes.append(
                    f"{name} {case_id}: close code {actual['remoteCloseCode']}, "
                    f"expected.json says {code}"
                )
    return regressions, notes


def _case_key(case_id: str) -> list[int]:
    return [int(part) for part in case_id.split(".")]


# Reporting.


def summarize(
    results: dict[tuple[str, str], dict[str, Any]], seconds: dict[tuple[str, str], float]
) -> list[dict[str, Any]]:
    """Count the outcomes of each server and target."""
    rows = []
    for (server, target), by_case in results.items():
        counts = Counter(r.behavior.value for r in by_case.values())
        unclean = sum(
            1 for r in by_case.values() if r.behavior_close.value not in ("OK", "INFORMATIONAL")
        )
        rows.append(
            {
                "server": server,
                "target": target,
                "cases": len(by_case),
                **{label: counts.get(label, 0) for label in (*PASSING, "FAILED", "UNIMPLEMENTED")},
                "other": sum(counts.values())
                - sum(counts.get(k, 0) for k in (*PASSING, "FAILED", "UNIMPLEMENTED")),
                "close not OK": unclean,
                "seconds": round(seconds[(server, target)], 1),
            }
        )
    return rows


def print_summary(rows: list[dict[str, Any]]) -> None:
    columns = ["cases", *PASSING, "FAILED", "UNIMPLEMENTED", "other", "close not OK", "seconds"]
    print()
    print(f"{'server':<11}{'target':<7}" + "".join(f"{c:>{len(c) + 2}}" for c in columns))
    for row in rows:
        cells = "".join(f"{row[c]:>{len(c) + 2}}" for c in columns)
        print(f"{row['server']:<11}{row['target']:<7}{cells}")


def write_combined_report(results: dict[tuple[str, str], dict[str, Any]], outdir: Path) -> None:
    """Autobahn's HTML report, one column ("agent") per server and target."""
    renamed = [
        _Renamed(result, f"{server}-{target}")
        for (server, target), by_case in results.items()
        for _, result in sorted(by_case.items(), key=lambda kv: _case_key(kv[0]))
    ]
    write_reports(renamed, str(outdir))


# Group 9 timing.

GROUP9 = {
    "9.1": "text, 64 KiB to 16 MiB, one frame",
    "9.2": "binary, 64 KiB to 16 MiB, one frame",
    "9.3": "text, 4 MiB in fragments of 64 B to 4 MiB",
    "9.4": "binary, 4 MiB in fragments of 64 B to 4 MiB",
    "9.5": "text, 1 MiB sent in chops of 64 B to 2 KiB",
    "9.6": "binary, 1 MiB sent in chops of 64 B to 2 KiB",
    "9.7": "1000 text messages of 0 B to 4 KiB, round trips",
    "9.8": "1000 binary messages of 0 B to 4 KiB, round trips",
}


def timed_targets(args: argparse.Namespace) -> list[tuple[str, str]]:
    """The (server, target) pairs of the group 9 timing, the baseline (uvicorn raw) first.

    uvicorn's raw, sync and async; with gthread among the servers, its sync and async
    views and the websockets server's echo too.
    """
    pairs = []
    if "uvicorn" in args.servers:
        pairs += [("uvicorn", t) for t in SERVER_TARGETS["uvicorn"] if t in args.targets]
    if "gthread" in args.servers:
        pairs += [("gthread", t) for t in SERVER_TARGETS["gthread"] if t in args.targets]
        pairs += [("websockets", "raw")] if "raw" in args.targets else []
    return pairs


def _column(server: str, target: str) -> str:
    return f"{server}-{target}"


def time_group9(
    servers: dict[str, Server], pairs: list[tuple[str, str]], rounds: int, timeout: float
) -> dict[str, Any]:
    """Run group 9 ``rounds`` times, targets interleaved; median ms per case and target.

    One case at a time, whatever ``--parallelism`` says: cases run side by side would
    time each other. The results are keyed by ``server-target``.
    """
    durations: dict[str, dict[str, list[int]]] = {_column(*pair): {} for pair in pairs}
    failures: list[str] = []
    for number in range(1, rounds + 1):
        for server, target in pairs:
            column = _column(server, target)
            by_case, seconds, error = run_suite(
                servers[_server_kind(server, target)], target, ["9.*"], [],
                parallelism=1, timeout=timeout,
            )  # fmt: skip
            if error:
                failures.append(f"round {number} {column}: {error}")
            for case_id, result in by_case.items():
                durations[column].setdefault(case_id, []).append(result.duration)
                if result.behavior.value not in PASSING:
                    failures.append(f"round {number} {column} {case_id}: {result.behavior.value}")
            total = sum(r.duration for r in by_case.values())
            print(
                f"group 9 round {number} {column:<16} {total:>6} ms of cases ({seconds:.1f} s)",
                flush=True,
            )
            time.sleep(0.5)
    medians = {
        column: {case: statistics.median(values) for case, values in by_case.items()}
        for column, by_case in durations.items()
    }
    return {"rounds": rounds, "median_ms": medians, "failures": failures}


def print_group9(timing: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Print per-subgroup sums of the median case durations and the ratios to the first."""
    medians = timing["median_ms"]
    columns = list(medians)
    baseline = columns[0]
    table: dict[str, dict[str, float]] = {}
    for subgroup in [*GROUP9, "9"]:
        prefix = subgroup + "."
        table[subgroup] = {
            column: sum(ms for case, ms in by_case.items() if case.startswith(prefix))
            for column, by_case in medians.items()
        }
    print()
    print(f"group 9: sum of per-case median durations over {timing['rounds']} rounds, in ms")
    print(f"(x: the ratio to {baseline})")
    width = max(len(c) for c in columns) + 2
    print(f"{'cases':<9}" + "".join(f"{c:>{width}}{'x':>6}" for c in columns))
    for subgroup, row in table.items():
        base = row[baseline] or 1
        cells = "".join(f"{row[c]:>{width}.0f}{row[c] / base:>6.2f}" for c in columns)
        print(f"{subgroup + ('.*' if subgroup != '9' else '.* all'):<9}{cells}")
    for subgroup, what in GROUP9.items():
        print(f"  {subgroup}.*: {what}")
    total = table["9"]
    for column in columns[1:]:
        if baseline != "uvicorn-raw" or column.split("-")[1] not in VIEWS:
            continue  # the target is a ratio to the raw ASGI echo
        ratio = total[column] / (total[baseline] or 1)
        verdict = "MET" if ratio <= TIMING_GOAL else "NOT MET"
        print(f"  {column} group 9 <= {TIMING_GOAL} x {baseline}: {ratio:.2f} x -> {verdict}")
    for failure in timing["failures"]:
        print(f"  timing run did not pass: {failure}")
    return table


# Main.


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--full", action="store_true", help="every case on every server and target (about 45 min)"
    )
    parser.add_argument(
        "--cases",
        action="append",
        metavar="CASE",
        help="case id or glob to run on every server and target (repeatable)",
    )
    parser.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="CASE",
        help="case id or glob to leave out (repeatable)",
    )
    parser.add_argument(
        "--servers",
        default=",".join(SERVERS),
        help=f"comma-separated subset of {','.join(SERVERS)} (all)",
    )
    parser.add_argument(
        "--targets",
        default=",".join(TARGETS),
        help="comma-separated subset of raw,sync,async (all)",
    )
    parser.add_argument(
        "--parallelism", type=int, default=2, help="cases kosoku runs at once; timing: 1 (2)"
    )
    parser.add_argument(
        "--timing-rounds",
        type=int,
        default=3,
        help="rounds of group 9 timing (uvicorn, gthread); 0 skips it (3)",
    )
    parser.add_argument(
        "--timing-only",
        action="store_true",
        help="run no conformance case, only the group 9 timing",
    )
    parser.add_argument(
        "--timeout", type=float, default=1800, help="seconds one run of the suite may take (1800)"
    )
    args = parser.parse_args(argv)
    args.servers = {s.strip() for s in args.servers.split(",") if s.strip()}
    args.targets = {t.strip() for t in args.targets.split(",") if t.strip()}
    if args.servers - set(SERVERS) or not args.servers:
        parser.error(f"unknown servers: {args.servers - set(SERVERS)}")
    if args.targets - set(TARGETS) or not args.targets:
        parser.error(f"unknown targets: {args.targets - set(TARGETS)}")

    expected = expectations(json.loads(EXPECTED_FILE.read_text()))
    runs = [] if args.timing_only else plan(args, expected)
    REPORTS.mkdir(parents=True, exist_ok=True)
    for stale in [*REPORTS.glob("*.log"), *REPORTS.glob("*_case_*.*")]:
        stale.unlink()  # a previous run's server logs and case pages

    results: dict[tuple[str, str], dict[str, Any]] = {}
    seconds: dict[tuple[str, str], float] = {}
    errors: list[str] = []
    started = time.perf_counter()
    servers: dict[str, Server] = {}
    timing = None
    try:
        for run in runs:
            kind = _server_kind(run.server, run.target)
            if kind not in servers:
                servers[kind] = Server(kind, _free_port())
                servers[kind].start()
            print(
                f"{run.name}: cases {' '.join(run.include or ['all'])}"
                + (f" except {' '.join(run.exclude)}" if run.exclude else ""),
                flush=True,
            )
            by_case, took, error = run_suite(
                servers[kind], run.target, run.include, run.exclude,
                parallelism=args.parallelism, timeout=args.timeout,
            )  # fmt: skip
            key = (run.server, run.target)
            results.setdefault(key, {}).update(by_case)
            seconds[key] = seconds.get(key, 0.0) + took
            if error:
                errors.append(f"{run.name}: {error}")
            counts = Counter(r.behavior.value for r in by_case.values())
            print(
                f"  {len(by_case)} cases in {took:.0f} s: "
                + ", ".join(f"{n} {label}" for label, n in counts.most_common()),
                flush=True,
            )
        pairs = timed_targets(args)
        if args.timing_rounds and pairs and not args.cases:
            for server, target in pairs:
                kind = _server_kind(server, target)
                if kind not in servers:
                    servers[kind] = Server(kind, _free_port())
                    servers[kind].start()
            timing = time_group9(servers, pairs, args.timing_rounds, args.timeout)
    finally:
        for server in servers.values():
            server.stop()

    regressions, notes = judge(results, expected)
    regressions[:0] = errors
    rows = summarize(results, seconds)
    write_combined_report(results, REPORTS)
    summary: dict[str, Any] = {
        "mode": "cases" if args.cases else "full" if args.full else "ci",
        "seconds": round(time.perf_counter() - started, 1),
        "summary": rows,
        "regressions": regressions,
        "notes": notes,
    }
    print_summary(rows)
    if timing is not None:
        summary["group9"] = {"table_ms": print_group9(timing), **timing}
    (REPORTS / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")

    print()
    for note in notes:
        print(f"note: {note}")
    for regression in regressions:
        print(f"REGRESSION: {regression}")
    print(f"report: {REPORTS / 'index.html'}; took {summary['seconds']:.0f} s")
    if regressions:
        print(f"conformance: {len(regressions)} regressions")
        return 1
    print("conformance: every case as expected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
