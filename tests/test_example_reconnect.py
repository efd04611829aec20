"""The example's chat room across a restart of its server process, in headless Chromium.

Two pages talk in a room through the browser client (client.js); the test stops the
uvicorn process and starts a new one on the same port. The pages must reconnect, be in
the room again (the view joins on every connection) and talk both ways, and what was
typed while the server was down must arrive once it is back.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from .conftest import free_port
from .test_example_browser import (  # noqa: F401 (browser is a fixture)
    TIMEOUT_MS,
    browser,
    example_env,
    prepare_example,
    run_example,
)


def _said(tab: Any) -> Any:
    return tab.locator('#messages li[data-event="message"]')


def _status(tab: Any, state: str) -> Any:
    return tab.locator(f'#messages li[data-event="status"][data-state="{state}"]')


def _say(tab: Any, text: str) -> None:
    tab.fill("#text", text)
    tab.press("#text", "Enter")


@pytest.mark.parametrize("stop", ["terminate", "kill"])
def test_chat_page_survives_a_server_restart(
    browser: Any,  # noqa: F811
    tmp_path: Path,
    stop: str,
) -> None:
    from playwright.sync_api import expect

    env = example_env(tmp_path)
    prepare_example(env)
    port = free_port()
    contexts = [browser.new_context(base_url=f"http://127.0.0.1:{port}") for _ in range(2)]
    try:
        alice, bob = (context.new_page() for context in contexts)
        with run_example(env, tmp_path / "before.log", port=port) as server:
            for tab in (alice, bob):
                tab.set_default_timeout(TIMEOUT_MS)
                tab.goto("/chat/lobby/")
                expect(_status(tab, "connected")).to_have_count(1)
            expect(alice.locator('#messages li[data-event="joined"]')).to_have_count(1)  # bob
            _say(alice, "before the restart")
            for tab in (alice, bob):
                expect(_said(tab)).to_have_text(["anonymous: before the restart"])
            if stop == "kill":  # no close frame: the pages see 1006
                os.killpg(server.process.pid, signal.SIGKILL)
                server.process.wait()
            # else leaving the block terminates it: the library closes sockets with 1001

        code = "1006" if stop == "kill" else "1001"
        for tab in (alice, bob):
            expect(_status(tab, "reconnecting").first).to_contain_text(f"code {code}")
        _say(alice, "typed while the server is down")
        expect(alice.locator('#messages li[data-event="queued"]')).to_have_count(1)

        with run_example(env, tmp_path / "after.log", port=port):
            for tab in (alice, bob):
                expect(_status(tab, "reconnected")).to_have_count(1)
            # Queued in alice's page, sent on reconnecting, broadcast to the room by the
            # new process (alice is in it again): once, and after the earlier message.
            expect(_said(alice)).to_have_text(
                ["anonymous: before the restart", "anonymous: typed while the server is down"]
            )
            # Both are members of the room in the new process: messages flow both ways.
            _say(bob, "bob after the restart")
            expect(_said(alice).last).to_have_text("anonymous: bob after the restart")
            _say(alice, "alice after the restart")
            expect(_said(bob).last).to_have_text("anonymous: alice after the restart")
            for tab in (alice, bob):
                expect(_status(tab, "closed")).to_have_count(0)
    finally:
        for context in contexts:
            context.close()
