"""A connection's own thread for its sync code, there only while that code has work.

Django runs sync middleware, sync views and an async view's ORM calls "thread-sensitively"
(``sync_to_async(thread_sensitive=True)``): one call at a time, in the thread of the
request's ``ThreadSensitiveContext``. asgiref's executor keeps that thread until the
context ends, which for a WebSocket is when the socket closes: a thread per idle socket.

:class:`ConnectionThread` keeps the rule (one call at a time per connection) without
keeping the thread. It takes a thread when a call comes and none serves it; the thread
lets go of the connection once its async view waits for a message
(:meth:`ConnectionThread.idle`) or it has had no work for :data:`LINGER` seconds, after
giving back its database connections (:func:`django_websocket.db.release`). A thread
that keeps a connection (``CONN_MAX_AGE > 0``) stays with it. A thread let go of waits,
as one of at most :data:`SPARES` per process, up to :data:`SPARE_LINGER` seconds for
the next connection that needs one (starting a thread costs far more than waking one),
then ends. So sync code an async view calls may run in another thread after each wait:
thread-local state does not outlive a wait.
"""

from __future__ import annotations

import contextvars
import inspect
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Protocol, TypeVar

from asgiref.sync import SyncToAsync, ThreadSensitiveContext
from django.db import connections

from .. import db

__all__ = ["LINGER", "ConnectionThread", "current_thread", "thread_sensitive"]

T = TypeVar("T")

logger = logging.getLogger("django_websocket")

LINGER = 1.0
"""Seconds a connection's thread waits for more work before it ends (if it holds nothing)."""

SPARES = 8
"""Threads that wait, with no connection, for the next connection that needs one."""

SPARE_LINGER = 10.0
"""Seconds a spare thread waits for a connection before it ends."""

_IDLE = object()  # the view waits for a message: give the database back, then end
_SHUTDOWN = object()  # the connection is over


class _Owner(Protocol):
    """Who :meth:`ConnectionThread.watch` tells: the asyncio driver's connection."""

    def sync_code_ran(self, thread: ConnectionThread) -> None: ...


_current: contextvars.ContextVar[ConnectionThread | None] = contextvars.ContextVar(
    "django_websocket_connection_thread", default=None
)


class ConnectionThread:
    """Run submitted calls one at a time, on a thread that exists only while needed.

    An executor for asgiref and ``loop.run_in_executor`` (``submit``, ``shutdown``);
    not a ``concurrent.futures.Executor`` subclass, whose instance dictionary every
    idle socket would keep.

    All methods but the thread's own work are meant for the event loop's thread.
    """

    __slots__ = ("_idle_sent", "_jobs", "_lock", "_owner", "_served", "_shut")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # The calls for the thread, there only while a thread serves this connection: an
        # idle socket keeps no queue.
        self._jobs: queue.SimpleQueue[Any] | None = None
        self._served = False  # a thread serves this connection
        self._idle_sent = True  # nothing ran since the last idle()
        self._shut = False
        self._owner: _Owner | None = None  # see watch()

    @property
    def running(self) -> bool:
        """Whether a thread serves this connection right now."""
        return self._served

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        """Run ``fn(*args, **kwargs)`` after the calls submitted before it."""
        future: Future[T] = Future()
        with self._lock:
            if self._shut:
                raise RuntimeError("cannot run new calls after the connection ended")
            if self._idle_sent:
                self._idle_sent = False
                if self._owner is not None:
                    self._owner.sync_code_ran(self)
            if self._jobs is None:
                self._jobs = queue.SimpleQueue()
            self._jobs.put((future, fn, args, kwargs))
            if not self._served:
                self._served = True
                _serve(self)
        return future

    def watch(self, owner: _Owner) -> None:
        """Call ``owner.sync_code_ran(self)`` when a call comes after :meth:`idle`.

        So the owner (the asyncio driver's connection) calls :meth:`idle` only when sync
        code ran, and looks at nothing of the thread's per message. Told at once if a call
        came already (the handshake's sync middleware).
        """
        self._owner = owner
        if not self._idle_sent:
            owner.sync_code_ran(self)

    def idle(self) -> None:
        """Say the view waits for a message: the thread gives its database back and ends.

        Costs nothing when no sync code ran since the last call.
        """
        if self._idle_sent:
            return
        with self._lock:
            self._idle_sent = True
            if self._jobs is not None:  # a thread serves this connection
                self._jobs.put(_IDLE)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """End the thread once its calls are done, closing its database connections.

        Never blocks (the caller is the event loop): ``wait`` is ignored.
        """
        with self._lock:
            self._shut = True
            self._owner = None  # no cycle with the connection outlives it
            if self._jobs is not None:  # a thread serves this connection
                self._jobs.put(_SHUTDOWN)

    def _work(self) -> None:
        # Run this connection's calls in the calling thread until it lets go of it.
        jobs = self._jobs
        if jobs is None:  # cannot happen: submit() made it before it called for a thread
            return
        waited = False  # the view waited for a message since this thread's last call
        holding = False  # a database connection stays open (CONN_MAX_AGE > 0)
        while True:
            try:
                job = jobs.get(timeout=None if holding else LINGER)
            except queue.Empty:
                job = _IDLE
            if job is _SHUTDOWN:
                _tidy(connections.close_all)  # this thread's; pooled ones go back
                with self._lock:
                    self._served = False
                    self._jobs = None
                return
            if job is _IDLE:
                holding = _tidy(db.release)
                waited = True
                if not holding:
                    with self._lock:
                        if jobs.empty():
                            self._served = False
                            self._jobs = None
                            return
                continue
            if waited:  # as Django does before a request: drop what broke or expired
                _tidy(db.release)
                waited = False
            future, fn, args, kwargs = job
            if future.set_running_or_notify_cancel():
                try:
                    result = fn(*args, **kwargs)
                except BaseException as error:
                    future.set_exception(error)
                else:
                    future.set_result(result)
            del job, future, fn, args, kwargs
            holding = False


