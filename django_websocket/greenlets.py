"""What changes when gevent has monkey-patched the process (gunicorn's gevent worker).

Under gevent, ``threading`` makes greenlets, all in one OS thread; but asyncio allows one
running event loop per OS thread, and every greenlet sees a loop that runs in one of them
as running. So the library's own event loop (the groups' home loop, ``groups/base.py``)
runs in a real OS thread there, on the standard library's selector, and async views are
refused (``wsgi.py``).
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["new_loop_thread", "patched"]


def patched() -> bool:
    """Whether gevent has patched ``threading`` in this process."""
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and bool(monkey.is_module_patched("threading"))


def new_loop_thread(
    name: str, run: Callable[[asyncio.AbstractEventLoop], Any]
) -> asyncio.AbstractEventLoop:
    """Make an event loop and call ``run(loop)`` in a new daemon OS thread.

    Under gevent: a real OS thread and the standard library's selector, not greenlets.
    """
    if not patched():
        loop = asyncio.new_event_loop()
        threading.Thread(target=run, args=(loop,), name=name, daemon=True).start()
        return loop
    from gevent.monkey import get_original  # type: ignore[import-untyped]

    selector = get_original("selectors", "DefaultSelector")()
    loop = asyncio.SelectorEventLoop(selector)
    get_original("_thread", "start_new_thread")(run, (loop,))
    return loop
