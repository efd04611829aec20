"""The Redis groups backend: broadcasts reach every process that shares a Redis server.

Each process holds ONE pub/sub subscription (on the home loop), subscribed to a channel
per group that has a member in this process, and fans messages out locally. When Redis
goes away (or stops answering), the listener reconnects by itself and subscribes again;
under Sentinel, reconnecting asks the sentinels for the current master, so the backend
follows a failover. Messages published meanwhile are lost (at most once, no replay). A
broadcast while Redis is unreachable raises
:class:`~django_websocket.exceptions.GroupBackendError` within ``TIMEOUT``.

Needs the ``redis`` extra: ``pip install "django-websocket-views[redis]"``.

``OPTIONS`` (anything else is an error):

- ``URL``: the Redis URL (default ``"redis://127.0.0.1:6379/0"``).
- ``SENTINELS``: instead of ``URL``, the sentinels to ask for the master, as
  ``"host:port"`` strings or ``(host, port)`` pairs; with ``SERVICE_NAME`` (the name in
  the sentinels' ``sentinel monitor`` line, required), and optionally ``PASSWORD`` (the
  Redis servers'), ``SENTINEL_PASSWORD`` (the sentinels') and ``DB`` (default 0).
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
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from ..exceptions import GroupBackendError
from ..protocol import Message
from .base import GroupBackend

__all__ = ["RedisBackend"]

logger = logging.getLogger("django_websocket.groups")

_TEXT, _BINARY = b"t", b"b"
_RECONNECT_DELAYS = (0.1, 0.2, 0.5, 1.0, 2.0)  # then 2 s between attempts
# After this many seconds without a word from Redis the listener sends a PING; with no
# answer TIMEOUT seconds later it takes the connection for dead (a hung or unreachable
# master sends no FIN, and a failover would otherwise go unnoticed).
_PING_AFTER = 2.0
# Under Sentinel, how often the listener asks whether the node it listens on is still the
# master (after a switchover the old master lives on as a replica: its subscribers still
# get what is published, but only while it replicates).
_MASTER_CHECK_EVERY = 5.0
_OPTIONS = frozenset(
    {"URL", "SENTINELS", "SERVICE_NAME", "PASSWORD", "SENTINEL_PASSWORD", "DB", "PREFIX",
     "TIMEOUT"}
)  # fmt: skip
_SENTINEL_PORT = 26379


class RedisBackend(GroupBackend):
    """Groups across processes through Redis pub/sub.

    Args:
        options: ``URL`` or ``SENTINELS`` (with ``SERVICE_NAME``, ``PASSWORD``,
            ``SENTINEL_PASSWORD``, ``DB``), ``PREFIX`` and ``TIMEOUT`` (see the module
            docstring).

    Raises:
        ImproperlyConfigured: an option is unknown, missing or malformed.
    """

    def __init__(self, options: Mapping[str, Any]) -> None:
        super().__init__(options)
        self._target = _target_from(self.options)
        self.url = self._target.url  # None under Sentinel
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
        return self._target.client(
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
                f"could not broadcast to group {name!r}: {self._target} did not take "
                f"the message within {self.timeout:g} s ({type(exc).__name__}: {exc})"
            ) from exc
        finally:
            if not at_home:
                await _close(client)

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
                f"could not join group {name!r}: {self._target} did not confirm "
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
        # Forever: connect, subscribe to every wanted channel, deliver; on any error, or
        # when Redis stops answering, drop the connection and start again with a fresh
        # one (which, under Sentinel, asks the sentinels where the master is now).
        attempt = 0
        control = self.prefix + "__process__." + self._origin.decode()
        loop = asyncio.get_running_loop()
        while True:
            pubsub = self._home_client().pubsub()
            try:
                wanted = set(self._subscribed)
                await pubsub.subscribe(control, *wanted)
                self._pubsub = pubsub  # from now on, joins subscribe by themselves
                if joined_meanwhile := set(self._subscribed) - wanted:
                    await pubsub.subscribe(*joined_meanwhile)
                heard, pinged = loop.time(), False
                check_master_at = loop.time() + _MASTER_CHECK_EVERY
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    now = loop.time()
                    if message is not None:
                        if attempt:
                            logger.warning(
                                "Redis pub/sub reconnected to %s (%s)",
                                self._target, _address_of(pubsub),
                            )  # fmt: skip
                            attempt = 0
                        heard, pinged = now, False
                        self._handle(message)
                    elif now - heard > _PING_AFTER + self.timeout:
                        raise TimeoutError(f"no answer to a PING within {self.timeout:g} s")
                    elif now - heard > _PING_AFTER and not pinged:
                        await pubsub.ping()  # the reply is a "pong" message
                        pinged = True
                    if now > check_master_at:
                        await self._check_master(pubsub)
                        check_master_at = loop.time() + _MASTER_CHECK_EVERY
            except Exception as exc:  # whatever went wrong, start again: never stop listening
                # Once per outage at WARNING; the retries (every 2 s at most) at DEBUG.
                log = logger.debug if attempt else logger.warning
                log("Redis pub/sub connection to %s lost (%s: %s); reconnecting",
                    self._target, type(exc).__name__, exc)  # fmt: skip
            finally:
                self._pubsub = None
                for confirmed in self._subscribed.values():
                    confirmed.clear()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(_RECONNECT_DELAYS[min(attempt, len(_RECONNECT_DELAYS) - 1)])
            attempt += 1

    async def _check_master(self, pubsub: PubSub) -> None:
        # Under Sentinel, raise if the sentinels name another master than the node the
        # listener is on; the pool forgets its idle connections to the old one as well.
        pool = self._home_client().connection_pool
        connection = pubsub.connection
        if not isinstance(pool, SentinelConnectionPool) or connection is None:
            return
        try:
            host, port = await asyncio.wait_for(pool.get_master_address(), self.timeout)
        except (RedisError, OSError, asyncio.TimeoutError):
            return  # no answer (a failover under way?): stay where we are until it is over
        if (connection.host, connection.port) != (host, port):
            raise ConnectionError(f"the master is now at {host}:{port}")

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


@dataclass(frozen=True)
class _Target:
    """Where the Redis server is: a URL, or a service whose master the sentinels know."""

    url: str | None = None
    sentinels: tuple[tuple[str, int], ...] = ()
    service_name: str = ""
    password: str | None = None
    sentinel_password: str | None = None
    db: int = 0

    def client(self, **connection: Any) -> Redis:
        """Return a new client; under Sentinel, each new connection asks for the master."""
        if self.url is not None:
            return Redis.from_url(self.url, **connection)
        sentinel = Sentinel(  # type: ignore[no-untyped-call]
            self.sentinels,
            sentinel_kwargs={
                "password": self.sentinel_password,
                "socket_connect_timeout": connection["socket_connect_timeout"],
                "socket_timeout": connection["socket_timeout"],
                # No retries: on an error the next sentinel in the list is asked.
                "retry": Retry(NoBackoff(), 0),
            },
        )
        client: Redis = sentinel.master_for(
            self.service_name, password=self.password, db=self.db, **connection
        )
        return client

    def __str__(self) -> str:  # for messages and logs: no passwords
        if self.url is not None:
            return f"Redis at {_without_password(self.url)}"
        sentinels = ", ".join(f"{host}:{port}" for host, port in self.sentinels)
        return f"the Redis master of {self.service_name!r} (Sentinel at {sentinels})"


def _target_from(options: Mapping[str, Any]) -> _Target:
    # Read where Redis is from OPTIONS; say exactly what is wrong with them.
    unknown = set(options) - _OPTIONS
    if unknown:
        raise ImproperlyConfigured(
            f"unknown RedisBackend OPTIONS {', '.join(sorted(unknown))}; "
            f"known: {', '.join(sorted(_OPTIONS))}"
        )
    sentinel_only = {"SERVICE_NAME", "PASSWORD", "SENTINEL_PASSWORD", "DB"} & set(options)
    if "SENTINELS" not in options:
        if sentinel_only:
            raise ImproperlyConfigured(
                f"RedisBackend OPTIONS {', '.join(sorted(sentinel_only))} go with SENTINELS; "
                "with URL, put the password and database in the URL"
            )
        return _Target(url=str(options.get("URL", "redis://127.0.0.1:6379/0")))
    if "URL" in options:
        raise ImproperlyConfigured("RedisBackend OPTIONS: give URL or SENTINELS, not both")
    addresses = options["SENTINELS"]
    if isinstance(addresses, str) or not addresses:
        raise ImproperlyConfigured(
            'RedisBackend OPTIONS SENTINELS is a list of "host:port" or (host, port), '
            f"not {addresses!r}"
        )
    if not options.get("SERVICE_NAME"):
        raise ImproperlyConfigured(
            "RedisBackend OPTIONS SENTINELS needs SERVICE_NAME: the name the sentinels "
            "monitor the master under"
        )
    try:
        db = int(options.get("DB", 0))
    except (TypeError, ValueError):
        raise ImproperlyConfigured(
            f"RedisBackend OPTIONS DB is a database number, not {options['DB']!r}"
        ) from None
    password, sentinel_password = options.get("PASSWORD"), options.get("SENTINEL_PASSWORD")
    return _Target(
        sentinels=tuple(_sentinel_address(address) for address in addresses),
        service_name=str(options["SERVICE_NAME"]),
        password=None if password is None else str(password),
        sentinel_password=None if sentinel_password is None else str(sentinel_password),
        db=db,
    )


def _sentinel_address(address: object) -> tuple[str, int]:
    # "host:port", "host" (port 26379), "[::1]:26379", or a (host, port) pair.
    host: object = None
    port: object = _SENTINEL_PORT
    if isinstance(address, str):
        host, colon, port = address.rpartition(":")
        if not colon or host.endswith(":"):  # "host", or an IPv6 address without brackets
            host, port = address, _SENTINEL_PORT
        host = host.removeprefix("[").removesuffix("]")
    elif isinstance(address, (list, tuple)) and len(address) == 2:
        host, port = address
    number = _port_number(port)
    if not isinstance(host, str) or not host or number is None:
        raise ImproperlyConfigured(
            f'RedisBackend OPTIONS SENTINELS: {address!r} is not "host:port" or (host, port)'
        )
    return host, number


def _port_number(port: object) -> int | None:
    try:
        number = int(str(port))
    except ValueError:
        return None
    return number if 0 < number < 65536 else None


def _address_of(pubsub: PubSub) -> str:
    connection = pubsub.connection
    return f"{getattr(connection, 'host', '?')}:{getattr(connection, 'port', '?')}"


async def _close(client: Redis) -> None:
    # Close a client, and under Sentinel the connections to the sentinels it made.
    await client.aclose()
    manager = getattr(client.connection_pool, "sentinel_manager", None)
    for sentinel in getattr(manager, "sentinels", ()):
        await sentinel.aclose()


def _without_password(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{netloc}"))
