"""LoopBridge: coroutines run on the loop for other threads, results and errors come back."""

from __future__ import annotations

import asyncio
import threading

import pytest

from django_websocket import WebSocketError
from django_websocket.bridge import LoopBridge, bridge_for


async def _on_loop(value: int) -> tuple[int, int]:
    await asyncio.sleep(0)  # suspends: the call is not finished in one step
    return value, threading.get_ident()


async def test_call_returns_the_result_computed_on_the_loop() -> None:
    loop = asyncio.get_running_loop()
    bridge = LoopBridge(loop)
    value, thread = await loop.run_in_executor(None, bridge.call, _on_loop(7))
    assert value == 7
    assert thread == threading.get_ident()  # ran on the loop's thread


async def test_call_raises_the_coroutines_exception_in_the_calling_thread() -> None:
    async def fails() -> None:
        raise KeyError("boom")

    bridge = LoopBridge(asyncio.get_running_loop())
    with pytest.raises(KeyError, match="boom"):
        await asyncio.get_running_loop().run_in_executor(None, bridge.call, fails())


async def test_many_threads_calling_at_once_each_get_their_own_result() -> None:
    # Calls made while a wake-up is already pending share it; none may be lost.
    loop = asyncio.get_running_loop()
    bridge = LoopBridge(loop)
    results: dict[int, list[int]] = {}

    def worker(n: int) -> None:
        results[n] = [bridge.call(_on_loop(n * 1000 + i))[0] for i in range(200)]

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    await loop.run_in_executor(None, lambda: [thread.join(30) for thread in threads])
    assert results == {n: [n * 1000 + i for i in range(200)] for n in range(20)}


async def test_one_bridge_per_loop() -> None:
    loop = asyncio.get_running_loop()
    assert bridge_for(loop) is bridge_for(loop)


def test_calling_into_a_closed_loop_raises_instead_of_blocking_for_ever() -> None:
    loop = asyncio.new_event_loop()
    bridge = LoopBridge(loop)
    loop.close()
    for _ in range(2):  # and again: a failed wake-up must not leave the bridge stuck
        coroutine = _on_loop(1)
        with pytest.raises(RuntimeError, match="closed"):
            bridge.call(coroutine)
        assert coroutine.cr_frame is None  # closed, so no "never awaited" warning


async def test_a_call_from_the_loops_own_thread_raises_instead_of_waiting_for_itself() -> None:
    bridge = LoopBridge(asyncio.get_running_loop())
    coroutine = _on_loop(1)
    with pytest.raises(WebSocketError, match="event loop"):
        bridge.call(coroutine)
    assert coroutine.cr_frame is None
