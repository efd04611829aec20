"""Accepting and denying handshakes: responses, auth decorators, middleware, subprotocols."""

from __future__ import annotations

import json

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from .conftest import Server


def refusal(url: str, **kwargs) -> InvalidStatus:
    with pytest.raises(InvalidStatus) as caught:
        connect(url, open_timeout=5, **kwargs)
    return caught.value


def test_view_returning_a_response_denies_with_its_status_headers_and_body(
    server: Server,
) -> None:
    response = refusal(f"{server.ws}/deny/").response
    assert response.status_code == 418
    assert response.headers["X-Why"] == "teapot"
    assert response.body == b"no entry"


def test_async_view_returning_a_response_denies_with_it(server: Server) -> None:
    response = refusal(f"{server.ws}/async_deny/").response
    assert (response.status_code, response.body) == (403, b"async says no")


@pytest.mark.usefixtures("no_redirects")
def test_login_required_redirects_an_anonymous_handshake_to_the_login_page(
    server: Server,
) -> None:
    response = refusal(f"{server.ws}/whoami/").response
    assert response.status_code == 302
    assert response.headers["Location"] == "/login/?next=/whoami/"


def test_logged_in_user_is_request_user_in_a_websocket_view(server: Server) -> None:
    cookie = server.login()
    with connect(f"{server.ws}/whoami/", additional_headers={"Cookie": cookie}) as ws:
        assert ws.recv(timeout=5) == "ada"


def test_permission_required_denies_with_403(server: Server) -> None:
    response = refusal(
        f"{server.ws}/needs_permission/", additional_headers={"Cookie": server.login()}
    ).response
    assert response.status_code == 403


@pytest.mark.usefixtures("no_redirects")
def test_middleware_redirect_denies_the_handshake(server: Server) -> None:
    response = refusal(f"{server.ws}/private/echo/").response
    assert response.status_code == 302
    assert response.headers["Location"] == "/login/?next=/private/echo/"


def test_unknown_url_denies_with_404(server: Server) -> None:
    assert refusal(f"{server.ws}/no/such/url/").response.status_code == 404


@pytest.mark.parametrize(
    ("offered", "chosen"),
    [
        (["chat.v1", "chat.v2"], "chat.v2"),  # the view's order wins
        (["chat.v1"], "chat.v1"),
        (["other"], None),  # nothing in common: no subprotocol
        (None, None),
    ],
)
def test_decorator_subprotocols_pick_the_views_first_choice_the_client_offered(
    server: Server, offered: list[str] | None, chosen: str | None
) -> None:
    with connect(f"{server.ws}/negotiated/", subprotocols=offered) as ws:
        assert ws.subprotocol == chosen
        assert ws.recv(timeout=5) == repr(chosen)


def test_explicit_accept_sets_subprotocol_and_headers(server: Server) -> None:
    with connect(f"{server.ws}/explicit_accept/", subprotocols=["a", "b"]) as ws:
        assert ws.subprotocol == "b"
        assert ws.response.headers["X-Hello"] == "world"
        assert json.loads(ws.recv(timeout=5)) == {"subprotocol": "b", "offered": ["a", "b"]}
