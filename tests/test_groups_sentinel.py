"""The Redis groups backend under Sentinel: two server processes across a failover.

Each test starts a master, a replica and sentinels (``redis-server --sentinel``) of its
own on free ports, all with passwords, and serves the test project in two uvicorn
processes configured with ``SENTINELS``. It checks that broadcasts cross processes in
both directions, takes the master away (killed, or frozen with SIGSTOP as a hung or
unreachable host is), and checks that both processes publish to and listen on the
promoted replica within a bound. Without redis-server the tests skip, except under
``CI=true``, where they fail.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from websockets.sync.client import ClientConnection, connect

from .conftest import Server, free_port
from .test_groups import member, send_to
from .test_groups_redis import RedisProcess, command, recv_exactly, redis_server_path, two_servers

SERVICE = "groups-master"
PASSWORD = "redis-secret"
SENTINEL_PASSWORD = "sentinel-secret"
DB = 3
PREFIX = "sentinel-test:"  # nothing else on any Redis uses it
DOWN_AFTER_MS = 1000  # sentinels take a silent master for down after this long
# What the tests allow from losing the master to broadcasts crossing again both ways:
# the sentinels' DOWN_AFTER_MS and promotion, the listener's detection (at once for a
# dead process, PING_AFTER + TIMEOUT for a frozen one) and backoff, on a busy machine.
RECOVERY_BOUND = 30.0


class SentinelProcess:
    """A ``redis-server --sentinel`` watching one master, with a config file of its own."""

    def __init__(self, path: str, folder: Path, master_port: int, quorum: int) -> None:
        self.path, self.port = path, free_port()
        folder.mkdir()
        self.config, self.log_path = folder / "sentinel.conf", folder / "sentinel.log"
        self.config.write_text(
            f"port {self.port}\nbind 127.0.0.1\nrequirepass {SENTINEL_PASSWORD}\n"
            f"sentinel monitor {SERVICE} 127.0.0.1 {master_port} {quorum}\n"
            f"sentinel auth-pass {SERVICE} {PASSWORD}\n"
            f"sentinel sentinel-pass {SENTINEL_PASSWORD}\n"
            f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {SERVICE} 10000\n"
        )
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [path, str(self.config), "--sentinel"], stdout=log, stderr=subprocess.STDOUT
            )

    def ask(self, *args: str) -> object:
        """Send one command to this sentinel and return its reply."""
        import redis

        client = redis.Redis(
            port=self.port, password=SENTINEL_PASSWORD, socket_timeout=2, decode_responses=True
        )
        try:
            return client.execute_command(*args)
        finally:
            client.close()

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(10)


@dataclass
class Deployment:
    """A master, its replica and the sentinels watching them."""

    master: RedisProcess
    replica: RedisProcess
    sentinels: list[SentinelProcess]

    def env(self, **options: object) -> dict[str, str]:
        """The servers' environment: a RedisBackend that finds the master by Sentinel."""
        dead_sentinel = f"127.0.0.1:{free_port()}"  # first in the list: it must be skipped
        setting = {
            "BACKEND": "django_websocket.groups.redis.RedisBackend",
            "OPTIONS": {
                "SENTINELS": [dead_sentinel, *(["127.0.0.1", s.port] for s in self.sentinels)],
                "SERVICE_NAME": SERVICE,
                "PASSWORD": PASSWORD,
                "SENTINEL_PASSWORD": SENTINEL_PASSWORD,
                "DB": DB,
                "PREFIX": PREFIX,
                "TIMEOUT": 2,
                **options,
            },
        }
        return {"TEST_WEBSOCKET_GROUPS": json.dumps(setting)}

    def master_port(self) -> int:
        """The master's port as the first sentinel reports it."""
        reply = self.sentinels[0].ask("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE)
        assert isinstance(reply, list)
        return int(reply[1])


def wait_until(condition: object, what: str, timeout: float = 60) -> None:
    """Poll ``condition()`` until it is true; fail saying ``what`` did not happen."""
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):
            if condition():
                return
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout:g} s"
        time.sleep(0.1)


def replica_synced(replica: RedisProcess) -> bool:
    client = replica.client()
    try:
        return client.info("replication")["master_link_status"] == "up"
    finally:
        client.close()


def sentinel_ready(sentinel: SentinelProcess, replica_port: int, others: int) -> bool:
    # A sentinel can fail over once it knows a healthy replica and its peers (for the vote).
    replicas = sentinel.ask("SENTINEL", "REPLICAS", SERVICE)
    master = sentinel.ask("SENTINEL", "MASTER", SERVICE)
    assert isinstance(replicas, list) and isinstance(master, dict)  # as redis-py parses them
    healthy = any(r["port"] == str(replica_port) and r["flags"] == "slave" for r in replicas)
    return healthy and int(master["num-other-sentinels"]) >= others


