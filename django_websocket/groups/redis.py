"""The Redis groups backend: broadcasts reach every process that shares a Redis server.

Each process holds ONE pub/sub subscription (on the home loop), subscribed to a channel
per group that has a member in this process, and fans messages out locally. When Redis
goes away, the listener reconnects by itself and subscribes again; messages published
meanwhile are lost (at most once, no replay). A broadcast while Redis is unreachable
raises :class:`~django_websocket.exceptions.GroupBackendError` within ``TIMEOUT``.

Needs the ``redis`` extra: ``pip install "django-websocket-views[redis]"``.

``OPTIONS``:

- ``URL``: the Redis URL (default ``"redis://127.0.0.1:6379/0"``).
- ``PREFIX``: put before every channel name (default ``"django_websocket:"``); set a
  different one per site sharing a Redis server.
- ``TIMEOUT``: seconds a broadcast or a join may wait for Redis (default 5).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import urllib.parse
import uuid
from collections.abc import Mapping
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from ..exceptions import GroupBackendError
from ..protocol import Message
from .base import GroupBackend

__all__ = ["RedisBackend"]

logger = logging.getLogger("django_websocket.groups")

_TEXT, _BINARY = b"t", b"b"
_RECONNECT_DELAYS = (0.1, 0.2, 0.5, 1.0, 2.0)  # then 2 s between attempts


class RedisBackend(GroupBackend):
    """Groups across processes through Redis pub/sub.

    Args:
        options: ``URL``, ``PREFIX`` and ``TIMEOUT`` (see the module docstring).
    """

    def __init__(self, options: Mapping[str, Any]) -> None:
        super().__init__(options)
        self.url = str(self.options.get("URL", "redis://127.0.0.1:6379/0"))
        self._shown_url = _without_password(self.url)  # for messages and logs
        self.prefix = str(self.options.get("PREFIX", "django_websocket:"))
        self.timeout = float(self.options.get("TIMEOUT", 5.0))
        self._origin = uuid.uuid4().hex.encode()  # to skip our own messages
        self._client: Redis | None = None  # on the home loop
        self._listener: asyncio.Task[None] | None = None
        self._pubsub: PubSub | None = None
        self._subscribed: dict[str, asyncio.Event] = {}  # channel → confirmed

    def _reset(self) -> None:
        # The home loop changed (the previous one closed): its client and task are gone.
        self._client = None
        self._listener = None
        self._pubsub = None
        self._subscribed.clear()

    def _new_client(self) -> Redis:
        return Redis.from_url(
            self.url,
            socket_connect_timeout=self.timeout,
            socket_timeout=self.timeout,
            socket_keepalive=True,
            health_check_interval=10,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
        )

    def _home_client(self) -> Redis:
        if self._client is None:
            self._client = self._new_client()
        return self._client

    # Publishing.

    async def _publish(self, name: str, message: Message) -> None:
        kind, data = (_TEXT, message.encode()) if isinstance(message, str) else (_BINARY, message)
        payload = b"%s:%s:%s" % (self._origin, kind, data)
        at_home = self.loop is not None and asyncio.get_running_loop() is self.loop
        client = self._home_client() if at_home else self._new_client()
        try:
            await asyncio.wait_for(client.publish(self.prefix + name, payload), self.timeout)
        except (RedisError, OSError, asyncio.TimeoutError) as exc:
            raise GroupBackendError(
                f"could not broadcast to group {name!r}: Redis at {self._shown_url} did not take "
                f"the message within {self.timeout:g} s ({type(exc).__name__}: {exc})"
            ) from exc
        finally:
            if not at_home:
                await client.aclose()

    # Subscribing: one pub/sub connection, owned by the listener task.

    async def _subscribe(self, name: str) -> None:
        channel = self.prefix + name
        confirmed = self._subscribed.setdefault(channel, asyncio.Event())
        self._ensure_listener()
        if self._pubsub is not None:
            with contextlib.suppress(RedisError, OSError):  # the listener will retry
                await self._pubsub.subscribe(channel)
        try:
            await asyncio.wait_for(confirmed.wait(), self.timeout)
        except asyncio.TimeoutError:
            self._subscribed.pop(channel, None)
            raise GroupBackendError(
                f"could not join group {name!r}: Redis at {self._shown_url} did not confirm "
                f"the subscription within {self.timeout:g} s"
            ) from None

    async def _unsubscribe(self, name: str) -> None:
        channel = self.prefix + name
        self._subscribed.pop(channel, None)
        if self._pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.unsubscribe(channel)

    def _ensure_listener(self) -> None:
        if self._listener is None or self._listener.done():
            assert self.loop is not None  # joins bind the home loop first
            self._listener = self.loop.create_task(self._listen())

    async def _listen(self) -> None:
        # Forever: connect, subscribe to every wanted channel, deliver; on any error
        # drop the connection and start again with a fresh one.
        attempt = 0
        control = self.prefix + "__process__." + self._origin.decode()
        while True:
            pubsub = self._home_client().pubsub()
            try:
                wanted = set(self._subscribed)
                await pubsub.subscribe(control, *wanted)
                self._pubsub = pubsub  # from now on, joins subscribe by themselves
                if joined_meanwhile := set(self._subscribed) - wanted:
                    await pubsub.subscribe(*joined_meanwhile)
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None:
                        if attempt:
                            logger.warning("Redis pub/sub reconnected to %s", self._shown_url)
                            attempt = 0
                        self._handle(message)
            except Exception as exc:  # whatever went wrong, start again: never stop listening
                # Once per outage at WARNING; the retries (every 2 s at most) at DEBUG.
                log = logger.debug if attempt else logger.warning
                log("Redis pub/sub connection to %s lost (%s: %s); reconnecting",
                    self._shown_url, type(exc).__name__, exc)  # fmt: skip
            finally:
                self._pubsub = None
                for confirmed in self._subscribed.values():
                    confirmed.clear()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(_RECONNECT_DELAYS[min(attempt, len(_RECONNECT_DELAYS) - 1)])
            attempt += 1

    def _handle(self, message: dict[str, Any]) -> None:
        channel = message["channel"]
        channel = channel.decode() if isinstance(channel, bytes) else str(channel)
        if message["type"] == "subscribe":
            if channel in self._subscribed:
                self._subscribed[channel].set()
            return
        if message["type"] != "message" or not channel.startswith(self.prefix):
            return
        try:
            origin, kind, data = bytes(message["data"]).split(b":", 2)
        except ValueError:
            logger.warning(
                "ignoring a message on %s that django_websocket did not publish", channel
            )
            return
        if origin == self._origin:
            return  # delivered locally when it was published
        payload: Message = data.decode() if kind == _TEXT else data
        self.deliver(channel[len(self.prefix) :], payload)


def _without_password(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{netloc}"))
