"""Redirect denials with a client that follows redirects (the websockets client does).

The view's 302 is the denial; a client that follows it does a handshake at the login
page, a view that is not a WebSocket view, whose 400 says what happened.
"""

from __future__ import annotations

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from .conftest import Server


def followed(url: str) -> InvalidStatus:
    with pytest.raises(InvalidStatus) as caught:
        connect(url, open_timeout=5)  # follows redirects, as websockets does by default
    return caught.value


@pytest.mark.parametrize("path", ["/whoami/", "/private/echo/"])
def test_a_followed_login_redirect_ends_in_a_400_that_names_the_redirect(
    server: Server, path: str
) -> None:
    # login_required's redirect, and a middleware's, to LOGIN_URL.
    response = followed(f"{server.ws}{path}").response
    assert response.status_code == 400
    assert b"It is the login page (settings.LOGIN_URL)" in response.body
    assert b"followed the redirect of a WebSocket view" in response.body
    assert b"Connect with a logged-in session's cookie" in response.body


@pytest.mark.usefixtures("no_redirects")
def test_the_redirect_itself_keeps_its_302(server: Server) -> None:
    with pytest.raises(InvalidStatus) as caught:
        connect(f"{server.ws}/whoami/", open_timeout=5)
    assert caught.value.response.status_code == 302


def test_an_unmarked_view_says_a_redirect_may_have_led_there(server: Server) -> None:
    response = followed(f"{server.ws}/unmarked/").response
    assert response.status_code == 400
    assert b"not marked with @accept_websocket or @require_websocket" in response.body
    assert b"If your client followed a redirect to get here" in response.body
