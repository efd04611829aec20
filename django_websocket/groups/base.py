"""The groups backend interface, and the local fan-out that every backend shares.

A backend keeps which local sockets are in which group, on one event loop of the process
(the *home loop*): the ASGI server's loop where there is one, or else a loop of the
library's own on a daemon thread (WSGI processes, management commands, shells). A
broadcast is handed to the backend's broker first (:meth:`GroupBackend._publish`, nothing
for the in-memory backend), then offered to every local member. Other processes deliver
what the broker hands them with :meth:`GroupBackend.deliver`.

A member is any driver's connection (:class:`Member`): the backend calls its ``offer``
from the home loop, and each driver makes the message reach its socket without making
the broadcaster wait (see ``outbox.py``).
"""

from __future__ import annotations

import asyncio
import functools
import re
import threading
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar
from typing import Protocol as _Interface

from .. import greenlets, metrics
from ..bridge import bridge_for, running_loop
from ..exceptions import WebSocketError
from ..protocol import Message, Protocol, State, check_message

__all__ = [
    "NAME_MAX_LENGTH",
    "GroupBackend",
    "Member",
    "home_loop",
    "serve_on",
    "validate_group_name",
]

T = TypeVar("T")
NAME_MAX_LENGTH = 100
_NAME = re.compile(r"[A-Za-z0-9._-]+")


class Member(_Interface):
    """What a connection offers the groups backend (both drivers' ``Connection``)."""

    protocol: Protocol

    def offer(self, message: Message) -> bool:
        """Queue ``message`` for the socket without waiting; return whether it was taken."""
        ...

    def stop_offers(self) -> None:
        """Forget what waits to be sent; take no more (the socket left its groups)."""


_server_loop: asyncio.AbstractEventLoop | None = None
_own_loop: asyncio.AbstractEventLoop | None = None
_own_loop_lock = threading.Lock()


def serve_on(loop: asyncio.AbstractEventLoop) -> None:
    """Say that ``loop`` is the process's server loop (the ASGI application calls it)."""
    global _server_loop
    _server_loop = loop


def home_loop() -> asyncio.AbstractEventLoop:
    """Return the process's home loop: the server's, or else one on a daemon thread."""
    global _own_loop
    server = _server_loop
    if server is not None and server.is_running():
        return server
    with _own_loop_lock:
        if _own_loop is None:
            _own_loop = greenlets.new_loop_thread("django_websocket groups", _run_forever)
        return _own_loop


def _run_forever(loop: asyncio.AbstractEventLoop) -> None:
    bridge_for(loop).learn_thread()  # before the loop runs (see bridge.running_loop)
    loop.run_forever()


def validate_group_name(name: str) -> str:
    """Return ``name`` if it can name a group.

    Raises:
        TypeError: ``name`` is not a ``str``.
        ValueError: ``name`` is empty, longer than 100 characters, or has characters
            other than ASCII letters, digits, ``.``, ``_`` and ``-``.
    """
    if not isinstance(name, str):
        raise TypeError(f"a group name is a str, not {type(name).__name__}")
    if not 0 < len(name) <= NAME_MAX_LENGTH or not _NAME.fullmatch(name):
        raise ValueError(
            f"invalid group name {name!r}: use 1 to {NAME_MAX_LENGTH} characters "
            "from A-Z, a-z, 0-9, '.', '_' and '-'"
        )
    return name


