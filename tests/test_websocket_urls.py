"""``manage.py websocket_urls``: the routes and the wiring of tests/project (call_command)."""

from __future__ import annotations

import io
import json
from typing import Any, ClassVar

import pytest
from django.core.asgi import get_asgi_application as django_asgi_application
from django.core.management import call_command
from django.core.wsgi import get_wsgi_application as django_wsgi_application
from django.test import override_settings
from django.urls import include, path, re_path

from django_websocket import accept_websocket
from django_websocket.asgi import get_asgi_application

from .conftest import free_port
from .test_groups_redis import RedisProcess, redis_process  # noqa: F401 (a fixture)


class Middleware:
    """ASGI middleware as most is written: the inner application in ``self.app``."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


# Entry points for the wiring tests: Django's own, and ours inside middleware.
plain_asgi = django_asgi_application()
plain_wsgi = django_wsgi_application()
wrapped_asgi = Middleware(get_asgi_application())


@accept_websocket(subprotocols=["v1"], rate_limit="10/s")
def nested(request: Any) -> None:
    pass


# A URLconf of its own (ROOT_URLCONF=__name__): include(), a namespace, regexes.
rooms = ([re_path(r"^(?P<room>\w+)/socket/$", nested, name="socket")], "rooms")
urlpatterns = [
    path("chat/", include(rooms)),
    re_path(r"^legacy/$", nested),
    path("plain/", lambda request: None),
]


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("websocket_urls", *args, stdout=out)
    return out.getvalue()


def report() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(run("--json"))
    return data


def routes_by_pattern() -> dict[str, dict[str, Any]]:
    return {route["pattern"]: route for route in report()["routes"]}


def test_lists_the_views_that_accept_websockets_with_their_options() -> None:
    routes = routes_by_pattern()
    assert routes["/negotiated/"] == {
        "pattern": "/negotiated/",
        "name": None,
        "view": "tests.project.views.negotiated",
        "http": "the view",  # accept_websocket: plain HTTP reaches the view
        "subprotocols": ["chat.v2", "chat.v1"],
        "check_origin": "on",
        "idle_timeout": "-",
        "rate_limit": "-",
    }
    assert routes["/echo_once/"]["http"] == "426"  # require_websocket
    assert routes["/any_origin/"]["check_origin"] == "off (view)"
    assert routes["/idle/"]["idle_timeout"] == "0.5 s (view)"
    assert routes["/rate_limited/"]["rate_limit"] == "5/h (view)"
    assert routes["/unlimited/"]["rate_limit"] == "off (view)"
    assert routes["/private/echo/"]["view"] == "tests.project.views.async_echo"
    # Views that are not marked refuse handshakes (400): not listed.
    assert "/http_ok/" not in routes
    assert "/unmarked/" not in routes
    assert "/group_broadcast/" not in routes


@override_settings(
    WEBSOCKET_RATE_LIMIT="3/h", WEBSOCKET_IDLE_TIMEOUT=30, WEBSOCKET_CHECK_ORIGIN=False
)
def test_options_a_view_leaves_to_the_settings_show_the_settings() -> None:
    data = report()
    routes = {route["pattern"]: route for route in data["routes"]}
    assert routes["/async_echo/"]["rate_limit"] == "3/h"
    assert routes["/async_echo/"]["idle_timeout"] == "30 s"
    assert routes["/async_echo/"]["check_origin"] == "off"
    assert routes["/rate_limited/"]["rate_limit"] == "5/h (view)"  # the view's own wins
    assert routes["/idle/"]["idle_timeout"] == "0.5 s (view)"
    wiring = data["wiring"]
    assert (wiring["rate_limit"], wiring["idle_timeout"]) == ("3/h", 30.0)
    assert wiring["origin"].startswith("WEBSOCKET_CHECK_ORIGIN off")


def test_wiring_finds_the_projects_asgi_and_wsgi_applications() -> None:
    wiring = report()["wiring"]
    assert wiring["asgi"] == {
        "path": "tests.project.asgi.application",
        "source": "next to ROOT_URLCONF",
        "found": True,
        "serves_websockets": True,
        "detail": "django_websocket's get_asgi_application()",
    }
    assert wiring["wsgi"]["path"] == "tests.project.wsgi.application"
    assert wiring["wsgi"]["serves_websockets"] is True
    assert wiring["groups"] == {
        "backend": "django_websocket.groups.memory.MemoryBackend",
        "where": "in memory, the sockets of this process only",
        "ok": None,
        "status": "nothing to reach",
    }
    assert wiring["max_message_size"] == 1024 * 1024
    assert wiring["accept_all"] is False
    assert "CSRF_TRUSTED_ORIGINS ['https://trusted.example'" in wiring["origin"]


def test_text_output_has_the_table_and_the_wiring() -> None:
    text = run()
    assert "WebSocket URLs (tests.project.urls):" in text
    header = next(line for line in text.splitlines() if line.strip().startswith("URL "))
    assert header.split() == ["URL", "view", "plain", "HTTP", "subprotocols", "origin", "check",
                              "idle", "timeout", "rate", "limit"]  # fmt: skip
    negotiated = next(line for line in text.splitlines() if "/negotiated/" in line)
    assert "chat.v2, chat.v1" in negotiated
    assert "ASGI application: tests.project.asgi.application (next to ROOT_URLCONF): " in text
    assert "Message size limit: 1048576 bytes" in text
    assert "Nothing found that serves WebSockets" not in text


@override_settings(
    ASGI_APPLICATION="tests.test_websocket_urls.plain_asgi",
    WSGI_APPLICATION="tests.test_websocket_urls.plain_wsgi",
)
def test_djangos_own_applications_are_reported_as_not_serving_websockets() -> None:
    wiring = report()["wiring"]
    assert wiring["asgi"]["source"] == "ASGI_APPLICATION"
    assert (wiring["asgi"]["found"], wiring["asgi"]["serves_websockets"]) == (True, False)
    assert wiring["asgi"]["detail"] == (
        "django.core.handlers.asgi.ASGIHandler, not django_websocket's: WebSocket handshakes "
        "are refused there (use django_websocket.asgi.get_asgi_application())"
    )
    assert wiring["wsgi"]["serves_websockets"] is False
    assert "Nothing found that serves WebSockets" in run()


@override_settings(
    ASGI_APPLICATION="tests.test_websocket_urls.wrapped_asgi",
    WSGI_APPLICATION="nowhere.wsgi.application",
)
def test_an_application_inside_middleware_is_found_and_a_missing_one_said_so() -> None:
    wiring = report()["wiring"]
    assert wiring["asgi"]["serves_websockets"] is True
    assert wiring["asgi"]["detail"] == (
        "django_websocket's get_asgi_application(), inside tests.test_websocket_urls.Middleware"
    )
    assert wiring["wsgi"] == {
        "path": "nowhere.wsgi.application",
        "source": "WSGI_APPLICATION",
        "found": False,
        "serves_websockets": False,
        "detail": "not found (no module nowhere)",
    }


@override_settings(ROOT_URLCONF=__name__)
def test_included_namespaced_and_regex_patterns_are_joined_up() -> None:
    routes = report()["routes"]
    assert [(route["pattern"], route["name"]) for route in routes] == [
        (r"/chat/(?P<room>\w+)/socket/", "rooms:socket"),
        ("/legacy/", None),
    ]
    assert routes[0]["view"] == "tests.test_websocket_urls.nested"
    assert (routes[0]["subprotocols"], routes[0]["rate_limit"]) == (["v1"], "10/s (view)")


@override_settings(ROOT_URLCONF=__name__, WEBSOCKET_ACCEPT_ALL=True)
def test_accept_all_lists_every_view() -> None:
    data = report()
    assert [route["pattern"] for route in data["routes"]] == [
        r"/chat/(?P<room>\w+)/socket/",
        "/legacy/",
        "/plain/",
    ]
    assert data["wiring"]["accept_all"] is True


class NoWebSocketViews:
    """A URLconf (Django takes any object with ``urlpatterns``) with no WebSocket view."""

    urlpatterns: ClassVar = [path("plain/", lambda request: None)]


@override_settings(ROOT_URLCONF=NoWebSocketViews)
def test_no_websocket_view_at_all_is_said_plainly() -> None:
    assert "none: no view is marked" in run()


def test_a_reachable_redis_is_pinged(redis_process: RedisProcess) -> None:  # noqa: F811
    setting = {
        "BACKEND": "django_websocket.groups.redis.RedisBackend",
        "OPTIONS": {"URL": redis_process.url},
    }
    with override_settings(WEBSOCKET_GROUPS=setting):
        groups = report()["wiring"]["groups"]
    assert groups["where"] == f"Redis at {redis_process.url}"
    assert groups["ok"] is True
    assert groups["status"].startswith("reachable (PING answered in ")


def test_an_unreachable_redis_is_an_error_without_the_password() -> None:
    pytest.importorskip("redis", reason="the redis package is not installed")
    url = f"redis://:s3cret@127.0.0.1:{free_port()}/0"  # nothing listens there
    setting = {
        "BACKEND": "django_websocket.groups.redis.RedisBackend",
        "OPTIONS": {"URL": url, "TIMEOUT": 1},
    }
    with override_settings(WEBSOCKET_GROUPS=setting):
        groups = report()["wiring"]["groups"]
        text = run()
    assert groups["ok"] is False
    assert groups["status"].startswith("NOT reachable: Redis at redis://:***@127.0.0.1:")
    assert "did not answer a PING within 1 s" in groups["status"]
    assert "s3cret" not in text
