#!/usr/bin/env python3
"""Autobahn TestSuite conformance: a raw ASGI echo, a sync view and an async view.

kosoku (the Autobahn TestSuite's case files, run under Python 3 by a Rust client) drives
the echo endpoints of the conformance project on two servers:

* ``uvicorn``: ``uvicorn benchproject.router:application --ws websockets-sansio
  --ws-max-size 16 MiB``, serving ``/raw`` (the raw ASGI echo, no Django), ``/sync`` and
  ``/async`` (the benchmark's echo views) from one process;
* ``runserver``: ``conformance/manage.py runserver --noreload`` for ``/sync`` and
  ``/async``, and ``manage.py runserver_raw --noreload`` (the same command with the raw
  echo at ``/raw``) for the raw baseline.

``WEBSOCKET_MAX_MESSAGE_SIZE`` is 16 MiB in ``autobahnproject/settings.py`` (group 9
sends messages of up to 16 MiB; the library's default is 1 MiB).

Each case's outcome is compared with ``conformance/expected.json`` (every case OK unless
listed there, with the reason and the raw app's identical outcome as evidence) and, for
the views, with the raw echo's outcome on the same server in the same run. The run fails
(exit status 1) when a case is worse than expected, when a view fails a case (FAILED,
UNIMPLEMENTED, ERROR, or a failed closing handshake) that raw passes, when a run yields
no result, or when a compression case (12.*, 13.*) did not negotiate permessage-deflate.
Outcomes better than expected are printed, not failed.

Then group 9 (large and fragmented messages, timed) runs ``--timing-rounds`` times on
uvicorn, raw / sync / async interleaved, and the per-subgroup durations (medians over the
rounds) are printed next to raw's, with the 1.2 x raw target as MET / NOT MET (timing is
reported, never failed: the machine is shared).

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

SERVERS = ("uvicorn", "runserver")
TARGETS = {"raw": "/raw", "sync": "/sync", "async": "/async"}
VIEWS = ("sync", "async")
EXPECTED_FILE = HERE / "expected.json"
REPORTS = ROOT / "reports" / "conformance"

# How bad an outcome is: a larger rank is worse. OK and INFORMATIONAL both pass.
BEHAVIOR_RANK = {"OK": 0, "INFORMATIONAL": 0, "NON-STRICT": 1, "UNIMPLEMENTED": 2, "FAILED": 3}
CLOSE_RANK = {"OK": 0, "INFORMATIONAL": 0}  # anything else (WRONG CODE, UNCLEAN, ...): 1
PASSING = ("OK", "NON-STRICT", "INFORMATIONAL")
COMPRESSION_GROUPS = ("12", "13")
TIMING_GOAL = 1.2  # a view's group 9 time at most this many times raw's

# What CI runs on runserver (besides the raw baseline's listed cases): every case but the
# compression groups, plus a sample of those (the server's permessage-deflate is the
# same as under uvicorn, where the views run all of 12.* and 13.*).
RUNSERVER_SAMPLE = ["12.1.*", *(f"13.{i}.{j}" for i in range(1, 8) for j in range(1, 10))]


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
        self.kind = kind  # "uvicorn", "runserver" or "runserver_raw"
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
            ]  # fmt: skip
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


def plan(args: argparse.Namespace, expected_cases: list[str]) -> list[Run]:
    """The runs to make: ``--cases`` for everything, ``--full``, or the CI selection."""
    servers = [s for s in SERVERS if s in args.servers]
    targets = [t for t in TARGETS if t in args.targets]
    runs = []
    for server in servers:
        for target in targets:
            if args.cases:
                runs.append(Run(server, target, list(args.cases), list(args.exclude)))
            elif args.full:
                runs.append(Run(server, target, None, list(args.exclude)))
            elif target == "raw":  # the baseline for the cases the server decides
                runs.append(Run(server, target, list(expected_cases), list(args.exclude)))
            elif server == "uvicorn":
                runs.append(Run(server, target, None, list(args.exclude)))
            else:
                others = [f"{g}.*" for g in COMPRESSION_GROUPS]
                runs.append(Run(server, target, None, [*others, *args.exclude]))
                runs.append(Run(server, target, list(RUNSERVER_SAMPLE), list(args.exclude)))
    # Runs of one server and target (runserver's views in two parts) are merged later.
    return runs


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
    results: dict[tuple[str, str], dict[str, Any]], expected: dict[str, dict[str, Any]]
) -> tuple[list[str], list[str]]:
    """Return (regressions, notes) for every server, target and case."""
    regressions: list[str] = []
    notes: list[str] = []
    default = {"behavior": "OK", "behaviorClose": "OK"}
    for (server, target), by_case in results.items():
        name = f"{server} {target}"
        if not by_case:
            regressions.append(f"{name}: no case ran")
        raw = results.get((server, "raw"), {})
        for case_id, result in sorted(by_case.items(), key=lambda kv: _case_key(kv[0])):
            actual = _outcome(result)
            wanted = expected.get(case_id, default)
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
                        f"{name} {case_id}: {shown}, but raw on {server} passes: "
                        f"{baseline['behavior']}/{baseline['behaviorClose']} "
                        f"({baseline['remoteCloseCode']})"
                    )
            if case_id.split(".")[0] in COMPRESSION_GROUPS and (
                "permessage-deflate" not in (result.http_response or "").lower()
            ):
                regressions.append(f"{name} {case_id}: permessage-deflate was not negotiated")
            code = wanted.get("remoteCloseCode")
            if case_id in expected and code is not None and code != actual["remoteCloseCode"]:
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


def time_group9(server: Server, rounds: int, timeout: float) -> dict[str, Any]:
    """Run group 9 ``rounds`` times, targets interleaved; median ms per case and target.

    One case at a time, whatever ``--parallelism`` says: cases run side by side would
    time each other.
    """
    durations: dict[str, dict[str, list[int]]] = {t: {} for t in TARGETS}
    failures: list[str] = []
    for number in range(1, rounds + 1):
        for target in TARGETS:
            by_case, seconds, error = run_suite(
                server, target, ["9.*"], [], parallelism=1, timeout=timeout
            )
            if error:
                failures.append(f"round {number} {target}: {error}")
            for case_id, result in by_case.items():
                durations[target].setdefault(case_id, []).append(result.duration)
                if result.behavior.value not in PASSING:
                    failures.append(f"round {number} {target} {case_id}: {result.behavior.value}")
            total = sum(r.duration for r in by_case.values())
            print(
                f"group 9 round {number} {target:<6} {total:>6} ms of cases ({seconds:.1f} s)",
                flush=True,
            )
            time.sleep(0.5)
    medians = {
        target: {case: statistics.median(values) for case, values in by_case.items()}
        for target, by_case in durations.items()
    }
    return {"rounds": rounds, "median_ms": medians, "failures": failures}


def print_group9(timing: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Print per-subgroup sums of the median case durations and the ratios to raw."""
    medians = timing["median_ms"]
    table: dict[str, dict[str, float]] = {}
    for subgroup in [*GROUP9, "9"]:
        prefix = subgroup + "."
        table[subgroup] = {
            target: sum(ms for case, ms in by_case.items() if case.startswith(prefix))
            for target, by_case in medians.items()
        }
    print()
    print(f"group 9 on uvicorn: sum of per-case median durations over {timing['rounds']} rounds")
    print(f"{'cases':<7}{'raw ms':>9}{'sync ms':>9}{'x raw':>7}{'async ms':>10}{'x raw':>7}  what")
    for subgroup, row in table.items():
        raw = row["raw"] or 1
        print(
            f"{subgroup + ('.*' if subgroup != '9' else '.* all'):<7}{row['raw']:>9.0f}"
            f"{row['sync']:>9.0f}{row['sync'] / raw:>7.2f}"
            f"{row['async']:>10.0f}{row['async'] / raw:>7.2f}  {GROUP9.get(subgroup, '')}"
        )
    total = table["9"]
    for view in VIEWS:
        ratio = total[view] / (total["raw"] or 1)
        verdict = "MET" if ratio <= TIMING_GOAL else "NOT MET"
        print(f"  {view} group 9 <= {TIMING_GOAL} x raw: {ratio:.2f} x -> {verdict}")
    for failure in timing["failures"]:
        print(f"  timing run did not pass: {failure}")
    return table


# Main.


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--full", action="store_true", help="every case on every server and target (about 25 min)"
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
        help="comma-separated subset of uvicorn,runserver (both)",
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
        help="rounds of group 9 timing on uvicorn; 0 skips it (3)",
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

    expected_doc = json.loads(EXPECTED_FILE.read_text())
    expected: dict[str, dict[str, Any]] = expected_doc["cases"]
    runs = plan(args, sorted(expected, key=_case_key))
    REPORTS.mkdir(parents=True, exist_ok=True)
    for log in REPORTS.glob("*.log"):
        log.unlink()

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
        if args.timing_rounds and "uvicorn" in args.servers and not args.cases:
            if "uvicorn" not in servers:
                servers["uvicorn"] = Server("uvicorn", _free_port())
                servers["uvicorn"].start()
            timing = time_group9(servers["uvicorn"], args.timing_rounds, args.timeout)
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
