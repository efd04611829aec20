"""Groups and broadcast with the in-memory backend, against a real uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import urllib.parse
from collections.abc import Iterator

import pytest
from django.core import checks
from django.core.management import call_command
from django.test import override_settings
from websockets.exceptions import ConnectionClosedOK
from websockets.sync.client import ClientConnection, connect

from django_websocket import (
    GroupBackendError,
    WebSocketError,
    abroadcast,
    agroup_size,
    broadcast,
    broadcast_json,
    group_size,
)
from django_websocket.checks import E003, E004, W001
from django_websocket.groups import get_backend, validate_group_name

from .conftest import Server

REDIS_GROUPS = {"BACKEND": "django_websocket.groups.redis.RedisBackend"}


def send_to(server: Server, group: str, message: str = "", **params: str) -> tuple[int, dict]:
    """Broadcast through the project's HTTP view; return its status and JSON reply."""
    view = params.pop("view", "group_broadcast")
    query = urllib.parse.urlencode({"group": group, "message": message, **params})
    status, _, body = server.get(f"/{view}/?{query}")
    return status, json.loads(body)


@contextlib.contextmanager
def member(server: Server, *groups: str, view: str = "group_member") -> Iterator[ClientConnection]:
    """Open a socket that has joined ``groups``."""
    query = urllib.parse.urlencode([("group", group) for group in groups])
    with connect(f"{server.ws}/{view}/?{query}") as ws:
        assert ws.recv(timeout=10) == "joined"
        yield ws


def wait_for_size(server: Server, group: str, expected: int) -> int:
    """Poll the group's local size until it is ``expected`` (closes are handled async)."""
    deadline = time.monotonic() + 20
    while True:
        size = json.loads(server.get(f"/group_size/?group={group}")[2])["size"]
        if size == expected or time.monotonic() > deadline:
            return size
        time.sleep(0.05)


# --- Over a real server. ------------------------------------------------------------


@pytest.mark.parametrize("view", ["group_broadcast", "group_abroadcast"])
def test_broadcast_from_http_view_reaches_sync_and_async_members(server: Server, view: str) -> None:
    group = f"news.{view}"
    with (
        member(server, group) as sync_member,
        member(server, group, view="async_group_member") as async_member,
        member(server, "elsewhere") as outsider,
    ):
        status, reply = send_to(server, group, "hello", view=view)
        assert (status, reply) == (200, {"count": 2})
        assert sync_member.recv(timeout=10) == "hello"
        assert async_member.recv(timeout=10) == "hello"
        outsider.send("say:nobody-here:x")  # a command the outsider answers at once
        assert outsider.recv(timeout=10) == "said:0"  # so it got no "hello" before


def count_in(server: Server, group: str, view: str = "group_count") -> int:
    """group_size()/agroup_size() as the server process answers it."""
    status, _, body = server.get(f"/{view}/?group={group}")
    assert status == 200, body
    return int(json.loads(body)["size"])


def wait_for_count(server: Server, group: str, expected: int) -> int:
    """Poll the group's size until it is ``expected`` (a close is handled async)."""
    deadline = time.monotonic() + 20
    while (size := count_in(server, group)) != expected and time.monotonic() < deadline:
        time.sleep(0.05)
    return size


@pytest.mark.parametrize("view", ["group_count", "group_count_sync"])
def test_group_size_counts_the_sockets_in_a_group_as_they_come_and_go(
    server: Server, view: str
) -> None:
    group = f"presence.{view}"
    assert count_in(server, group, view) == 0
    with member(server, group), member(server, group, view="async_group_member"):
        with member(server, group), member(server, "elsewhere"):
            assert count_in(server, group, view) == 3  # each counts once its join returned
        assert wait_for_count(server, group, 2) == 2
        assert count_in(server, group, view) == 2
    assert wait_for_count(server, group, 0) == 0


def test_group_size_counts_a_socket_once_however_often_it_joined(server: Server) -> None:
    with member(server, "presence.twice", "presence.twice") as ws:
        ws.send("join:presence.twice")
        assert ws.recv(timeout=10) == "joined"
        assert count_in(server, "presence.twice") == 1
        ws.send("leave:presence.twice")
        assert ws.recv(timeout=10) == "left"
        assert count_in(server, "presence.twice") == 0  # leave() returned: not counted


def test_broadcast_kinds_text_binary_json(server: Server) -> None:
    with member(server, "kinds") as ws:
        assert send_to(server, "kinds", "t", kind="text")[1] == {"count": 1}
        assert send_to(server, "kinds", "b", kind="binary")[1] == {"count": 1}
        assert send_to(server, "kinds", "j", kind="json")[1] == {"count": 1}
        assert ws.recv(timeout=10) == "t"
        assert ws.recv(timeout=10) == b"b"
        assert json.loads(ws.recv(timeout=10)) == {"message": "j"}


@pytest.mark.parametrize("view", ["group_member", "async_group_member"])
def test_exclude_leaves_out_the_sender(server: Server, view: str) -> None:
    group = f"room.{view}"
    with member(server, group, view=view) as sender, member(server, group) as other:
        sender.send(f"say:{group}:hi all")
        assert sender.recv(timeout=10) == "said:1"
        assert other.recv(timeout=10) == "hi all"
        # The sender got nothing but its own reply: the next thing it sees is this.
        assert send_to(server, group, "after")[1] == {"count": 2}
        assert sender.recv(timeout=10) == "after"


@pytest.mark.parametrize("view", ["group_member", "async_group_member"])
def test_leave_stops_delivery(server: Server, view: str) -> None:
    group = f"leaving.{view}"
    with member(server, group, "other", view=view) as ws:
        ws.send(f"leave:{group}")
        assert ws.recv(timeout=10) == "left"
        assert send_to(server, group, "gone")[1] == {"count": 0}
        ws.send("leave:never-joined")  # leaving a group one is not in is a no-op
        assert ws.recv(timeout=10) == "left"