class GroupBackend:
    """Group membership and local fan-out; subclasses add a broker between processes.

    Subclasses override :meth:`_subscribe`, :meth:`_unsubscribe` and :meth:`_publish`
    (all no-ops here) and call :meth:`deliver` for messages from other processes.
    Every method except :meth:`run` and :meth:`run_sync` runs on the home loop
    (:meth:`run` and :meth:`run_sync` take a coroutine there).

    Args:
        options: the ``OPTIONS`` of ``WEBSOCKET_GROUPS``.
    """

    def __init__(self, options: Mapping[str, Any]) -> None:
        self.options = dict(options)
        self.loop: asyncio.AbstractEventLoop | None = None
        self._members: dict[str, set[Member]] = {}
        self._groups_of: dict[Member, set[str]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # Membership.

    async def join(self, name: str, member: Member) -> None:
        """Add an accepted socket to group ``name``. Joining twice is one membership.

        Raises:
            ConnectionClosed: the socket is closed.
            GroupBackendError: the broker did not confirm the subscription in time.
        """
        validate_group_name(name)
        self._bind()
        if member.protocol.state is State.CLOSED:
            raise member.protocol.closed_error()
        if member not in self._groups_of:
            self._groups_of[member] = set()
            member.protocol.on_close(functools.partial(self._forget_from_anywhere, member))
        members = self._members.setdefault(name, set())
        if member in members:
            return
        first = not members
        members.add(member)
        self._groups_of[member].add(name)
        if first:
            try:
                await self._subscribe(name)
            except BaseException:
                self._discard(name, member)
                raise
        self._count_changed(name)

    async def leave(self, name: str, member: Member) -> None:
        """Remove the socket from group ``name``; nothing happens if it is not in it."""
        validate_group_name(name)
        if member not in self._members.get(name, ()):
            return
        if self._discard(name, member):
            await self._unsubscribe(name)
        self._count_changed(name)

    def size(self, name: str) -> int:
        """Return how many sockets of this process are in group ``name``."""
        return len(self._members.get(validate_group_name(name), ()))

    async def count(self, name: str) -> int:
        """Return how many sockets are in group ``name``: here, this process's.

        A backend with a broker counts every process's (Redis: :meth:`RedisBackend.count
        <django_websocket.groups.redis.RedisBackend.count>`).

        Raises:
            ValueError: ``name`` is not a valid group name.
        """
        return self.size(name)

    def groups_of(self, member: Member) -> frozenset[str]:
        """Return the groups the socket is in."""
        return frozenset(self._groups_of.get(member, ()))

    def _discard(self, name: str, member: Member) -> bool:
        # Forget one membership; return whether the group is now empty here.
        members = self._members.get(name)
        if members is None or member not in members:
            return False
        members.discard(member)
        self._groups_of.get(member, set()).discard(name)
        if members:
            return False
        del self._members[name]
        return True

    def _forget_from_anywhere(self, member: Member) -> None:
        # The close hook: it runs where the socket closed (its loop or its thread).
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        if running_loop() is loop:
            self._forget(member)
        else:
            loop.call_soon_threadsafe(self._forget, member)

    def _forget(self, member: Member) -> None:
        # The socket closed: drop what waits for it and leave every group.
        member.stop_offers()
        for name in self._groups_of.pop(member, set()):
            members = self._members.get(name)
            if members is not None:
                members.discard(member)
                if not members:
                    del self._members[name]
                    self._spawn(self._unsubscribe(name))
                self._count_changed(name)

    # Broadcasting.

    async def publish(self, name: str, message: Message, exclude: Protocol | None = None) -> int:
        """Send ``message`` to every member of ``name``; return how many local members got it.

        "Got it" means queued in the member's outbox; a member whose outbox is full
        does not count.

        Args:
            exclude: the core of a socket to leave out (usually the sender's).

        Raises:
            GroupBackendError: the broker could not take the message; nobody got it.
        """
        validate_group_name(name)
        check_message(message)
        await self._publish(name, message)
        return self.deliver(name, message, exclude)

    def deliver(self, name: str, message: Message, exclude: Protocol | None = None) -> int:
        """Offer ``message`` to every local member of ``name``; return how many took it."""
        members = [m for m in self._members.get(name, ()) if m.protocol is not exclude]
        delivered = sum(member.offer(message) for member in members)
        metrics.broadcast(self, delivered, len(members) - delivered)
        return delivered

    # Hopping to the home loop.

    def _home(self) -> asyncio.AbstractEventLoop:
        # The loop the members live on, or (none yet, or it stopped) the process's.
        loop = self.loop
        return loop if loop is not None and loop.is_running() else home_loop()

    async def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Await ``coroutine`` on the home loop, from whatever loop is running."""
        home = self._home()
        if home is asyncio.get_running_loop():
            return await coroutine
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, home))

    def run_sync(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the home loop from sync code and wait for it.

        Raises:
            WebSocketError: called on a running event loop (use the async form there).
        """
        if running_loop() is not None:
            coroutine.close()
            raise WebSocketError(
                "the blocking form was called on the event loop; await the a-prefixed form"
            )
        return bridge_for(self._home()).call(coroutine)

    def _bind(self) -> None:
        # On the home loop: the first join, or the first since the previous one stopped,
        # binds it (and forgets what lived on the old one).
        loop = asyncio.get_running_loop()
        old = self.loop
        if old is not loop and (old is None or old.is_closed() or not old.is_running()):
            self.loop = loop
            self._members.clear()
            self._groups_of.clear()
            self._reset()

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # What a broker adds.

    def __str__(self) -> str:
        """Say where broadcasts go, for people (never a password)."""
        return "in memory, the sockets of this process only"

    async def ping(self) -> None:
        """Check that the broker answers (nothing to check without one).

        Raises:
            GroupBackendError: the broker did not answer in time.
        """

    def _reset(self) -> None:
        """Forget state tied to the previous home loop (it closed; a new one is bound)."""

    async def _subscribe(self, name: str) -> None:
        """Start receiving group ``name`` from the broker (its first local member joined)."""

    async def _unsubscribe(self, name: str) -> None:
        """Stop receiving group ``name`` (its last local member left)."""

    async def _publish(self, name: str, message: Message) -> None:
        """Hand ``message`` to the broker for the other processes."""

    def _count_changed(self, name: str) -> None:
        """Note that the number of local members of ``name`` changed (a broker shares it)."""
