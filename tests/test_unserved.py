"""Servers that cannot serve WebSockets answer clearly (unserved.py), as real processes.

A handshake gets 503 and one log line naming the fix, never a 500; ``require_websocket``'s
426 answers plain HTTP on every server that serves the view at all.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import RequestFactory
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from django_websocket.unserved import upgrade_required

from .conftest import Server, serve
from .test_runserver import runserver, write_site
from .test_servers import ready

VIEWS = """
from django.http import HttpResponse
from django_websocket import accept_websocket, require_websocket

@require_websocket
def echo(request):
    for message in request.websocket:
        request.websocket.send(message)

@accept_websocket
def both(request):
    if not request.is_websocket():
        return HttpResponse("plain http")
    request.websocket.send("socket")
"""


def write_unserved_site(folder: Path, installed_apps: list[str]) -> None:
    """A startproject-like site whose ``INSTALLED_APPS`` is ``installed_apps``."""
    files = {
        "rsproject/settings.py": f"""
            SECRET_KEY = "unserved-test"
            DEBUG = True
            ALLOWED_HOSTS = ["127.0.0.1"]
            ROOT_URLCONF = "rsproject.urls"
            INSTALLED_APPS = {installed_apps!r}
            DATABASES = {{}}
            STATIC_URL = "static/"
        """,
        "rsproject/urls.py": """
            from django.urls import path
            from . import views
            urlpatterns = [path("echo/", views.echo), path("both/", views.both)]
        """,
        "rsproject/views.py": VIEWS,
    }
    write_site(folder, files)


@pytest.mark.parametrize(
    "installed_apps",
    [
        ["django.contrib.staticfiles"],  # the app forgotten
        ["django.contrib.staticfiles", "django_websocket"],  # after staticfiles: W004
    ],
    ids=["missing", "after-staticfiles"],
)
def test_djangos_wsgi_runserver_answers_426_and_a_503_that_names_the_fix(
    tmp_path: Path, installed_apps: list[str]
) -> None:
    write_unserved_site(tmp_path, installed_apps)
    with runserver(tmp_path, "--noreload") as (port, output):
        with pytest.raises(InvalidStatus) as caught:
            connect(f"ws://127.0.0.1:{port}/echo/", open_timeout=10)
        response = caught.value.response
        assert response.status_code == 503
        assert b'add "django_websocket" to INSTALLED_APPS' in response.body
        with pytest.raises(InvalidStatus) as caught:
            connect(f"ws://127.0.0.1:{port}/both/", open_timeout=10)  # accept_websocket
        assert caught.value.response.status_code == 503

        http = Server(port, None, output)  # type: ignore[arg-type]  # for its get()
        assert http.get("/echo/")[0] == 426  # require_websocket over plain HTTP
        assert http.get("/both/")[::2] == (200, b"plain http")
        log = output.read_text()
    assert re.search(r"Starting (WSGI )?development server", log)  # Django's own (6.1: WSGI)
    assert log.count("WebSocket handshake refused with 503 at /echo/") == 1
    assert "INSTALLED_APPS" in log.split("refused with 503 at /echo/")[1].splitlines()[0]
    assert "AssertionError" not in log
    assert "Traceback" not in log


def test_djangos_wsgi_py_on_gunicorn_answers_503_naming_django_websocket_wsgi(
    tmp_path: Path,
) -> None:
    with serve(tmp_path, kind="gthread", app="tests.project.wsgi_django:application") as server:
        ready(server)
        with pytest.raises(InvalidStatus) as caught:
            connect(f"{server.ws}/echo_once/", open_timeout=20)
        response = caught.value.response
        assert response.status_code == 503
        assert b"django_websocket.wsgi" in response.body
        status, headers, _ = server.get("/echo_once/")
        assert (status, headers["Upgrade"]) == (426, "websocket")  # gunicorn passes it on
    assert server.log().count("WebSocket handshake refused with 503 at /echo_once/") == 1


def test_426_leaves_out_hop_by_hop_headers_where_wsgi_forbids_them() -> None:
    factory = RequestFactory()
    plain_wsgi = upgrade_required(factory.get("/"))
    assert plain_wsgi.status_code == 426
    assert "Upgrade" not in plain_wsgi and "Connection" not in plain_wsgi
    gunicorn = upgrade_required(factory.get("/", **{"gunicorn.socket": object()}))
    assert (gunicorn["Upgrade"], gunicorn["Connection"]) == ("websocket", "Upgrade")


def test_an_asgi_server_with_websockets_off_gets_a_503_naming_it(tmp_path: Path) -> None:
    # uvicorn --ws none passes a handshake on as a plain HTTP request.
    with serve(tmp_path, "--ws", "none") as server:
        status, _, body = server.get(
            "/echo_once/",
            headers={
                "Upgrade": "websocket",
                "Connection": "Upgrade",
                "Sec-WebSocket-Version": "13",
                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            },
        )
        assert status == 503
        assert b"do not pass --ws none" in body
    assert server.log().count("WebSocket handshake refused with 503 at /echo_once/") == 1
