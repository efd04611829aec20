"""The Redis groups backend: several server processes, a broadcast from a third, restarts.

Each test starts its own redis-server on a free port. Without redis-server (or the
``redis`` package) the tests skip, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from .conftest import ROOT, Server, free_port, serve
from .test_groups import count_in, member, send_to, wait_for_size

if TYPE_CHECKING:
    import redis


def redis_server_path() -> str:
    """Return the redis-server to start; skip (fail under CI=true) when there is none."""
    path = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None
    )
    problem = None
    if path is None:
        problem = "redis-server is not installed (Debian: apt-get install redis-server)"
    else:
        try:
            import redis  # noqa: F401
        except ImportError:
            problem = 'the redis package is missing: pip install -e ".[dev]"'
    if problem is not None:
        message = f"the Redis groups backend tests need Redis: {problem}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    assert path is not None
    return path


class RedisProcess:
    """A redis-server of our own on a fixed port, which tests may stop and start again.

    ``args`` go after the defaults on its command line (a replica's ``--replicaof``);
    ``password`` is its ``--requirepass`` (and ``--masterauth``), if any.
    """

    def __init__(
        self,
        path: str,
        port: int,
        log_path: Path,
        *args: str,
        password: str | None = None,
    ) -> None:
        self.path, self.port, self.log_path = path, port, log_path
        self.args, self.password = args, password
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        auth = () if self.password is None else (
            "--requirepass", self.password, "--masterauth", self.password
        )  # fmt: skip
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [self.path, "--port", str(self.port), "--bind", "127.0.0.1",
                 "--save", "", "--appendonly", "no", *auth, *self.args],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        import redis

        client = self.client()
        deadline = time.monotonic() + 30
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError as exc:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    log = self.log_path.read_text()
                    raise RuntimeError(f"redis-server did not start: {log}") from exc
                time.sleep(0.05)
            finally:
                client.close()

    def client(self) -> redis.Redis:
        """A blocking client of this server (close it)."""
        import redis

        return redis.Redis(port=self.port, password=self.password, socket_connect_timeout=1)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None


@pytest.fixture
def redis_process(tmp_path: Path) -> Iterator[RedisProcess]:
    process = RedisProcess(redis_server_path(), free_port(), tmp_path / "redis.log")
    process.start()
    try:
        yield process
    finally:
        process.stop()


def redis_env(redis_process: RedisProcess, **options: object) -> dict[str, str]:
    setting = {
        "BACKEND": "django_websocket.groups.redis.RedisBackend",
        "OPTIONS": {"URL": redis_process.url, "TIMEOUT": 2, **options},
    }
    return {"TEST_WEBSOCKET_GROUPS": json.dumps(setting)}


def command(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``manage.py broadcast ARGS`` in a process of its own (the "third process")."""
    full_env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.project.settings", **env}
    return subprocess.run(
        [sys.executable, "-m", "django", "broadcast", *args],
        cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def recv_exactly(ws: ClientConnection, expected: str) -> None:
    """Assert the next message is ``expected``."""
    assert ws.recv(timeout=20) == expected


@contextlib.contextmanager
def two_servers(tmp_path: Path, env: dict[str, str]) -> Iterator[tuple[Server, Server]]:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with serve(tmp_path / "a", **env) as a, serve(tmp_path / "b", **env) as b:
        yield a, b


def test_broadcast_from_a_third_process_reaches_every_client_once(
    tmp_path: Path, redis_process: RedisProcess
) -> None:
    env = redis_env(redis_process)
    with (
        two_servers(tmp_path, env) as (a, b),
        member(a, "all") as a1,
        member(a, "all", view="async_group_member") as a2,
        member(b, "all") as b1,
        member(b, "other") as outsider,
    ):
        clients = [a1, a2, b1]
        done = command(env, "all", "one")
        assert done.returncode == 0, done.stderr
        done = command(env, "all", '{"n": 2}', "--json")
        assert done.returncode == 0, done.stderr
        for ws in clients:  # each got each message once, in order
            recv_exactly(ws, "one")
            recv_exactly(ws, '{"n":2}')
        # From a server process: its own members count, the other's get it too, and
        # nobody gets it twice (the process skips its own messages coming back).
        assert send_to(a, "all", "three") == (200, {"count": 2})
        assert send_to(b, "all", "four") == (200, {"count": 1})
        for ws in clients:
            recv_exactly(ws, "three")
            recv_exactly(ws, "four")
        # exclude works across processes too: b1 says it, a1 and a2 hear it.
        b1.send("say:all:from b1")
        recv_exactly(b1, "said:0")
        recv_exactly(a1, "from b1")
        recv_exactly(a2, "from b1")
        outsider.send("say:none:x")
        recv_exactly(outsider, "said:0")  # the outsider got nothing before its answer


def test_leaving_unsubscribes_and_rejoining_subscribes_again(
    tmp_path: Path, redis_process: RedisProcess
) -> None:
    env = redis_env(redis_process)
    with serve(tmp_path, **env) as server:
        with member(server, "once"):
            pass
        assert wait_for_size(server, "once", 0) == 0
        with member(server, "once") as ws:
            assert command(env, "once", "again").returncode == 0
            recv_exactly(ws, "again")


def test_redis_restart_is_survived_and_outage_is_a_clear_error(
    tmp_path: Path, redis_process: RedisProcess
) -> None:
    env = redis_env(redis_process)
    with serve(tmp_path, **env) as server, member(server, "news") as ws:
        assert command(env, "news", "before").returncode == 0
        recv_exactly(ws, "before")

        redis_process.stop()
        status, reply = send_to(server, "news", "during")  # bounded: TIMEOUT is 2 s
        assert status == 503
        assert "could not broadcast to group 'news'" in reply["error"]
        failed = command(env, "news", "during")
        assert failed.returncode != 0
        assert "could not broadcast to group 'news'" in failed.stderr
        # Joining needs Redis too: the view's join raises, the socket closes with 1011.
        with (
            connect(f"{server.ws}/group_member/?group=fresh") as refused,
            pytest.raises(ConnectionClosed),
        ):
            refused.recv(timeout=30)
        assert refused.close_code == 1011

        redis_process.start()
        # The server reconnects and subscribes again by itself; until it has, a
        # broadcast is lost (at most once), so keep sending numbered ones.
        deadline = time.monotonic() + 60
        number = 0
        while True:
            assert time.monotonic() < deadline, "the server never resubscribed"
            assert command(env, "news", f"after {number}").returncode == 0
            with contextlib.suppress(TimeoutError):
                if ws.recv(timeout=1) == f"after {number}":
                    break
            number += 1
        assert command(env, "news", "settled").returncode == 0
        recv_exactly(ws, "settled")
        assert send_to(server, "news", "local") == (200, {"count": 1})
        recv_exactly(ws, "local")


class _Member:
    """A socket as the groups backend sees it (an accepted core); it keeps its offers."""

    def __init__(self) -> None:
        from django_websocket.protocol import Protocol

        self.protocol = Protocol(max_queue=4, max_size=1 << 20)
        self.protocol.accept()
        self.sent: list[str | bytes] = []

    def offer(self, message: str | bytes) -> bool:
        self.sent.append(message)
        return True

    def stop_offers(self) -> None:
        pass


def test_first_joins_to_many_groups_at_once_all_subscribe(redis_process: RedisProcess) -> None:
    # Joins that arrive while the listener is still making its first subscription
    # must be subscribed too (each would otherwise time out with GroupBackendError).
    from django_websocket.groups.redis import RedisBackend

    options = {"URL": redis_process.url, "TIMEOUT": 5}

    async def main() -> list[list[str | bytes]]:
        backend, other_process = RedisBackend(options), RedisBackend(options)
        members = [_Member() for _ in range(8)]

        async def join_later(i: int, member: _Member) -> None:
            for _ in range(i):  # spread the joins over the listener's first connect
                await asyncio.sleep(0)
            await backend.join(f"g{i}", member)

        await asyncio.gather(*(join_later(i, m) for i, m in enumerate(members)))
        for i in range(len(members)):
            await other_process.publish(f"g{i}", f"to g{i}")
        deadline = time.monotonic() + 20
        while any(not m.sent for m in members) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for each in members:
            each.protocol.closed_by_peer(1000)
            for hook in each.protocol.take_close_hooks():
                hook()
        return [m.sent for m in members]

    assert asyncio.run(main()) == [[f"to g{i}"] for i in range(8)]


# -- Presence: group_size() across processes -------------------------------------------

# Seconds; the default is 15. TEST_PRESENCE_TTL=15 measures the default's bound.
PRESENCE_TTL = float(os.environ.get("TEST_PRESENCE_TTL", "1.5"))


def wait_for_counts(servers: tuple[Server, ...], group: str, expected: int) -> list[int]:
    """Poll every server's group_size until each says ``expected`` (closes are async)."""
    deadline = time.monotonic() + 30
    while True:
        sizes = [count_in(server, group) for server in servers]
        if sizes == [expected] * len(servers) or time.monotonic() > deadline:
            return sizes
        time.sleep(0.05)


def test_group_size_counts_every_process_and_a_killed_one_drops_out(
    tmp_path: Path, redis_process: RedisProcess
) -> None:
    env = redis_env(redis_process, PRESENCE_TTL=PRESENCE_TTL)
    with (
        two_servers(tmp_path, env) as (a, b),
        member(a, "room") as a1,
        member(a, "room", view="async_group_member"),
        member(b, "room"),
        member(b, "room", "other"),
        member(b, "other"),
    ):
        # Each join has returned (the view said "joined"): every process counts it.
        assert [count_in(a, "room"), count_in(b, "room")] == [4, 4]
        assert [count_in(a, "other"), count_in(b, "other")] == [2, 2]
        assert count_in(b, "room", view="group_count_sync") == 4
        a1.close()
        assert wait_for_counts((a, b), "room", 3) == [3, 3]
        # A living process stays counted however long it is quiet: its heartbeat
        # (every PRESENCE_TTL / 3) keeps its presence alive.
        time.sleep(PRESENCE_TTL * 3)
        assert [count_in(a, "room"), count_in(b, "room")] == [3, 3]

        # b dies without closing anything: its 2 sockets in "room" drop out.
        killed_at = time.monotonic()
        os.kill(b.process.pid, signal.SIGKILL)
        b.process.wait(10)
        deadline = killed_at + 30
        while (size := count_in(a, "room")) != 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        dropped_after = time.monotonic() - killed_at
        assert size == 1
        assert count_in(a, "other") == 0
        print(
            f"\nPRESENCE_TTL {PRESENCE_TTL} s: a SIGKILLed process's sockets dropped "
            f"out of group_size after {dropped_after:.2f} s"
        )


class _PresenceMember:
    """A socket as the groups backend sees it; presence needs no delivery."""

    def __init__(self) -> None:
        from django_websocket.protocol import Protocol

        self.protocol = Protocol(max_queue=4, max_size=1 << 20)
        self.protocol.accept()

    def offer(self, message: str | bytes) -> bool:
        return True

    def stop_offers(self) -> None:
        pass

    def close(self) -> None:
        self.protocol.closed_by_peer(1000)
        for hook in self.protocol.take_close_hooks():
            hook()


def test_group_size_across_backends_follows_joins_leaves_and_closes(
    redis_process: RedisProcess,
) -> None:
    from django_websocket.groups.redis import RedisBackend

    options = {"URL": redis_process.url, "TIMEOUT": 5, "PRESENCE_TTL": PRESENCE_TTL}

    async def main() -> list[int]:
        here, there = RedisBackend(options), RedisBackend(options)
        ada, bob, cy = _PresenceMember(), _PresenceMember(), _PresenceMember()
        seen = []
        await here.join("g", ada)
        await here.join("g", ada)  # one membership
        await there.join("g", bob)
        await there.join("g", cy)
        seen += [await here.count("g"), await there.count("g")]  # 3, 3
        await there.leave("g", bob)
        seen.append(await here.count("g"))  # 2: the leave returned
        ada.close()  # a close hook: written in the background, counted here at once
        seen.append(await here.count("g"))  # 1
        # Redis loses everything (a restart without persistence): the heartbeat puts
        # the counts back within PRESENCE_TTL / 3.
        client = redis_process.client()
        client.flushall()
        client.close()
        seen.append(await there.count("g"))  # 0
        await asyncio.sleep(PRESENCE_TTL / 3 + 0.5)
        seen.append(await here.count("g"))  # 1 again
        cy.close()
        seen.append(await there.count("g"))  # 0
        return seen

    assert asyncio.run(main()) == [3, 3, 2, 1, 0, 1, 0]


def test_joins_during_a_redis_outage_are_counted_once_it_is_back(
    redis_process: RedisProcess, caplog: pytest.LogCaptureFixture
) -> None:
    from django_websocket import GroupBackendError
    from django_websocket.groups.redis import RedisBackend

    options = {"URL": redis_process.url, "TIMEOUT": 1, "PRESENCE_TTL": PRESENCE_TTL}

    async def main() -> tuple[int, str, int]:
        backend = RedisBackend(options)
        first, second = _PresenceMember(), _PresenceMember()
        await backend.join("g", first)
        redis_process.stop()
        await backend.join("g", second)  # already subscribed: the join itself works
        with pytest.raises(GroupBackendError) as caught:
            await backend.count("g")
        redis_process.start()  # empty: no persistence
        deadline = time.monotonic() + 30
        while True:  # the heartbeat writes what the outage kept back
            with contextlib.suppress(GroupBackendError):
                if (size := await RedisBackend(options).count("g")) == 2:
                    break
            assert time.monotonic() < deadline, "the counts never came back"
            await asyncio.sleep(0.05)
        first.close()
        second.close()
        return size, str(caught.value), await backend.count("g")

    size, error, after = asyncio.run(main())
    assert (size, after) == (2, 0)
    assert "could not count group 'g'" in error
    assert "could not write group sizes" in caplog.text


def test_group_size_when_redis_is_down_is_a_clear_error(tmp_path: Path) -> None:
    from django.test import override_settings

    from django_websocket import GroupBackendError, group_size

    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    setting = {
        "BACKEND": "django_websocket.groups.redis.RedisBackend",
        "OPTIONS": {"URL": url, "TIMEOUT": 1},
    }
    with override_settings(WEBSOCKET_GROUPS=setting), pytest.raises(GroupBackendError) as caught:
        group_size("news")
    assert "could not count group 'news'" in str(caught.value)


@pytest.mark.parametrize("value", [0, -1, "soon", None])
def test_bad_presence_ttl_is_improperly_configured(value: object) -> None:
    from django.core.exceptions import ImproperlyConfigured

    from django_websocket.groups.redis import RedisBackend

    with pytest.raises(ImproperlyConfigured, match="PRESENCE_TTL"):
        RedisBackend({"PRESENCE_TTL": value})