@contextlib.contextmanager
def deployment(tmp_path: Path, *, sentinels: int) -> Iterator[Deployment]:
    path = redis_server_path()
    master = RedisProcess(path, free_port(), tmp_path / "master.log", password=PASSWORD)
    replica = RedisProcess(
        path, free_port(), tmp_path / "replica.log",
        "--replicaof", "127.0.0.1", str(master.port), password=PASSWORD,
    )  # fmt: skip
    started: list[SentinelProcess] = []
    master.start()
    try:
        replica.start()
        # Sentinels learn of replicas from the master's INFO, every 10 s: start them
        # once the replica is attached, so the first INFO already lists it.
        wait_until(lambda: replica_synced(replica), "the replica's first sync")
        quorum = sentinels // 2 + 1
        for i in range(sentinels):
            started.append(SentinelProcess(path, tmp_path / f"sentinel{i}", master.port, quorum))
        for sentinel in started:
            wait_until(
                lambda s=sentinel: sentinel_ready(s, replica.port, sentinels - 1),
                f"sentinel {sentinel.port} seeing the replica and its peers",
            )
        yield Deployment(master, replica, started)
    finally:
        for sentinel in started:
            sentinel.stop()
        master.stop()  # SIGKILL: a frozen one dies too
        replica.stop()


def subscribers(redis_process: RedisProcess, channel: str) -> int:
    """How many connections of ``redis_process`` are subscribed to ``channel``."""
    client = redis_process.client()
    try:
        return int(dict(client.pubsub_numsub(channel))[channel.encode()])
    finally:
        client.close()


def crosses(sender: Server, group: str, receiver: ClientConnection, tag: str) -> float:
    """Broadcast numbered messages from ``sender`` until ``receiver`` gets one.

    Delivery is at most once: a message published before the receiving process has
    subscribed again is lost, so keep sending. Return the seconds it took; fail past
    ``RECOVERY_BOUND``. Afterwards ``receiver`` has nothing pending from ``tag``.
    """
    start = time.monotonic()
    number = 0
    while True:
        elapsed = time.monotonic() - start
        assert elapsed < RECOVERY_BOUND, f"{tag}: no broadcast crossed for {elapsed:.1f} s"
        status, reply = send_to(sender, group, f"{tag} {number}")
        assert status in (200, 503), reply  # 503: GroupBackendError while there is no master
        with contextlib.suppress(TimeoutError):
            if receiver.recv(timeout=0.5).startswith(f"{tag} "):
                break
        number += 1
    took = time.monotonic() - start
    # Later numbers, published before the first one arrived, may still come: drain.
    assert send_to(sender, group, f"{tag} settled") == (200, {"count": 0})
    while (message := receiver.recv(timeout=20)) != f"{tag} settled":
        assert message.startswith(f"{tag} "), message
    return took


@contextlib.contextmanager
def crossing_members(
    tmp_path: Path, env: dict[str, str]
) -> Iterator[tuple[Server, Server, ClientConnection, ClientConnection]]:
    # Group "to_a" has its one member on server a, "to_b" on server b: a broadcast to
    # either only reaches its member by crossing processes.
    with (
        two_servers(tmp_path, env) as (a, b),
        member(a, "to_a") as on_a,
        member(b, "to_b", view="async_group_member") as on_b,
    ):
        yield a, b, on_a, on_b


def assert_crossing_both_ways(
    a: Server, b: Server, on_a: ClientConnection, on_b: ClientConnection, tag: str
) -> float:
    return max(crosses(a, "to_b", on_b, f"{tag} a->b"), crosses(b, "to_a", on_a, f"{tag} b->a"))


