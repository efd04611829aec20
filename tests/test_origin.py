"""The Origin check: which sites may open a WebSocket (unit rules, then the wire)."""

from __future__ import annotations

import pytest
from django.test import RequestFactory, override_settings
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from django_websocket.origin import origin_allowed

from .conftest import Server


def allowed(origin: str | None, host: str = "site.example") -> bool:
    headers = {"HTTP_HOST": host}
    if origin is not None:
        headers["HTTP_ORIGIN"] = origin
    return origin_allowed(RequestFactory().get("/ws/", **headers))


@override_settings(ALLOWED_HOSTS=["site.example", ".corp.example"], CSRF_TRUSTED_ORIGINS=[])
@pytest.mark.parametrize(
    ("origin", "expected"),
    [
        (None, True),  # non-browser clients send no Origin
        ("https://site.example", True),  # same host
        ("http://site.example", True),
        ("https://app.corp.example", True),  # matched by ALLOWED_HOSTS
        ("https://evil.example", False),
        ("https://site.example.evil.example", False),
        ("null", False),  # opaque origins: sandboxed frames, file: pages
        ("not a url", False),
    ],
)
def test_origin_rules(origin: str | None, expected: bool) -> None:
    assert allowed(origin) is expected


@override_settings(ALLOWED_HOSTS=["*"])
def test_a_bare_star_in_allowed_hosts_does_not_open_every_origin() -> None:
    assert allowed("https://evil.example") is False
    assert allowed("https://site.example") is True  # still the same host


@override_settings(
    ALLOWED_HOSTS=["site.example"], CSRF_TRUSTED_ORIGINS=["https://*.partner.example"]
)
def test_csrf_trusted_origins_are_trusted_with_their_scheme() -> None:
    assert allowed("https://app.partner.example") is True
    assert allowed("http://app.partner.example") is False


@override_settings(
    ALLOWED_HOSTS=["site.example"], WEBSOCKET_ALLOWED_ORIGINS=["http://tool.example"]
)
def test_websocket_allowed_origins_adds_origins() -> None:
    assert allowed("http://tool.example") is True
    assert allowed("http://other.example") is False


@override_settings(ALLOWED_HOSTS=["site.example"], WEBSOCKET_ALLOWED_ORIGINS=["*"])
def test_a_star_in_websocket_allowed_origins_allows_any() -> None:
    assert allowed("https://anything.example") is True


@override_settings(ALLOWED_HOSTS=[], DEBUG=True)
def test_debug_with_no_allowed_hosts_allows_localhost_as_django_does() -> None:
    assert allowed("http://localhost:3000", host="localhost:8000") is True


def test_cross_origin_handshake_is_denied_with_403(server: Server) -> None:
    with pytest.raises(InvalidStatus) as caught:
        connect(f"{server.ws}/async_echo/", origin="https://evil.example")
    assert caught.value.response.status_code == 403


def test_same_origin_and_trusted_handshakes_are_accepted(server: Server) -> None:
    for origin in [f"http://127.0.0.1:{server.port}", "https://app.corp.example"]:
        with connect(f"{server.ws}/async_echo/", origin=origin) as ws:
            ws.send("hi")
            assert ws.recv(timeout=5) == "hi"


def test_check_origin_false_opens_one_view_to_any_origin(server: Server) -> None:
    with connect(f"{server.ws}/any_origin/", origin="https://evil.example") as ws:
        assert ws.recv(timeout=5) == "any origin welcome"
