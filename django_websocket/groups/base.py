"""The groups backend interface, and the local fan-out that every backend shares.

A backend keeps which local sockets are in which group, on the event loop that serves
them (the *home loop*: the loop of the first join). A broadcast is handed to the
backend's broker first (:meth:`GroupBackend._publish`, nothing for the in-memory
backend), then to the outbox of every local member. Other processes deliver what the
broker hands them with :meth:`GroupBackend.deliver`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar

from ..bridge import bridge_for
from ..conf import conf
from ..connection import Connection
from ..exceptions import WebSocketError
from ..inbox import Message
from ..state import State, check_message
from .outbox import Outbox

__all__ = ["NAME_MAX_LENGTH", "GroupBackend", "validate_group_name"]

T = TypeVar("T")
NAME_MAX_LENGTH = 100
_NAME = re.compile(r"[A-Za-z0-9._-]+")


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
    Every method except :meth:`run` and :meth:`run_sync` runs on the home loop.

    Args:
        options: the ``OPTIONS`` of ``WEBSOCKET_GROUPS``.
    """

    def __init__(self, options: Mapping[str, Any]) -> None:
        self.options = dict(options)
        self.loop: asyncio.AbstractEventLoop | None = None
        self._members: dict[str, set[Connection]] = {}
        self._groups_of: dict[Connection, set[str]] = {}
        self._outboxes: dict[Connection, Outbox] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # Membership.

    async def join(self, name: str, connection: Connection) -> None:
        """Add the socket to group ``name``, accepting the handshake first if needed.

        Raises:
            ConnectionClosed: the socket is closed.
            GroupBackendError: the broker did not confirm the subscription in time.
        """
        validate_group_name(name)
        self._bind()
        await connection.ensure_accepted()
        if connection.state.state is State.CLOSED:
            raise connection.state.closed_error()
        if connection not in self._outboxes:
            self._outboxes[connection] = Outbox(
                connection, maxsize=conf.GROUP_BUFFER, policy=conf.SLOW_CLIENT
            )
            connection.on_close(lambda: self._forget(connection))
        members = self._members.setdefault(name, set())
        if connection in members:
            return
        first = not members
        members.add(connection)
        self._groups_of.setdefault(connection, set()).add(name)
        if first:
            try:
                await self._subscribe(name)
            except BaseException:
                self._discard(name, connection)
                raise

    async def leave(self, name: str, connection: Connection) -> None:
        """Remove the socket from group ``name``; nothing happens if it is not in it."""
        validate_group_name(name)
        if self._discard(name, connection):
            await self._unsubscribe(name)

    def size(self, name: str) -> int:
        """Return how many sockets of this process are in group ``name``."""
        return len(self._members.get(validate_group_name(name), ()))

    def groups_of(self, connection: Connection) -> frozenset[str]:
        """Return the groups the socket is in."""
        return frozenset(self._groups_of.get(connection, ()))

    def _discard(self, name: str, connection: Connection) -> bool:
        # Forget one membership; return whether the group is now empty here.
        members = self._members.get(name)
        if members is None or connection not in members:
            return False
        members.discard(connection)
        self._groups_of.get(connection, set()).discard(name)
        if members:
            return False
        del self._members[name]
        return True

    def _forget(self, connection: Connection) -> None:
        # The socket closed: stop its writer and leave every group.
        outbox = self._outboxes.pop(connection, None)
        if outbox is not None:
            outbox.stop()
        for name in self._groups_of.pop(connection, set()):
            members = self._members.get(name)
            if members is not None:
                members.discard(connection)
                if not members:
                    del self._members[name]
                    self._spawn(self._unsubscribe(name))

    # Broadcasting.

    async def publish(self, name: str, message: Message, exclude: Connection | None = None) -> int:
        """Send ``message`` to every member of ``name``; return how many local members got it.

        "Got it" means queued in the member's outbox; a member whose outbox is full
        does not count.

        Raises:
            GroupBackendError: the broker could not take the message; nobody got it.
        """
        validate_group_name(name)
        check_message(message)
        await self._publish(name, message)
        return self.deliver(name, message, exclude)

    def deliver(self, name: str, message: Message, exclude: Connection | None = None) -> int:
        """Queue ``message`` for every local member of ``name``; return how many took it."""
        outboxes = [
            self._outboxes[member]
            for member in self._members.get(name, set())
            if member is not exclude and member in self._outboxes
        ]
        return sum(outbox.offer(message) for outbox in outboxes)

    # Hopping to the home loop.

    async def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Await ``coroutine`` on the home loop, from whatever loop is running."""
        home = self.loop
        if home is None or not home.is_running() or home is asyncio.get_running_loop():
            return await coroutine
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, home))

    def run_sync(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the home loop from sync code and wait for it.

        Without a running home loop (a management command, a shell, a WSGI process) it
        runs on a fresh loop of its own.

        Raises:
            WebSocketError: called on a running event loop (use the async form there).
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            coroutine.close()
            raise WebSocketError(
                "the blocking form was called on the event loop; await the a-prefixed form"
            )
        home = self.loop
        if home is not None and home.is_running():
            return bridge_for(home).call(coroutine)
        return asyncio.run(coroutine)

    def _bind(self) -> None:
        # The first join (or the first after the previous loop closed) picks the loop.
        loop = asyncio.get_running_loop()
        if self.loop is not loop and (self.loop is None or self.loop.is_closed()):
            self.loop = loop
            self._members.clear()
            self._groups_of.clear()
            self._outboxes.clear()
            self._reset()

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # What a broker adds.

    def _reset(self) -> None:
        """Forget state tied to the previous home loop (it closed; a new one is bound)."""

    async def _subscribe(self, name: str) -> None:
        """Start receiving group ``name`` from the broker (its first local member joined)."""

    async def _unsubscribe(self, name: str) -> None:
        """Stop receiving group ``name`` (its last local member left)."""

    async def _publish(self, name: str, message: Message) -> None:
        """Hand ``message`` to the broker for the other processes."""
