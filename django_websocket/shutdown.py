"""Close every WebSocket with 1001 on SIGTERM and SIGINT, before the server's own shutdown.

On uvicorn (``uvicorn``, its ``--workers`` processes, gunicorn's uvicorn workers and
``manage.py runserver --noreload``) a signal makes the server close every WebSocket
itself with 1012, and only then send the lifespan ``shutdown`` event: too late for the
library's 1001 "server shutting down". uvicorn handles both signals with a plain Python
handler (``Server.handle_exit``, installed with ``signal.signal``) before it runs lifespan
startup, so on lifespan startup :class:`SignalChain` puts its own handler in front of it.
On the first signal that handler closes every connection (at most
:data:`CLOSE_TIMEOUT` seconds, all at once), then calls the server's handler, whose
shutdown finds the sockets already closed. A second signal while the close runs goes
to the server's handler at once (uvicorn's second Ctrl-C still forces the exit).

Nothing is chained where it could not run first: off the main thread (signals are only
delivered there: runserver's autoreloader serves from another thread), and where the
previous handler is not a Python function or method: ``SIG_DFL``/``SIG_IGN``, Python's
``KeyboardInterrupt`` raiser, and the no-op that ``loop.add_signal_handler`` installs
(the loop would run the server's handler itself, without us). So hypercorn, daphne and
granian keep their own behaviour; docs/deployment.md has what each server does.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import signal
import threading
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import Any

__all__ = ["CLOSE_TIMEOUT", "SIGNALS", "SignalChain"]

SIGNALS = (signal.SIGTERM, signal.SIGINT)
CLOSE_TIMEOUT = 5.0  # seconds for the close before the server's shutdown goes ahead

logger = logging.getLogger("django_websocket")

Handler = Callable[[int, FrameType | None], Any]


def chainable(handler: object) -> bool:
    """Whether ``handler`` is a Python handler that a handler of ours can call after.

    A function or bound method, but not the no-op of ``loop.add_signal_handler``
    (asyncio's and uvloop's are both called ``_sighandler_noop``).
    """
    if not (inspect.isfunction(handler) or inspect.ismethod(handler)):
        return False
    return getattr(handler, "__name__", "") != "_sighandler_noop"


class SignalChain:
    """Run ``close`` on the first SIGTERM or SIGINT, then the handler it replaced.

    Args:
        close: the coroutine function to await on the loop when a signal arrives.
        timeout: seconds to wait for it before calling the previous handler anyway.
    """

    def __init__(
        self, close: Callable[[], Awaitable[None]], timeout: float = CLOSE_TIMEOUT
    ) -> None:
        self.close = close
        self.timeout = timeout
        self.previous: dict[int, Handler] = {}  # the handlers ours replaced
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: int | None = None  # the signal whose close is running
        self._forwarded = False  # the first signal has reached the previous handler
        self._task: asyncio.Task[None] | None = None

    def install(self) -> None:
        """Chain in front of each chainable handler. Call on the loop, at lifespan startup."""
        if threading.current_thread() is not threading.main_thread():
            return
        self._loop = asyncio.get_running_loop()
        for signum in SIGNALS:
            previous = signal.getsignal(signum)
            if chainable(previous):
                self.previous[signum] = previous  # type: ignore[assignment]
                signal.signal(signum, self._handle)

    def restore(self) -> None:
        """Put the previous handlers back where ours is still the one installed."""
        if threading.current_thread() is not threading.main_thread():
            return
        for signum, handler in self.previous.items():
            if signal.getsignal(signum) == self._handle:
                signal.signal(signum, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        # Runs in the main thread between two bytecodes of whatever it was running (often
        # the loop itself): hand over to the loop, do nothing else here.
        if self._pending is None and not self._forwarded and self._loop is not None:
            try:
                self._loop.call_soon_threadsafe(self._start, signum)
            except RuntimeError:  # the loop is closed: nothing left to close
                pass
            else:
                self._pending = signum
                return
        if not self._forwarded and self._pending is not None:
            self._forward(self._pending)  # the first signal first, then this one
        self._forward(signum)

    def _start(self, signum: int) -> None:
        if not self._forwarded:
            self._task = asyncio.ensure_future(self._close_then_forward(signum))

    async def _close_then_forward(self, signum: int) -> None:
        closing = asyncio.ensure_future(self.close())
        closing.add_done_callback(_log_failure)
        await asyncio.wait([closing], timeout=self.timeout)  # past it, the server goes on
        if not self._forwarded:
            self._forward(signum)

    def _forward(self, signum: int) -> None:
        self._forwarded = True
        handler = self.previous.get(signum)
        if handler is not None:
            handler(signum, None)


def _log_failure(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("Closing WebSockets on shutdown failed", exc_info=task.exception())