@pytest.mark.parametrize("loss", ["killed", "frozen", "switched"])
def test_failover_is_followed_for_publishing_and_listening(tmp_path: Path, loss: str) -> None:
    # Killed: the connections drop at once. Frozen (SIGSTOP): they stay open and silent,
    # as with a hung host or a network partition; the listener's PING finds that out.
    # Switched: SENTINEL FAILOVER, as for maintenance; the old master lives on as a
    # replica, and the sentinels disconnect its clients.
    with deployment(tmp_path, sentinels=3 if loss == "killed" else 1) as redis:
        env = redis.env()
        with crossing_members(tmp_path, env) as (a, b, on_a, on_b):
            assert_crossing_both_ways(a, b, on_a, on_b, "before")
            # Both processes listen on the master, through Sentinel, with DB selected.
            assert subscribers(redis.master, PREFIX + "to_a") == 1
            assert subscribers(redis.master, PREFIX + "to_b") == 1
            client = redis.master.client()
            try:
                clients = client.client_list()
            finally:
                client.close()
            listeners = [
                c for c in clients if int(c["sub"]) and not c["name"].startswith("sentinel-")
            ]  # the sentinels subscribe to their own channel
            assert [c["db"] for c in listeners] == [str(DB), str(DB)]
            # A third process's client closes every connection it made, the sentinels' too.
            done = command(
                {**env, "PYTHONWARNINGS": "always::ResourceWarning"}, "to_a", "from a third process"
            )
            assert (done.returncode, done.stderr) == (0, "")
            recv_exactly(on_a, "from a third process")

            with connect(f"{a.ws}/async_echo/") as bystander:
                assert redis.master.process is not None
                lost_at = time.monotonic()
                if loss == "killed":
                    redis.master.stop()
                elif loss == "frozen":
                    redis.master.process.send_signal(signal.SIGSTOP)
                else:
                    assert redis.sentinels[0].ask("SENTINEL", "FAILOVER", SERVICE)
                # Local sockets keep working while there is no master.
                bystander.send("still here")
                assert bystander.recv(timeout=5) == "still here"
                wait_until(
                    lambda: redis.master_port() == redis.replica.port,
                    "the promotion of the replica",
                )
                promoted_after = time.monotonic() - lost_at
                assert_crossing_both_ways(a, b, on_a, on_b, "after")
                recovered_after = time.monotonic() - lost_at
                bystander.send("still here")
                assert bystander.recv(timeout=5) == "still here"
            print(
                f"\nmaster {loss}: replica promoted after {promoted_after:.1f} s, "
                f"broadcasts cross both ways after {recovered_after:.1f} s"
            )
            assert recovered_after < RECOVERY_BOUND
            # Both listen on the promoted replica now (after a switchover, within the
            # listener's master check); the third process finds it too.
            wait_until(
                lambda: (
                    subscribers(redis.replica, PREFIX + "to_a") == 1
                    and subscribers(redis.replica, PREFIX + "to_b") == 1
                ),
                "the listeners' move to the new master",
                timeout=RECOVERY_BOUND,
            )
            done = command(env, "to_b", "after, from a third process")
            assert done.returncode == 0, done.stderr
            recv_exactly(on_b, "after, from a third process")
            # The same sockets, never reconnected, got every message of the test.
            assert on_a.close_code is None and on_b.close_code is None


def test_wrong_sentinel_password_is_a_clear_error(tmp_path: Path) -> None:
    with deployment(tmp_path, sentinels=1) as redis:
        done = command(redis.env(SENTINEL_PASSWORD="wrong"), "to_a", "x")
        assert done.returncode != 0
        assert "could not broadcast to group 'to_a'" in done.stderr
        assert f"the Redis master of '{SERVICE}' (Sentinel at" in done.stderr
        assert "wrong" not in done.stderr  # passwords stay out of messages


# --- OPTIONS, read without any Redis. -------------------------------------------------


def backend_with(**options: object) -> object:
    from django_websocket.groups.redis import RedisBackend

    return RedisBackend(options)


def test_sentinel_addresses_in_every_form() -> None:
    from django_websocket.groups.redis import RedisBackend

    backend = RedisBackend(
        {
            "SENTINELS": ["s1:26380", "s2", ("s3", "26381"), ["s4", 2], "[::1]:26382", "::1"],
            "SERVICE_NAME": "svc",
        }
    )
    target = backend._target
    assert target.sentinels == (
        ("s1", 26380), ("s2", 26379), ("s3", 26381), ("s4", 2), ("::1", 26382),
        ("::1", 26379),
    )  # fmt: skip
    assert backend.url is None
    assert (target.service_name, target.db, target.password) == ("svc", 0, None)
    assert str(target).startswith("the Redis master of 'svc' (Sentinel at s1:26380, s2:26379")


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"SENTINEL": ["s1"]}, "unknown RedisBackend OPTIONS SENTINEL; known: DB, PASSWORD"),
        ({"URL": "redis://x", "SENTINELS": ["s1"], "SERVICE_NAME": "m"}, "not both"),
        ({"SENTINELS": ["s1"]}, "SENTINELS needs SERVICE_NAME"),
        ({"SENTINELS": [], "SERVICE_NAME": "m"}, "is a list of"),
        ({"SENTINELS": "s1:26379", "SERVICE_NAME": "m"}, "is a list of"),
        ({"SENTINELS": ["s1:port"], "SERVICE_NAME": "m"}, "'s1:port' is not"),
        ({"SENTINELS": [("s1", 0)], "SERVICE_NAME": "m"}, "('s1', 0) is not"),
        ({"SENTINELS": [("s1",)], "SERVICE_NAME": "m"}, "('s1',) is not"),
        ({"SENTINELS": [":26379"], "SERVICE_NAME": "m"}, "':26379' is not"),
        ({"SENTINELS": ["s1"], "SERVICE_NAME": "m", "DB": "one"}, "DB is a database number"),
        ({"PASSWORD": "p"}, "PASSWORD go with SENTINELS; with URL, put the password"),
    ],
)
def test_bad_options_are_improperly_configured(options: dict[str, object], error: str) -> None:
    with pytest.raises(ImproperlyConfigured) as raised:
        backend_with(**options)
    assert error in str(raised.value)


def test_url_messages_hide_the_password() -> None:
    from django_websocket.groups.redis import RedisBackend

    backend = RedisBackend({"URL": "redis://user:hunter2@redis.example:6380/1"})
    assert backend.url == "redis://user:hunter2@redis.example:6380/1"
    assert str(backend._target) == "Redis at redis://user:***@redis.example:6380/1"
