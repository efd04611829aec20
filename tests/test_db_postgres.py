"""Database connections of waiting sockets, against the real PostgreSQL on 127.0.0.1:5432.

Each test makes its own role with a ``CONNECTION LIMIT`` and its own database, and drops
both after (never touching anyone else's connections), then opens more sockets than the
limit on views that query when they open and on each message. Without PostgreSQL (or
the ``psycopg`` package) the tests skip, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from .conftest import Server, serve

ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3"
LIMIT = 5  # the role's connection limit
SOCKETS = 15  # three times the limit


@dataclass
class Database:
    """A role and a database of its own, on the shared server."""

    role: str

    def settings(self, **extra: object) -> str:
        """``TEST_DATABASE_JSON`` for the test project: this database, as this role."""
        default = {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": self.role,
            "USER": self.role,
            "HOST": "127.0.0.1",
            "PORT": "5432",
            "CONN_MAX_AGE": 0,
            **extra,
        }
        return json.dumps(default)

    def backends(self) -> int:
        """How many server processes the role has now."""
        import psycopg

        with psycopg.connect(ADMIN, autocommit=True) as admin:
            row = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE usename = %s", [self.role]
            ).fetchone()
        assert row is not None
        return int(row[0])

    def wait_for_backends(self, at_most: int, timeout: float = 15.0) -> int:
        """Poll until the role has at most ``at_most`` backends (or the time is up)."""
        deadline = time.monotonic() + timeout
        while (count := self.backends()) > at_most and time.monotonic() < deadline:
            time.sleep(0.1)
        return count


@pytest.fixture
def database() -> Iterator[Database]:
    """A fresh role (``LOGIN CONNECTION LIMIT 5``) owning a fresh database; dropped after."""
    try:
        import psycopg

        admin = psycopg.connect(ADMIN, autocommit=True)
    except Exception as error:  # no psycopg, or no server
        message = f"PostgreSQL is not reachable on 127.0.0.1:5432 as postgres: {error}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    role = f"dws_test_{uuid.uuid4().hex[:10]}"
    with admin:
        admin.execute(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT {LIMIT}')
        try:
            admin.execute(f'CREATE DATABASE "{role}" OWNER "{role}"')
            try:
                yield Database(role)
            finally:
                # Only this role's own backends are ended, so the database can go.
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                    [role],
                )
                admin.execute(f'DROP DATABASE IF EXISTS "{role}" WITH (FORCE)')
        finally:
            admin.execute(f'DROP ROLE IF EXISTS "{role}"')


@contextlib.contextmanager
def serve_on(
    tmp_path: Path, database: Database, kind: str = "uvicorn", **extra: object
) -> Iterator[Server]:
    """Serve the test project on ``database``, through sessions and auth middleware."""
    settings = database.settings(**extra)
    with serve(
        tmp_path, kind=kind, TEST_DATABASE_JSON=settings, TEST_MIDDLEWARE="sessions_auth"
    ) as server:
        yield server


async def _hold_sockets(server: Server, path: str, database: Database, at_most: int) -> int:
    """Open SOCKETS sockets on ``path``; each must answer when it opens and to a message.

    Returns the role's backend count once they all wait.
    """
    async with contextlib.AsyncExitStack() as stack:
        sockets = []
        for _ in range(SOCKETS):
            ws = await stack.enter_async_context(connect(server.ws + path, open_timeout=20))
            assert json.loads(await asyncio.wait_for(ws.recv(), 20)) == {"users": 0}
            sockets.append(ws)
        for ws in sockets:  # one at a time: queries at once need connections at once
            await ws.send("again")
            assert json.loads(await asyncio.wait_for(ws.recv(), 20)) == {"users": 0}
        # Every socket is open and waiting for its next message.
        return await asyncio.to_thread(database.wait_for_backends, at_most)


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        ("uvicorn", "/db_per_message/"),
        ("uvicorn", "/async_db_per_message/"),
        ("gthread", "/db_per_message/"),
    ],
    ids=["asgi-sync-view", "asgi-async-view", "wsgi-sync-view"],
)
def test_waiting_sockets_hold_no_connection_with_conn_max_age_0(
    tmp_path: Path, database: Database, kind: str, path: str
) -> None:
    with serve_on(tmp_path, database, kind=kind) as server:
        backends = asyncio.run(_hold_sockets(server, path, database, at_most=0))
        assert backends == 0, server.log()
        assert "too many" not in server.log()


@pytest.mark.parametrize("path", ["/db_per_message/", "/async_db_per_message/"])
def test_waiting_sockets_give_pooled_connections_back(
    tmp_path: Path, database: Database, path: str
) -> None:
    # A pool of 3 for 15 sockets: a socket that kept its pooled connection while it waits
    # would leave the fourth one's query waiting for the pool, then failing (timeout 5 s).
    pool = {"min_size": 1, "max_size": 3, "timeout": 5}
    with serve_on(tmp_path, database, OPTIONS={"pool": pool}) as server:
        backends = asyncio.run(_hold_sockets(server, path, database, at_most=3))
        assert backends <= 3, server.log()
        assert "PoolTimeout" not in server.log()


def test_a_transaction_held_across_a_wait_keeps_its_connection(
    tmp_path: Path, database: Database
) -> None:
    async def run(server: Server) -> tuple[dict[str, list[int]], int]:
        async with connect(server.ws + "/db_atomic_wait/") as ws:
            assert "before" in json.loads(await ws.recv())
            # The view waits inside transaction.atomic(): its connection stays open.
            waiting = await asyncio.to_thread(database.backends)
            await ws.send("go on")
            return json.loads(await ws.recv()), waiting

    with serve_on(tmp_path, database) as server:
        reply, waiting = asyncio.run(run(server))
    assert waiting == 1
    assert reply["after"] == reply["before"]  # the same backend, the same transaction


@pytest.mark.parametrize(
    ("kind", "path"),
    [("uvicorn", "/db_pid/"), ("uvicorn", "/async_db_pid/"), ("gthread", "/db_pid/")],
    ids=["asgi-sync-view", "asgi-async-view", "wsgi-sync-view"],
)
def test_a_kept_connection_is_reused_and_replaced_once_broken(
    tmp_path: Path, database: Database, kind: str, path: str
) -> None:
    # CONN_MAX_AGE > 0 keeps the connection across waits, as across requests; one that
    # broke while the socket waited (here: its backend ended) is replaced, not used.
    import psycopg

    async def run(server: Server) -> list[int]:
        pids = []
        async with connect(server.ws + path) as ws:
            pids.append(json.loads(await ws.recv())["pid"])
            await ws.send("again")
            pids.append(json.loads(await ws.recv())["pid"])
            with psycopg.connect(ADMIN, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", [pids[-1]])
            await ws.send("again")
            pids.append(json.loads(await ws.recv())["pid"])
        return pids

    settings = {"CONN_MAX_AGE": 60, "CONN_HEALTH_CHECKS": True}
    with serve_on(tmp_path, database, kind=kind, **settings) as server:
        first, kept, replaced = asyncio.run(run(server))
    assert kept == first
    assert replaced != first


@pytest.mark.parametrize(
    ("kind", "path"),
    [("uvicorn", "/db_pid/"), ("uvicorn", "/async_db_pid/"), ("gthread", "/db_pid/")],
    ids=["asgi-sync-view", "asgi-async-view", "wsgi-sync-view"],
)
def test_a_connection_that_expires_during_a_wait_is_not_used_after_it(
    tmp_path: Path, database: Database, kind: str, path: str
) -> None:
    # CONN_MAX_AGE = 2: kept across a short wait; past its age once a long wait is over,
    # it is closed before the view's next query, as Django does before a request.
    async def run(server: Server) -> list[int]:
        async with connect(server.ws + path) as ws:
            pids = [json.loads(await ws.recv())["pid"]]
            await ws.send("again")
            pids.append(json.loads(await ws.recv())["pid"])
            await asyncio.sleep(2.5)
            await ws.send("again")
            pids.append(json.loads(await ws.recv())["pid"])
        return pids

    with serve_on(tmp_path, database, kind=kind, CONN_MAX_AGE=2) as server:
        first, kept, after_the_wait = asyncio.run(run(server))
    assert kept == first
    assert after_the_wait != first
