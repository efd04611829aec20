"""``{% websocket_url %}``: reverse() behind the request's host, ws:// or wss://."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.template import Context
from django.template.backends.django import DjangoTemplates
from django.test import RequestFactory
from django.urls import path

pytestmark = pytest.mark.urls(__name__)


def _view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    return HttpResponse()


urlpatterns = [
    path("lobby/", _view, name="lobby"),
    path("chat/<str:room>/socket/", _view, name="chat"),
    path("game/<int:game>/<str:player>/", _view, name="game"),
]


# The backend finds the tag library in django_websocket (an installed app), as a site's does.
BACKEND = DjangoTemplates({"NAME": "t", "DIRS": [], "APP_DIRS": False, "OPTIONS": {}})


def _render(source: str, request: HttpRequest | None, **context: Any) -> str:
    # A plain Context, with the request as a variable: what the request context processor gives.
    if request is not None:
        context["request"] = request
    return BACKEND.engine.from_string("{% load websocket %}" + source).render(Context(context))


def test_websocket_url_is_ws_on_plain_http() -> None:
    request = RequestFactory().get("/")
    assert _render("{% websocket_url 'lobby' %}", request) == "ws://testserver/lobby/"


def test_websocket_url_is_wss_on_https() -> None:
    request = RequestFactory().get("/", secure=True)
    assert _render("{% websocket_url 'lobby' %}", request) == "wss://testserver/lobby/"


def test_websocket_url_keeps_the_host_and_port_of_the_request() -> None:
    request = RequestFactory().get("/", headers={"host": "chat.example.com:8443"}, secure=True)
    with_host = _render("{% websocket_url 'lobby' %}", request)
    assert with_host == "wss://chat.example.com:8443/lobby/"


def test_websocket_url_is_wss_behind_a_proxy_with_secure_proxy_ssl_header(settings: Any) -> None:
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # What a TLS-terminating proxy forwards: the client's Host and the original scheme.
    proxied = {"host": "chat.example.com"}
    behind_tls = RequestFactory().get("/", headers={**proxied, "x-forwarded-proto": "https"})
    plain = RequestFactory().get("/", headers={**proxied, "x-forwarded-proto": "http"})
    assert _render("{% websocket_url 'lobby' %}", behind_tls) == "wss://chat.example.com/lobby/"
    assert _render("{% websocket_url 'lobby' %}", plain) == "ws://chat.example.com/lobby/"


def test_websocket_url_ignores_the_proxy_header_without_the_setting() -> None:
    request = RequestFactory().get("/", headers={"x-forwarded-proto": "https"})
    assert _render("{% websocket_url 'lobby' %}", request) == "ws://testserver/lobby/"


def test_websocket_url_reverses_with_args_and_kwargs() -> None:
    request = RequestFactory().get("/")
    assert (
        _render("{% websocket_url 'chat' room='lobby' %}", request)
        == "ws://testserver/chat/lobby/socket/"
    )
    assert (
        _render("{% websocket_url 'game' 7 player %}", request, player="ann")
        == "ws://testserver/game/7/ann/"
    )


def test_websocket_url_as_variable_and_escaped_like_url() -> None:
    request = RequestFactory().get("/")
    source = "{% websocket_url 'chat' room as socket %}[{{ socket }}]{% url 'chat' room %}"
    rendered = _render(source, request, room="a&b")
    assert rendered == "[ws://testserver/chat/a&amp;b/socket/]/chat/a&amp;b/socket/"


def test_websocket_url_uses_the_request_of_render_without_the_context_processor() -> None:
    # render(request, ...) gives the template a RequestContext even when TEMPLATES has
    # no request context processor.
    page = BACKEND.from_string("{% load websocket %}{% websocket_url 'lobby' %}")
    assert page.render({}, RequestFactory().get("/")) == "ws://testserver/lobby/"


def test_websocket_url_without_request_names_the_fix() -> None:
    with pytest.raises(ImproperlyConfigured) as error:
        _render("{% websocket_url 'lobby' %}", None)
    assert "django.template.context_processors.request" in str(error.value)
    assert "render(request" in str(error.value)
