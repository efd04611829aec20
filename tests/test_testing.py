"""The in-process test client: no server, no port, the real handler and URLconf."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.test import SimpleTestCase, TestCase, TransactionTestCase

from django_websocket import ConnectionClosedError, ConnectionClosedOK, broadcast
from django_websocket.testing import AsyncWebSocketClient, HandshakeDenied, WebSocketClient
from tests.project import views

# --- Messages -------------------------------------------------------------------------


def test_send_and_wait_text_then_close_1000() -> None:
    with WebSocketClient().websocket("/echo_once/") as ws:
        ws.send("Hello")
        assert ws.wait() == "Hello"
        assert ws.wait() is None  # the view returned: closed with 1000
        assert ws.closed
        assert ws.close_code == 1000
        assert ws.close_reason == ""


def test_send_bytes_arrive_as_bytes() -> None:
    with WebSocketClient().websocket("/types/") as ws:
        ws.send(b"\x00\x01")
        assert ws.wait() == "bytes"
        assert ws.wait() == b"\x00\x01"
        ws.send("text")
        assert ws.wait() == "str"
        assert ws.wait() == "text"


def test_send_json_and_wait_json() -> None:
    with WebSocketClient().websocket("/json_echo/") as ws:
        ws.send_json({"n": [1, 2]})
        assert ws.wait_json() == {"got": {"n": [1, 2]}}


def test_seed_view_lower_case_many_messages() -> None:
    with WebSocketClient().websocket("/lower_case/") as ws:
        for word in ["ONE", "Two", "thrEE"]:
            ws.send(word)
            assert ws.wait() == word.lower()


def test_send_rejects_other_types() -> None:
    with WebSocketClient().websocket("/echo_once/") as ws:
        with pytest.raises(TypeError):
            ws.send(42)  # type: ignore[arg-type]
        ws.send("done")
        assert ws.wait() == "done"


# --- Timeouts and silence -------------------------------------------------------------


def test_wait_timeout_raises_timeout_error() -> None:
    with WebSocketClient().websocket("/async_echo/") as ws, pytest.raises(TimeoutError):
        ws.wait(timeout=0.1)


def test_assert_nothing_received_passes_on_silence() -> None:
    with WebSocketClient().websocket("/async_echo/") as ws:
        ws.assert_nothing_received(timeout=0.1)
        assert not ws.closed


def test_assert_nothing_received_fails_when_a_message_arrives() -> None:
    with WebSocketClient().websocket("/async_echo/") as ws:
        ws.send("echo me")
        with pytest.raises(AssertionError, match="echo me"):
            ws.assert_nothing_received(timeout=5)


def test_assert_nothing_received_fails_when_the_view_closes() -> None:
    ws = WebSocketClient().websocket("/close_with/?code=4002")
    with ws, pytest.raises(AssertionError, match="4002"):
        ws.assert_nothing_received(timeout=5)


# --- Handshake: headers, cookies, query, scheme, subprotocols --------------------------


def test_handshake_carries_headers_cookies_query_and_scheme() -> None:
    client = WebSocketClient(headers={"X-Test": "from the client"})
    client.cookies["flavour"] = "oat"
    with client.websocket("/handshake_info/?q=42", secure=True) as ws:
        info = ws.wait_json()
    assert info == {
        "x_test": "from the client",
        "cookies": {"flavour": "oat"},
        "query": "42",
        "secure": True,
        "path": "/handshake_info/",
    }


def test_per_connection_headers_override_client_headers() -> None:
    client = WebSocketClient(headers={"X-Test": "client"})
    with client.websocket("/handshake_info/", headers={"x-test": "connection"}) as ws:
        info = ws.wait_json()
    assert info["x_test"] == "connection"
    assert info["secure"] is False


def test_subprotocol_negotiated_by_the_view_order() -> None:
    client = WebSocketClient()
    with client.websocket("/negotiated/", subprotocols=["chat.v1", "chat.v2"]) as ws:
        assert ws.subprotocol == "chat.v2"
        assert ws.wait() == "'chat.v2'"


def test_no_common_subprotocol_is_none() -> None:
    with WebSocketClient().websocket("/negotiated/", subprotocols=["other"]) as ws:
        assert ws.subprotocol is None
        assert ws.wait() == "None"


def test_accept_headers_are_visible() -> None:
    with WebSocketClient().websocket("/explicit_accept/", subprotocols=["a", "b"]) as ws:
        assert ws.headers["x-hello"] == "world"
        assert ws.subprotocol == "b"
        assert ws.wait_json() == {"subprotocol": "b", "offered": ["a", "b"]}


# --- Denials -----------------------------------------------------------------------------


def test_denial_carries_status_headers_and_body() -> None:
    with pytest.raises(HandshakeDenied) as info:
        WebSocketClient().websocket("/deny/")
    denied = info.value
    assert denied.status_code == 418
    assert denied.headers["X-Why"] == "teapot"
    assert denied.content == b"no entry"
    assert denied.text == "no entry"
    assert "418" in str(denied)


def test_login_required_denies_anonymous_with_a_redirect() -> None:
    with pytest.raises(HandshakeDenied) as info:
        WebSocketClient().websocket("/whoami/")
    assert info.value.status_code == 302
    assert info.value.headers["Location"] == "/login/?next=/whoami/"


def test_unmarked_view_is_400() -> None:
    with pytest.raises(HandshakeDenied) as info:
        WebSocketClient().websocket("/http_ok/")
    assert info.value.status_code == 400


def test_unknown_path_is_404() -> None:
    with pytest.raises(HandshakeDenied) as info:
        WebSocketClient().websocket("/no/such/path/")
    assert info.value.status_code == 404


# --- Closing ----------------------------------------------------------------------------


def test_view_close_code_and_reason() -> None:
    with WebSocketClient().websocket("/close_with/?code=4001&reason=go+away") as ws:
        assert ws.wait() is None
        assert ws.close_code == 4001
        assert ws.close_reason == "go away"
        with pytest.raises(ConnectionClosedError) as info:
            ws.send("too late")
        assert info.value.code == 4001


def test_send_after_normal_close_is_connection_closed_ok() -> None:
    with WebSocketClient().websocket("/returns/") as ws:
        assert ws.wait() == "bye"
        assert ws.wait() is None
        with pytest.raises(ConnectionClosedOK):
            ws.send("x")


def test_client_close_reaches_the_view_and_waits_for_it() -> None:
    views.EVENTS.clear()
    ws = WebSocketClient().websocket("/record_on_close/")
    ws.send("ping")
    assert ws.wait() == "ping"
    ws.close(4000, "done here")  # returns once the view has returned
    assert ws.closed
    assert ws.close_code == 4000
    assert views.EVENTS == [{"view": "record_on_close", "code": 4000, "reason": "done here"}]


def test_close_rejects_a_bad_code() -> None:
    with WebSocketClient().websocket("/async_echo/") as ws, pytest.raises(ValueError):
        ws.close(1005)


def test_crashing_view_closes_1011(caplog: pytest.LogCaptureFixture) -> None:
    with WebSocketClient().websocket("/crash/") as ws:
        assert ws.wait() == "about to fail"
        assert ws.wait() is None
        assert ws.close_code == 1011
    assert "boom in a websocket view" in caplog.text


# --- Threads ----------------------------------------------------------------------------


def test_sync_views_run_on_threads_of_their_own() -> None:
    client = WebSocketClient()
    with client.websocket("/thread_id/") as first, client.websocket("/thread_id/") as second:
        threads = {first.wait_json()["thread"], second.wait_json()["thread"]}
    assert len(threads) == 2
    assert threading.get_ident() not in threads


# --- The async client -------------------------------------------------------------------


async def test_async_client_echo() -> None:
    async with AsyncWebSocketClient().websocket("/async_echo/") as ws:
        await ws.send("hi")
        assert await ws.wait() == "hi"
        await ws.send(b"\xff")
        assert await ws.wait() == b"\xff"
        await ws.assert_nothing_received(timeout=0.1)
    assert ws.closed
    assert ws.close_code == 1000


async def test_async_client_await_form_and_sync_view() -> None:
    ws = await AsyncWebSocketClient().websocket("/json_echo/")
    await ws.send_json([1])
    assert await ws.wait_json() == {"got": [1]}
    await ws.close()
    assert ws.close_code == 1000


async def test_async_client_denial_and_timeout() -> None:
    client = AsyncWebSocketClient()
    with pytest.raises(HandshakeDenied) as info:
        await client.websocket("/async_deny/")
    assert info.value.status_code == 403
    assert info.value.content == b"async says no"
    async with client.websocket("/async_echo/") as ws:
        with pytest.raises(TimeoutError):
            await ws.wait(timeout=0.1)


async def test_async_client_close_with_code() -> None:
    async with AsyncWebSocketClient().websocket("/close_with/?code=3001&reason=r") as ws:
        assert await ws.wait() is None
        assert (ws.close_code, ws.close_reason) == (3001, "r")


# --- Handshake timeout, other applications, groups -------------------------------------


async def test_handshake_timeout_raises_timeout_error() -> None:
    client = AsyncWebSocketClient(timeout=0.1)
    with pytest.raises(TimeoutError):
        await client.websocket("/slow_accept/?sleep=30")


async def test_application_that_closes_before_accepting_is_a_403_denial() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.close", "code": 1000})

    with pytest.raises(HandshakeDenied) as info:
        await AsyncWebSocketClient(application=app).websocket("/")
    assert info.value.status_code == 403
    assert info.value.content == b""


async def test_exception_escaping_the_application_is_raised_in_the_test() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        raise LookupError(f"broken app for {scope['path']}")

    with pytest.raises(LookupError, match="broken app for /x/"):
        await AsyncWebSocketClient(application=app).websocket("/x/")


def test_connections_from_two_clients_meet_in_a_group() -> None:
    alice, bob = WebSocketClient(), WebSocketClient()
    with (
        alice.websocket("/group_member/?group=lobby") as a,
        bob.websocket("/group_member/?group=lobby") as b,
    ):
        assert a.wait() == b.wait() == "joined"
        a.send("say:lobby:hi bob")
        assert a.wait() == "said:1"
        assert b.wait() == "hi bob"
        assert broadcast("lobby", "from the test") == 2
        assert a.wait() == b.wait() == "from the test"


# --- Login and the database (pytest-django) ---------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_force_login_makes_request_user() -> None:
    user = get_user_model().objects.create(username="ada")
    client = WebSocketClient()
    client.force_login(user)
    with client.websocket("/whoami/") as ws:
        assert ws.wait() == "ada"
    client.logout()
    with pytest.raises(HandshakeDenied):
        client.websocket("/whoami/")


@pytest.mark.django_db(transaction=True)
def test_login_with_credentials() -> None:
    get_user_model().objects.create_user(username="grace", password="s3cret")
    client = WebSocketClient()
    assert not client.login(username="grace", password="wrong")
    assert client.login(username="grace", password="s3cret")
    with client.websocket("/whoami/") as ws:
        assert ws.wait() == "grace"


@pytest.mark.django_db(transaction=True)
async def test_async_client_aforce_login() -> None:
    user = await get_user_model().objects.acreate(username="linus")
    client = AsyncWebSocketClient()
    await client.aforce_login(user)
    async with client.websocket("/whoami/") as ws:
        assert await ws.wait() == "linus"


# --- Django test case classes -----------------------------------------------------------


class SimpleTestCaseTests(SimpleTestCase):
    """No database needed: the client works in SimpleTestCase."""

    def test_echo(self) -> None:
        with WebSocketClient().websocket("/echo_once/") as ws:
            ws.send("simple")
            self.assertEqual(ws.wait(), "simple")

    async def test_async_echo(self) -> None:
        async with AsyncWebSocketClient().websocket("/async_echo/") as ws:
            await ws.send("simple async")
            self.assertEqual(await ws.wait(), "simple async")

    async def test_sync_view_runs_on_its_own_thread_in_an_async_test(self) -> None:
        # Django runs async test methods in async_to_sync; the views must still get
        # threads of their own, not the test's thread.
        test_thread = await sync_to_async(threading.get_ident)()
        client = AsyncWebSocketClient()
        async with (
            client.websocket("/thread_id/") as first,
            client.websocket("/thread_id/") as second,
        ):
            threads = {
                (await first.wait_json())["thread"],
                (await second.wait_json())["thread"],
            }
        self.assertEqual(len(threads), 2)
        self.assertNotIn(test_thread, threads)


class TransactionTestCaseTests(TransactionTestCase):
    """Data the test creates is committed, so the view's own connection sees it."""

    def test_view_sees_data_created_by_the_test(self) -> None:
        get_user_model().objects.create(username="zoe")
        with WebSocketClient().websocket("/usernames/") as ws:
            ws.send("list")
            self.assertEqual(ws.wait_json(), ["zoe"])
            get_user_model().objects.create(username="abe")
            ws.send("list")
            self.assertEqual(ws.wait_json(), ["abe", "zoe"])

    def test_shares_the_session_of_self_client(self) -> None:
        self.client.force_login(get_user_model().objects.create(username="ada"))
        with WebSocketClient(http_client=self.client).websocket("/whoami/") as ws:
            self.assertEqual(ws.wait(), "ada")


class TestCaseTests(TestCase):
    """TestCase's transaction is never committed: a view's own connection cannot use it."""

    def test_view_cannot_read_what_the_test_wrote(self) -> None:
        # force_login writes the session row inside the test's open transaction. The
        # view reads it on its own thread, so on its own connection. With SQLite's
        # shared-cache in-memory test database that read fails ("database table is
        # locked") and the handshake is denied with 500; a server database (or a file
        # test database) shows no session instead: a redirect to the login page.
        client = WebSocketClient()
        client.force_login(get_user_model().objects.create(username="ada"))
        with (
            self.assertLogs("django.request", "ERROR") as logs,
            self.assertRaises(HandshakeDenied) as denied,
        ):
            client.websocket("/whoami/")
        self.assertEqual(denied.exception.status_code, 500)
        self.assertIn("database table is locked", "\n".join(logs.output))

    def test_views_that_skip_the_database_work(self) -> None:
        with self.assertRaises(HandshakeDenied) as denied:
            WebSocketClient().websocket("/deny/")
        self.assertEqual(denied.exception.status_code, 418)
        with WebSocketClient().websocket("/json_echo/") as ws:
            ws.send_json("ok")
            self.assertEqual(ws.wait_json(), {"got": "ok"})
