"""The browser client, django_websocket/static/django_websocket/client.js, in headless Chromium.

The page comes from the test project on uvicorn (``client_page/``, which loads the
client from ``/static/``), and its sockets go to the project's views on the same server:
real browser, real server. What the example site does with the client across a server
restart is in tests/test_example_reconnect.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import Server
from .test_example_browser import TIMEOUT_MS, browser  # noqa: F401 (fixture)

# Every event of a socket, in order, in window.seen: what the tests read back.
TRACK = """() => {
window.seen = [];
window.track = (socket) => {
  for (const type of ["open", "message", "close", "error", "reconnecting", "reconnected",
                      "dropped"]) {
    socket.addEventListener(type, (event) => {
      const entry = {type, readyState: socket.readyState};
      for (const field of ["data", "code", "reason", "wasClean", "attempt", "delay"]) {
        if (event[field] !== undefined) entry[field] = event[field];
      }
      if (entry.data instanceof ArrayBuffer) {
        entry.data = {bytes: Array.from(new Uint8Array(entry.data))};
      }
      seen.push(entry);
    });
  }
  return socket;
};
}"""


@pytest.fixture
def page(browser: Any, server: Server) -> Iterator[Any]:  # noqa: F811
    """A page of the test project that has loaded client.js as a classic script."""
    server.events()  # forget what earlier tests recorded
    context = browser.new_context(base_url=server.http)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        tab = context.new_page()
        tab.goto("/client_page/")
        tab.evaluate(TRACK)
        yield tab
    finally:
        context.close()


def _seen(page: Any, *types: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = page.evaluate("window.seen")
    return [entry for entry in entries if not types or entry["type"] in types]


def _wait_for(page: Any, expression: str) -> None:
    page.wait_for_function(expression, timeout=TIMEOUT_MS)


def _connections(server: Server, view: str, count: int) -> list[dict[str, Any]]:
    """Wait until ``view`` has recorded ``count`` connections; return all it recorded."""
    return [event for event in server.wait_for_events(count) if event.get("view") == view]


def _open_close_with(code: int, options: str) -> str:
    return f"window.socket = track(new DjangoWebSocket('/close_with/?code={code}', {options}))"


def _messages(page: Any) -> list[Any]:
    return [entry["data"] for entry in _seen(page, "message")]


# --- The WebSocket interface ----------------------------------------------------------


def test_client_is_a_global_with_the_websocket_interface(page: Any, server: Server) -> None:
    facts = page.evaluate("""() => {
      const socket = track(new DjangoWebSocket("/async_echo/"));
      window.socket = socket;
      return {
        constants: [DjangoWebSocket.CONNECTING, DjangoWebSocket.OPEN, DjangoWebSocket.CLOSING,
                    DjangoWebSocket.CLOSED, socket.OPEN],
        url: socket.url,
        readyState: socket.readyState,
        isEventTarget: socket instanceof EventTarget,
        binaryType: socket.binaryType,
        protocol: socket.protocol,
      };
    }""")
    assert facts == {
        "constants": [0, 1, 2, 3, 1],
        "url": f"{server.ws}/async_echo/",  # relative to the page, http -> ws
        "readyState": 0,
        "isEventTarget": True,
        "binaryType": "blob",
        "protocol": "",
    }
    _wait_for(page, "socket.readyState === DjangoWebSocket.OPEN")
    page.evaluate("""() => {
      socket.onmessage = (event) => { window.viaProperty = event.data; };
      socket.send("text");
    }""")
    _wait_for(page, "window.viaProperty === 'text'")
    page.evaluate("""() => {
      socket.onmessage = null;
      socket.binaryType = "arraybuffer";
      socket.send(new Uint8Array([1, 2, 255]));
    }""")
    _wait_for(page, "seen.filter((e) => e.type === 'message').length === 2")
    assert _messages(page) == ["text", {"bytes": [1, 2, 255]}]
    assert page.evaluate("window.viaProperty") == "text"  # null removed the handler

    assert page.evaluate("socket.close(1000, 'bye'), socket.readyState") == 2  # CLOSING
    _wait_for(page, "socket.readyState === DjangoWebSocket.CLOSED")
    (closed,) = _seen(page, "close")
    assert (closed["code"], closed["reason"], closed["wasClean"]) == (1000, "bye", True)


def test_client_negotiates_a_subprotocol(page: Any) -> None:
    page.evaluate(
        "window.socket = track("
        " new DjangoWebSocket('/negotiated/', ['chat.v1'], {stopCodes: [1000]}))"
    )
    _wait_for(page, "socket.readyState === DjangoWebSocket.CLOSED")
    assert page.evaluate("socket.protocol") == "chat.v1"  # kept after the close, as WebSocket does
    assert _messages(page) == ["'chat.v1'"]  # what the view saw


def test_client_as_es_module_exports_the_class(browser: Any, server: Server) -> None:  # noqa: F811
    context = browser.new_context(base_url=server.http)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        tab = context.new_page()
        tab.goto("/client_page/?as=module")
        _wait_for(tab, "window.fromModule !== undefined")
        tab.evaluate(TRACK)
        assert tab.evaluate("fromModule.named === fromModule.default") is True
        tab.evaluate("""() => {
          window.socket = track(new fromModule.named("/async_echo/"));
          socket.send("from the module");
        }""")
        _wait_for(tab, "seen.some((e) => e.type === 'message')")
        assert _messages(tab) == ["from the module"]
    finally:
        context.close()


# --- The offline queue --------------------------------------------------------------


def test_send_before_open_is_queued_and_sent_in_order(page: Any) -> None:
    states = page.evaluate("""() => {
      window.socket = track(new DjangoWebSocket("/async_echo/"));
      const states = [];
      for (const text of ["one", "two", "three"]) {
        states.push(socket.readyState);
        socket.send(text);  // a browser WebSocket throws InvalidStateError here
      }
      return states;
    }""")
    assert states == [0, 0, 0]
    _wait_for(page, "seen.filter((e) => e.type === 'message').length === 3")
    assert _messages(page) == ["one", "two", "three"]


def test_queue_past_max_queue_drops_the_oldest_with_an_event(page: Any) -> None:
    page.evaluate("""() => {
      window.socket = track(new DjangoWebSocket("/async_echo/", {maxQueue: 2}));
      for (const text of ["1", "2", "3", "4", "5"]) socket.send(text);
    }""")
    _wait_for(page, "seen.filter((e) => e.type === 'message').length === 2")
    assert _messages(page) == ["4", "5"]
    dropped = [(entry["data"], entry["reason"]) for entry in _seen(page, "dropped")]
    assert dropped == [("1", "queue full"), ("2", "queue full"), ("3", "queue full")]

    page.evaluate("socket.close(); socket.send('too late')")
    assert _seen(page, "dropped")[-1] == {
        "type": "dropped",
        "readyState": 2,
        "data": "too late",
        "reason": "closed",
    }


# --- Reconnecting and stopping ------------------------------------------------------

FAST = "{minDelay: 20, maxDelay: 50}"  # retries come within 50 ms


@pytest.mark.parametrize(
    ("code", "options"),
    [
        (4001, FAST),
        (4999, FAST),
        (1008, FAST),
        (1011, f"{{...{FAST}, stopCodes: [1011, [4100, 4199]]}}"),
        (4150, f"{{...{FAST}, stopCodes: [1011, [4100, 4199]]}}"),
    ],
)
def test_close_code_from_view_stops_reconnecting(
    page: Any, server: Server, code: int, options: str
) -> None:
    page.evaluate(_open_close_with(code, options))
    _wait_for(page, "socket.readyState === DjangoWebSocket.CLOSED")
    time.sleep(1)  # twenty retries' worth
    assert len(_connections(server, "close_with", 1)) == 1
    assert [entry["type"] for entry in _seen(page)] == ["open", "close"]
    assert _seen(page, "close")[0]["code"] == code


@pytest.mark.parametrize(
    ("code", "options"),
    [
        (1011, FAST),
        (1000, FAST),  # the view returned: not "do not come back"
        (4001, f"{{...{FAST}, stopCodes: [1011]}}"),  # the list replaces the default
    ],
)
def test_other_close_codes_from_view_reconnect(
    page: Any, server: Server, code: int, options: str
) -> None:
    page.evaluate(_open_close_with(code, options))
    _wait_for(page, "seen.filter((e) => e.type === 'reconnected').length >= 2")
    page.evaluate("socket.close()")
    _wait_for(page, "socket.readyState === DjangoWebSocket.CLOSED")
    assert len(_connections(server, "close_with", 3)) >= 3
    first = _seen(page, "reconnecting")[0]
    assert (first["code"], first["attempt"], first["readyState"]) == (code, 1, 0)
    assert _seen(page, "close") == [_seen(page)[-1]]  # one close, at the end


def test_close_while_the_server_closes_fires_one_close(page: Any) -> None:
    # The page's close() lands while the server's close is under way (the browser's
    # socket is CLOSING): one "close", with the server's code, and no second one of our
    # own. A stand-in WebSocket makes that moment happen every time.
    page.evaluate("""() => {
      window.WebSocket = class {
        constructor() {
          this.readyState = 0;
          window.fake = this;
          setTimeout(() => { this.readyState = 1; this.onopen(); }, 0);
        }
        send() {}
        close() {}
      };
      window.socket = track(new DjangoWebSocket("/unused/"));
    }""")
    _wait_for(page, "socket.readyState === DjangoWebSocket.OPEN")
    page.evaluate("""() => {
      fake.readyState = 2;  // the server's close frame came in
      socket.close();  // and the page closes meanwhile
      setTimeout(() => {
        fake.readyState = 3;
        fake.onclose({code: 1000, reason: "", wasClean: true});
      }, 0);
    }""")
    _wait_for(page, "socket.readyState === DjangoWebSocket.CLOSED")
    time.sleep(0.2)  # a second "close" (or a reconnection) would be here by now
    assert [(entry["type"], entry.get("code")) for entry in _seen(page)] == [
        ("open", None),
        ("close", 1000),
    ]


def test_close_from_page_stops_reconnecting(page: Any, server: Server) -> None:
    page.evaluate(f"window.socket = track(new DjangoWebSocket('/record_on_close/', {FAST}))")
    _wait_for(page, "socket.readyState === DjangoWebSocket.OPEN")
    page.evaluate("socket.close(1000, 'leaving')")  # not a stop code: close() alone stops it
    _wait_for(page, "socket.readyState === DjangoWebSocket.CLOSED")
    time.sleep(1)
    recorded = _connections(server, "record_on_close", 1)
    assert [(event["code"], event["reason"]) for event in recorded] == [(1000, "leaving")]
    assert [entry["type"] for entry in _seen(page)] == ["open", "close"]


def test_close_while_waiting_to_retry_stops_at_once(page: Any, server: Server) -> None:
    page.evaluate("""() => {
      window.socket = track(new DjangoWebSocket("/close_with/?code=1011", {minDelay: 300}));
      socket.addEventListener("reconnecting", () => {
        socket.send("never sent");  // queued
        socket.close(1000, "enough");
        window.stateAfterClose = socket.readyState;
      }, {once: true});
    }""")
    _wait_for(page, "socket.readyState === DjangoWebSocket.CLOSED")
    assert page.evaluate("stateAfterClose") == 2  # CLOSING until the close event
    time.sleep(1.5)  # past the longest wait the retry could have had
    assert len(_connections(server, "close_with", 1)) == 1
    assert [entry["type"] for entry in _seen(page)] == ["open", "reconnecting", "dropped", "close"]
    dropped, closed = _seen(page, "dropped", "close")
    assert (dropped["data"], dropped["reason"]) == ("never sent", "closed")
    assert (closed["code"], closed["reason"]) == (1000, "enough")


def test_reconnecting_backs_off_with_jitter_up_to_max_delay(page: Any) -> None:
    # The view accepts and closes each time: brief connections do not reset the count.
    page.evaluate(
        "window.socket = track(new DjangoWebSocket('/close_with/?code=1011',"
        " {minDelay: 40, maxDelay: 160}))"
    )
    _wait_for(page, "seen.filter((e) => e.type === 'reconnecting').length >= 6")
    page.evaluate("socket.close()")
    waits = _seen(page, "reconnecting")[:6]
    assert [entry["attempt"] for entry in waits] == [1, 2, 3, 4, 5, 6]
    bounds = [40, 80, 160, 160, 160, 160]
    assert all(0 <= entry["delay"] <= bound for entry, bound in zip(waits, bounds, strict=True))
    assert len({entry["delay"] for entry in waits}) == 6  # random, not the bound each time
    reconnected = [entry["attempt"] for entry in _seen(page, "reconnected")][:5]
    assert reconnected == [1, 2, 3, 4, 5]
    # Each reconnection is an "open" too, and comes before its "reconnected".
    types = [entry["type"] for entry in _seen(page, "open", "reconnected")]
    assert types[:5] == ["open", "open", "reconnected", "open", "reconnected"]


def test_first_retry_comes_within_a_second_by_default(page: Any) -> None:
    page.evaluate("window.socket = track(new DjangoWebSocket('/close_with/?code=1011'))")
    _wait_for(page, "seen.some((e) => e.type === 'reconnected')")
    page.evaluate("socket.close()")
    assert _seen(page, "reconnecting")[0]["delay"] <= 1000


# --- Coming back at once: online, visible again ----------------------------------------

NEVER = "{minDelay: 600000, maxDelay: 600000}"  # a retry in up to ten minutes


def test_coming_back_online_retries_at_once(page: Any, server: Server) -> None:
    page.evaluate(f"window.socket = track(new DjangoWebSocket('/close_with/?code=1011', {NEVER}))")
    _wait_for(page, "seen.some((e) => e.type === 'reconnecting')")
    assert len(_connections(server, "close_with", 1)) == 1
    page.context.set_offline(True)
    page.context.set_offline(False)  # the browser fires "online"
    _wait_for(page, "seen.some((e) => e.type === 'reconnected')")
    assert len(_connections(server, "close_with", 1)) == 1  # the second one
    page.evaluate("socket.close()")


HIDE = """(hidden) => {
  Object.defineProperty(document, "visibilityState", {
    configurable: true, get: () => (hidden ? "hidden" : "visible"),
  });
  document.dispatchEvent(new Event("visibilitychange"));
}"""


def test_visible_again_after_a_long_hide_retries_at_once(page: Any, server: Server) -> None:
    page.evaluate(
        "window.socket = track(new DjangoWebSocket('/close_with/?code=1011',"
        f" {{...{NEVER}, wakeAfter: 500}}))"
    )
    _wait_for(page, "seen.some((e) => e.type === 'reconnecting')")
    assert len(_connections(server, "close_with", 1)) == 1

    page.evaluate(HIDE, True)  # hidden for less than wakeAfter: nothing happens
    page.evaluate(HIDE, False)
    time.sleep(1)
    assert _seen(page, "reconnected") == []

    page.evaluate(HIDE, True)
    time.sleep(0.6)
    page.evaluate(HIDE, False)
    _wait_for(page, "seen.some((e) => e.type === 'reconnected')")
    assert len(_connections(server, "close_with", 1)) == 1  # the second one
    page.evaluate("socket.close()")
