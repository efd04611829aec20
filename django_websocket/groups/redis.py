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
- ``TIMEOUT``: seconds a broadcast, a join or a count may wait for Redis (default 5).
- ``PRESENCE_TTL``: seconds after which the sockets of a process that stopped
  refreshing its presence (it died) no longer count in :meth:`RedisBackend.count`
  (default 15).

Presence (``group_size``): each process keeps, in a hash per group
(``PREFIX + "members:" + group``), one field with how many sockets it has in the group,
and a key of its own (``PREFIX + "alive:" + process id``) that expires ``PRESENCE_TTL``
seconds after it was last written. It writes both as its members join and leave, and
every ``PRESENCE_TTL / 3`` seconds (the heartbeat, which also rewrites every field, so a
field lost to an outage comes back). A count adds the fields whose process is alive and
deletes the others, in one Lua script. So a process that dies without a word drops out
of every count at most ``PRESENCE_TTL`` seconds after its last heartbeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import urllib.parse
import uuid
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from django.core.exceptions import ImproperlyConfigured
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry  # the asyncio one: redis 8.2 warns about the sync one
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.exceptions import RedisError

from ..exceptions import GroupBackendError
from ..protocol import Message
from .base import GroupBackend, Member, validate_group_name

_T = TypeVar("_T")

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
     "TIMEOUT", "PRESENCE_TTL"}
)  # fmt: skip
_SENTINEL_PORT = 26379
_PRESENCE_TTL = 15.0
# KEYS[1]: a group's hash (process id → its sockets in the group); ARGV[1]: the prefix
# of the processes' "alive" keys. Sum the fields of the living, forget the dead.
_COUNT = """
local total = 0
local fields = redis.call("HGETALL", KEYS[1])
for i = 1, #fields, 2 do
  if redis.call("EXISTS", ARGV[1] .. fields[i]) == 1 then
    total = total + tonumber(fields[i + 1])
  else
    redis.call("HDEL", KEYS[1], fields[i])
  end
end
return total
"""