_spares: list[queue.SimpleQueue[ConnectionThread | None]] = []  # one inbox per spare
_spares_lock = threading.Lock()


def _serve(executor: ConnectionThread) -> None:
    # Hand the connection to a spare thread, or start one.
    with _spares_lock:
        inbox = _spares.pop() if _spares else None
    if inbox is not None:
        inbox.put(executor)
    else:
        threading.Thread(
            target=_thread, args=(executor,), name="django_websocket connection", daemon=True
        ).start()


def _thread(executor: ConnectionThread | None) -> None:
    # A thread's life: serve a connection, then wait as a spare for the next one.
    inbox: queue.SimpleQueue[ConnectionThread | None] = queue.SimpleQueue()
    while executor is not None:
        executor._work()
        del executor
        with _spares_lock:
            if len(_spares) >= SPARES:
                return
            _spares.append(inbox)
        try:
            executor = inbox.get(timeout=SPARE_LINGER)
        except queue.Empty:
            with _spares_lock:
                if inbox in _spares:
                    _spares.remove(inbox)
                    return
            executor = inbox.get()  # taken just now: a connection is on its way


def _tidy(release: Callable[[], bool | None]) -> bool:
    # The thread must go on (or end cleanly) whatever closing a connection raises.
    try:
        return bool(release())
    except Exception:
        logger.exception("Closing a database connection failed")
        return False


def current_thread() -> ConnectionThread | None:
    """Return the connection thread of the running connection, if any."""
    return _current.get()


_EXECUTOR_ARGUMENT = "executor" in inspect.signature(ThreadSensitiveContext).parameters


def thread_sensitive() -> _ThreadSensitive:
    """Run the block's thread-sensitive sync calls on a new :class:`ConnectionThread`.

    ``async with thread_sensitive() as executor:``; the thread ends with the block.
    """
    return _ThreadSensitive()


class _ThreadSensitive:
    # What thread_sensitive() returns: a class rather than an @asynccontextmanager, whose
    # suspended generator would wait, with its frame, for every idle socket's close.

    __slots__ = ("_context", "_executor", "_token")

    async def __aenter__(self) -> ConnectionThread:
        executor = self._executor = ConnectionThread()
        self._token = _current.set(executor)
        try:
            if _EXECUTOR_ARGUMENT:  # asgiref >= 3.13
                context = ThreadSensitiveContext(executor=executor)  # type: ignore[call-arg, arg-type, unused-ignore]
                await context.__aenter__()  # type: ignore[no-untyped-call]
            else:  # what asgiref >= 3.13 does with the argument
                context = ThreadSensitiveContext()
                await context.__aenter__()  # type: ignore[no-untyped-call]
                SyncToAsync.context_to_thread_executor[context] = executor  # type: ignore[assignment, unused-ignore]
        except BaseException:
            self._end()
            raise
        self._context = context
        return executor

    async def __aexit__(self, *exc_info: Any) -> None:
        try:
            if not _EXECUTOR_ARGUMENT:
                SyncToAsync.context_to_thread_executor.pop(self._context, None)
            await self._context.__aexit__(*exc_info)  # type: ignore[no-untyped-call]
        finally:
            self._end()

    def _end(self) -> None:
        self._executor.shutdown()
        _current.reset(self._token)