def test_join_twice_is_one_membership(server: Server) -> None:
    with member(server, "twice", "twice") as ws:
        ws.send("join:twice")
        assert ws.recv(timeout=10) == "joined"
        assert send_to(server, "twice", "once")[1] == {"count": 1}


@pytest.mark.parametrize("view", ["group_member", "async_group_member"])
def test_socket_leaves_its_groups_when_the_client_closes(server: Server, view: str) -> None:
    group = f"closing.{view}"
    with member(server, group, view=view):
        assert wait_for_size(server, group, 1) == 1
    assert wait_for_size(server, group, 0) == 0


def test_socket_leaves_its_groups_when_the_view_closes_it(server: Server) -> None:
    with member(server, "view-closes") as ws:
        ws.send("close")
        with pytest.raises(ConnectionClosedOK):
            ws.recv(timeout=10)
    assert wait_for_size(server, "view-closes", 0) == 0


def test_socket_leaves_its_groups_when_the_client_drops(server: Server) -> None:
    with member(server, "dropped") as ws:
        assert wait_for_size(server, "dropped", 1) == 1
        ws.socket.close()  # no close frame: the server sees a disconnect
    assert wait_for_size(server, "dropped", 0) == 0


@pytest.mark.parametrize("name", ["bad name", "", "x" * 101, "é", "a/b"])
def test_bad_group_names_are_refused_with_a_clear_message(server: Server, name: str) -> None:
    status, reply = send_to(server, name, "x")
    assert status == 400
    assert "invalid group name" in reply["error"]
    with member(server) as ws:
        ws.send(f"join:{name}")
        answer = ws.recv(timeout=10)
        assert answer.startswith("ValueError: invalid group name")


def test_longest_group_name_is_accepted(server: Server) -> None:
    name = "A-z0._" + "x" * 94
    with member(server, name):
        assert send_to(server, name, "x") == (200, {"count": 1})


# --- In this process, with no server. -----------------------------------------------


def test_validate_group_name() -> None:
    assert validate_group_name("chat.room-1_A") == "chat.room-1_A"
    with pytest.raises(ValueError, match="invalid group name"):
        validate_group_name("x" * 101)
    with pytest.raises(TypeError):
        validate_group_name(b"bytes")  # type: ignore[arg-type]


def test_broadcast_outside_any_server_reaches_nobody() -> None:
    # A shell or a WSGI process: no socket lives here, nothing to hand it to.
    assert broadcast("nobody", "x") == 0
    assert broadcast_json("nobody", {"a": 1}) == 0


def test_group_size_outside_any_server_is_zero_and_checks_the_name() -> None:
    assert group_size("nobody") == 0
    with pytest.raises(ValueError, match="invalid group name"):
        group_size("no spaces")

    async def main() -> None:
        with pytest.raises(WebSocketError, match="await"):
            group_size("g")
        assert await agroup_size("g") == 0

    asyncio.run(main())


def test_broadcast_rejects_other_message_types() -> None:
    with pytest.raises(TypeError):
        broadcast("g", 42)  # type: ignore[arg-type]


def test_blocking_broadcast_on_the_event_loop_raises() -> None:
    async def main() -> None:
        with pytest.raises(WebSocketError, match="await"):
            broadcast("g", "x")
        assert await abroadcast("g", "x") == 0

    asyncio.run(main())


def test_backend_follows_the_setting() -> None:
    pytest.importorskip("redis", reason="the redis package is not installed")
    default = get_backend()
    assert type(default).__name__ == "MemoryBackend"
    with override_settings(WEBSOCKET_GROUPS={**REDIS_GROUPS, "OPTIONS": {"PREFIX": "t:"}}):
        redis_backend = get_backend()
        assert type(redis_backend).__name__ == "RedisBackend"
        assert redis_backend.options == {"PREFIX": "t:"}
    assert get_backend() is not redis_backend


def test_broadcast_command_with_memory_backend(capsys: pytest.CaptureFixture[str]) -> None:
    call_command("broadcast", "g", '{"a": 1}', "--json")
    assert "Broadcast to group 'g'" in capsys.readouterr().out


def test_deploy_check_warns_about_the_memory_backend() -> None:
    assert W001 in checks.run_checks(include_deployment_checks=True)
    assert W001 not in checks.run_checks()
    with override_settings(WEBSOCKET_GROUPS=REDIS_GROUPS):
        assert W001 not in checks.run_checks(include_deployment_checks=True)


@pytest.mark.parametrize("value", [0, -1, "64", True])
def test_bad_group_buffer_is_e003(value: object) -> None:
    with override_settings(WEBSOCKET_GROUP_BUFFER=value):
        assert E003 in checks.run_checks()


@pytest.mark.parametrize("value", ["Drop", "block", None])
def test_bad_slow_client_policy_is_e004(value: object) -> None:
    with override_settings(WEBSOCKET_SLOW_CLIENT=value):
        assert E004 in checks.run_checks()


def test_broadcast_to_unreachable_redis_is_a_clear_error_without_the_password() -> None:
    pytest.importorskip("redis", reason="the redis package is not installed")
    from .conftest import free_port

    url = f"redis://:s3cret@127.0.0.1:{free_port()}/0"  # nothing listens there
    setting = {**REDIS_GROUPS, "OPTIONS": {"URL": url, "TIMEOUT": 2}}
    with override_settings(WEBSOCKET_GROUPS=setting), pytest.raises(GroupBackendError) as caught:
        broadcast("news", "x")
    assert "could not broadcast to group 'news'" in str(caught.value)
    assert "s3cret" not in str(caught.value)