class RedisBackend(GroupBackend):
    """Groups across processes through Redis pub/sub.

    Args:
        options: ``URL`` or ``SENTINELS`` (with ``SERVICE_NAME``, ``PASSWORD``,
            ``SENTINEL_PASSWORD``, ``DB``), ``PREFIX``, ``TIMEOUT`` and ``PRESENCE_TTL``
            (see the module docstring).

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
        self.presence_ttl = _positive_seconds(self.options, "PRESENCE_TTL", _PRESENCE_TTL)
        self._alive_key = f"{self.prefix}alive:{self._origin.decode()}"
        self._reset_presence()

    def _reset(self) -> None:
        # The home loop changed (the previous one closed): its client and task are gone.
        self._client = None
        self._listener = None
        self._pubsub = None
        self._subscribed.clear()
        self._reset_presence()

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

    def __str__(self) -> str:
        return str(self._target)

    async def ping(self) -> None:
        """Send Redis a ``PING`` on a connection of its own.

        Raises:
            GroupBackendError: no answer within ``TIMEOUT``.
        """
        client = self._new_client()
        try:
            await self._answer(client.ping(), f"{self._target} did not answer a PING")
        finally:
            await _close(client)

    async def _answer(self, request: Awaitable[_T], failure: str) -> _T:
        # Redis's answer to ``request`` within TIMEOUT, or GroupBackendError(failure...).
        try:
            return await asyncio.wait_for(request, self.timeout)
        except (RedisError, OSError, asyncio.TimeoutError) as exc:
            raise GroupBackendError(
                f"{failure} within {self.timeout:g} s ({type(exc).__name__}: {exc})"
            ) from exc

    # Publishing.

    async def _publish(self, name: str, message: Message) -> None:
        kind, data = (_TEXT, message.encode()) if isinstance(message, str) else (_BINARY, message)
        payload = b"%s:%s:%s" % (self._origin, kind, data)
        at_home = self.loop is not None and asyncio.get_running_loop() is self.loop
        client = self._home_client() if at_home else self._new_client()
        try:
            await self._answer(
                client.publish(self.prefix + name, payload),
                f"could not broadcast to group {name!r}: {self._target} did not take the message",
            )
        finally:
            if not at_home:
                await _close(client)

    # Presence: this process's count per group, in Redis (see the module docstring).

    def _reset_presence(self) -> None:
        self._dirty: set[str] = set()  # groups whose count Redis does not have yet
        self._write_pending = False  # a write task waits for the lock
        self._counts_lock = asyncio.Lock()  # one write at a time, in order
        self._heartbeat: asyncio.Task[None] | None = None
        self._counts_failing = False  # a write failed: warn once until one succeeds
        # The presence writes' and counts' own client (home loop): they never take a
        # connection a broadcast would use.
        self._counts_redis: Redis | None = None

    def _counts_client(self) -> Redis:
        if self._counts_redis is None:
            self._counts_redis = self._new_client()
        return self._counts_redis

    async def join(self, name: str, member: Member) -> None:
        """Add a socket to ``name`` (see :meth:`GroupBackend.join`).

        Once this returns every process counts it; if Redis could not take the count,
        the heartbeat writes it once Redis is back.
        """
        await super().join(name, member)
        await self._write_counts()

    async def leave(self, name: str, member: Member) -> None:
        """Remove the socket from ``name``; once this returns, no process counts it."""
        await super().leave(name, member)
        await self._write_counts()

    async def count(self, name: str) -> int:
        """Return how many sockets are in group ``name``, in every process on this Redis.

        This process's own joins and leaves are counted as they are; another process's
        once its ``join``/``leave`` returned. A process that died drops out at most
        ``PRESENCE_TTL`` seconds after its last heartbeat.

        Raises:
            ValueError: ``name`` is not a valid group name.
            GroupBackendError: Redis did not answer within ``TIMEOUT``.
        """
        validate_group_name(name)
        at_home = self.loop is not None and asyncio.get_running_loop() is self.loop
        if at_home:
            await self._write_counts()  # what changed here first
        client = self._counts_client() if at_home else self._new_client()
        script = client.register_script(_COUNT)
        try:
            total = await self._answer(
                script(keys=[self._members_key(name)], args=[f"{self.prefix}alive:"]),
                f"could not count group {name!r}: {self._target} did not answer",
            )
        finally:
            if not at_home:
                await _close(client)
        return int(total)

    def _members_key(self, name: str) -> str:
        return f"{self.prefix}members:{name}"

    def _count_changed(self, name: str) -> None:
        # On the home loop: a member joined or left here (a close hook, too). Write it
        # soon; keep this process's presence alive from now on.
        self._dirty.add(name)
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = asyncio.get_running_loop().create_task(self._beat())
        if not self._write_pending:
            self._write_pending = True
            self._spawn(self._write_counts())

    async def _beat(self) -> None:
        # The heartbeat: refresh the alive key and rewrite every count, so a process's
        # sockets count as long as it lives, and a field lost to an outage comes back.
        while True:
            await asyncio.sleep(self.presence_ttl / 3)
            await self._write_counts(every_group=True)

    async def _write_counts(self, *, every_group: bool = False) -> None:
        # Write the counts that changed (or all of them) and the alive key, in one
        # transaction. A failure is logged, not raised: the heartbeat writes them again.
        async with self._counts_lock:
            self._write_pending = False
            names = self._dirty | set(self._members) if every_group else self._dirty
            self._dirty = set()
            if not names:
                return
            ttl = round(self.presence_ttl * 1000)
            pipe = self._counts_client().pipeline(transaction=True)
            pipe.set(self._alive_key, b"1", px=ttl)
            for name in sorted(names):
                size = len(self._members.get(name, ()))
                if size:
                    pipe.hset(self._members_key(name), self._origin, size)
                    pipe.pexpire(self._members_key(name), ttl)
                else:
                    pipe.hdel(self._members_key(name), self._origin)
            try:
                await asyncio.wait_for(pipe.execute(), self.timeout)
            except (RedisError, OSError, asyncio.TimeoutError) as exc:
                self._dirty |= names
                if not self._counts_failing:
                    logger.warning(
                        "could not write group sizes to %s (%s: %s); retrying every %g s",
                        self._target, type(exc).__name__, exc, self.presence_ttl / 3,
                    )  # fmt: skip
                self._counts_failing = True
                return
            self._counts_failing = False

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
                    await pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]  # typed from redis 8.2
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
        sentinel = Sentinel(  # type: ignore[no-untyped-call,unused-ignore]  # typed from redis 8.2
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


def _positive_seconds(options: Mapping[str, Any], key: str, default: float) -> float:
    value = options.get(key, default)
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = 0.0
    if not seconds > 0:
        raise ImproperlyConfigured(f"RedisBackend OPTIONS {key} is seconds (> 0), not {value!r}")
    return seconds


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
