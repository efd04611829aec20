"""The floor under a blocking sync echo view: thread hand-overs alone, no I/O.

Each of ``--threads`` threads plays a sync echo view: it waits on a lock that the event
loop releases (a message arrives), then calls back into the loop through the loop's
``LoopBridge`` and blocks until the loop has run the call (``send()``), which schedules
the thread's next message. That is the three crossings per message of
``WebSocket.wait()`` + ``WebSocket.send()``, with no sockets, no WebSocket framing and
no Django. The rate it prints bounds what any sync view with a blocking ``send()`` can
do on this machine and interpreter, before the server's own work per message.

    .venv/bin/python benchmarks/handoff.py                   # --threads 50 --seconds 3
    taskset -c 0 .venv/bin/python benchmarks/handoff.py      # on one CPU
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import threading
import time

from django_websocket.bridge import bridge_for


async def measure(threads: int, seconds: float) -> float:
    """Return hand-over round trips per second over ``seconds``."""
    loop = asyncio.get_running_loop()
    bridge = bridge_for(loop)
    arrivals = [threading.Semaphore(0) for _ in range(threads)]
    count = 0
    running = True

    async def send(view: int) -> None:
        nonlocal count
        count += 1
        loop.call_soon(arrivals[view].release)  # the echo comes back: the next message

    def view(number: int) -> None:
        while True:
            arrivals[number].acquire()  # wait()
            if not running:
                return
            bridge.call(send(number))  # send()

    workers = [threading.Thread(target=view, args=(n,), daemon=True) for n in range(threads)]
    for worker in workers:
        worker.start()
    for arrival in arrivals:
        arrival.release()
    await asyncio.sleep(0.5)  # warm-up
    start_count, start = count, time.perf_counter()
    await asyncio.sleep(seconds)
    rate = (count - start_count) / (time.perf_counter() - start)
    running = False
    for arrival in arrivals:
        arrival.release()
    for worker in workers:
        await loop.run_in_executor(None, worker.join, 5)
    return rate


def main() -> None:
    """Parse the flags, measure ``--rounds`` times and print the median."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=50, help="view threads (50)")
    parser.add_argument("--seconds", type=float, default=3.0, help="measured s per round (3)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (3)")
    args = parser.parse_args()
    rates = [asyncio.run(measure(args.threads, args.seconds)) for _ in range(args.rounds)]
    rate = statistics.median(rates)
    print(
        f"{args.threads} threads: median {rate:,.0f} hand-over round trips/s "
        f"({1e6 / rate:.1f} us each; rounds: {', '.join(f'{r:,.0f}' for r in rates)})"
    )


if __name__ == "__main__":
    main()
