"""The example site's chat room (groups), in two real headless Chromium pages."""

from __future__ import annotations

from typing import Any

from .test_example_browser import browser, site  # noqa: F401 (fixtures)


def test_chat_room_message_reaches_every_open_page(browser: Any, site: str) -> None:  # noqa: F811
    from playwright.sync_api import expect

    contexts = [browser.new_context(base_url=site) for _ in range(2)]
    try:
        alice, bob = (context.new_page() for context in contexts)
        for tab in (alice, bob):
            tab.set_default_timeout(30_000)
            tab.goto("/chat/lobby/")
            expect(tab.locator('#messages li[data-event="status"]')).to_have_text("connected")
        expect(alice.locator('#messages li[data-event="joined"]')).to_have_count(1)  # bob
        for tab in (alice, bob):  # group_size, shown as people come...
            expect(tab.locator("#present")).to_have_text("2 in the room")
        alice.fill("#text", "hello room")
        alice.press("#text", "Enter")
        for tab in (alice, bob):
            said = tab.locator('#messages li[data-event="message"]')
            expect(said).to_have_text(["anonymous: hello room"])
        bob.close()
        expect(alice.locator('#messages li[data-event="left"]')).to_have_count(1)
        expect(alice.locator("#present")).to_have_text("1 in the room")  # ...and go
    finally:
        for context in contexts:
            context.close()
