"""The bounded inbox between the reader task and a view."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from django_websocket.inbox import Inbox


def test_maxsize_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Inbox(0, asyncio.new_event_loop())


async def test_async_get_waits_for_put_and_returns_none_once_finished() -> None:
    inbox = Inbox(4, asyncio.get_running_loop())
    getter = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    inbox.put("hello")
    assert await getter == "hello"
    inbox.finish()
    assert await inbox.get() is None


async def test_async_get_times_out_with_timeout_error() -> None:
    inbox = Inbox(4, asyncio.get_running_loop())
    with pytest.raises(TimeoutError):
        await inbox.get(timeout=0.05)
    inbox.put("after")  # the timed-out waiter is gone; the message waits
    assert await inbox.get() == "after"


async def test_blocking_get_is_woken_from_the_loop() -> None:
    inbox = Inbox(4, asyncio.get_running_loop())
    result = asyncio.get_running_loop().run_in_executor(None, inbox.get_blocking, 5)
    await asyncio.sleep(0.05)
    inbox.put(b"bytes")
    assert await result == b"bytes"


async def test_blocking_get_times_out() -> None:
    inbox = Inbox(4, asyncio.get_running_loop())
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await asyncio.get_running_loop().run_in_executor(None, inbox.get_blocking, 0.1)
    assert time.monotonic() - started >= 0.1


async def test_full_inbox_makes_the_reader_wait_until_a_thread_takes_one() -> None:
    inbox = Inbox(2, asyncio.get_running_loop())
    inbox.put("a")
    inbox.put("b")
    room = asyncio.create_task(inbox.wait_for_room())
    await asyncio.sleep(0.05)
    assert not room.done()
    taker = threading.Thread(target=inbox.get_nowait)
    taker.start()
    taker.join()
    await asyncio.wait_for(room, 1)
    assert len(inbox) == 1


async def test_get_nowait_returns_none_when_empty() -> None:
    inbox = Inbox(2, asyncio.get_running_loop())
    assert inbox.get_nowait() is None


async def test_finish_wakes_every_blocked_thread_and_put_wakes_one_per_message() -> None:
    loop = asyncio.get_running_loop()
    inbox = Inbox(8, loop)
    waiting = [loop.run_in_executor(None, inbox.get_blocking, 5) for _ in range(3)]
    await asyncio.sleep(0.05)
    inbox.put("one")
    inbox.put("two")
    await asyncio.sleep(0.05)
    assert sorted(w.result() for w in waiting if w.done()) == ["one", "two"]
    inbox.finish()
    assert (await asyncio.gather(*waiting)).count(None) == 1


async def test_a_blocked_thread_that_times_out_leaves_no_stale_wake_up_behind() -> None:
    loop = asyncio.get_running_loop()
    inbox = Inbox(8, loop)
    with pytest.raises(TimeoutError):
        await loop.run_in_executor(None, inbox.get_blocking, 0.05)
    later = loop.run_in_executor(None, inbox.get_blocking, 5)
    await asyncio.sleep(0.05)
    inbox.put("for the second wait")
    # Woken by the put, not by its own 5 s timeout running out.
    assert await asyncio.wait_for(asyncio.shield(later), 1) == "for the second wait"
