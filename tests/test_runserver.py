"""``manage.py runserver`` serves HTTP and WebSockets, and reloads when a view changes."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from .conftest import ROOT, free_port

VIEWS = """
from django_websocket import require_websocket

@require_websocket
def hello(request):
    request.websocket.send({message!r})
"""


def write_site(folder: Path, files: dict[str, str]) -> None:
    """Write a small project ``rsproject`` in ``folder``: its manage.py and ``files``.

    ``files`` maps paths (``rsproject/settings.py``, ...) to their text, dedented.
    """
    files = {
        "manage.py": """
            import os, sys
            os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rsproject.settings")
            from django.core.management import execute_from_command_line
            execute_from_command_line(sys.argv)
        """,
        "rsproject/__init__.py": "",
        **files,
    }
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(textwrap.dedent(text))


def write_project(folder: Path) -> None:
    """A project of five small files, in ``folder``."""
    files = {
        "rsproject/settings.py": f"""
            SECRET_KEY = "runserver-test"
            DEBUG = True
            ALLOWED_HOSTS = ["127.0.0.1"]
            ROOT_URLCONF = "rsproject.urls"
            INSTALLED_APPS = ["django_websocket", "django.contrib.staticfiles"]
            DATABASES = {{"default": {{"ENGINE": "django.db.backends.sqlite3",
                                       "NAME": {str(folder / "db.sqlite3")!r}}}}}
            STATIC_URL = "static/"
            STATICFILES_DIRS = [{str(folder / "static")!r}]
        """,
        "rsproject/urls.py": """
            from django.urls import path
            from . import views
            urlpatterns = [path("hello/", views.hello)]
        """,
        "rsproject/views.py": VIEWS.format(message="version 1"),
        "static/note.txt": "a static file",
    }
    write_site(folder, files)


@contextlib.contextmanager
def runserver(folder: Path, *args: str) -> Iterator[tuple[int, Path]]:
    """Run ``manage.py runserver`` until exit; yield its port and its output file."""
    port = free_port()
    output = folder / "runserver.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    with output.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", *args],
            cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # the reloader's child too, for killpg
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"runserver exited:\n{output.read_text()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if time.monotonic() > deadline:
                pytest.fail(f"runserver did not listen:\n{output.read_text()}")
            time.sleep(0.1)
        yield port, output
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def hello(port: int) -> str:
    with connect(f"ws://127.0.0.1:{port}/hello/", open_timeout=10) as ws:
        return str(ws.recv(timeout=10))


def test_runserver_serves_websockets_static_files_and_the_banner(tmp_path: Path) -> None:
    write_project(tmp_path)
    with runserver(tmp_path, "--noreload") as (port, output):
        assert hello(port) == "version 1"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/static/note.txt") as response:
            assert response.read() == b"a static file"
        log = output.read_text()
    assert "Performing system checks..." in log
    assert f"development server (HTTP and WebSocket) at http://127.0.0.1:{port}/" in log


def test_runserver_reloads_when_a_view_changes(tmp_path: Path) -> None:
    write_project(tmp_path)
    with runserver(tmp_path) as (port, output):
        assert hello(port) == "version 1"
        time.sleep(1.5)  # the stat reloader compares modification times once a second
        (tmp_path / "rsproject/views.py").write_text(VIEWS.format(message="version 2"))
        deadline = time.monotonic() + 30
        seen = "version 1"
        while seen != "version 2" and time.monotonic() < deadline:
            time.sleep(0.5)
            with contextlib.suppress(OSError, TimeoutError, Exception):
                seen = hello(port)
        assert seen == "version 2", output.read_text()
        assert "changed, reloading" in output.read_text()


def test_ctrl_c_closes_websockets_with_1001_and_stops(tmp_path: Path) -> None:
    # Without the autoreloader uvicorn runs in the main thread, where the library's
    # signal handler closes the sockets before uvicorn's shutdown (1012) would. (With
    # it, Django's reloader process kills the server process: the sockets just drop.)
    write_project(tmp_path)
    (tmp_path / "rsproject/views.py").write_text(
        "from django_websocket import require_websocket\n\n"
        "@require_websocket\n"
        "def hello(request):\n"
        "    request.websocket.send('holding')\n"
        "    request.websocket.wait()\n"
    )
    with contextlib.ExitStack() as stack:
        with runserver(tmp_path, "--noreload") as (port, _):
            ws = stack.enter_context(connect(f"ws://127.0.0.1:{port}/hello/", open_timeout=10))
            assert ws.recv(timeout=10) == "holding"
            started = time.monotonic()
        # runserver() has sent SIGINT and waited for the exit (up to 15 s, then SIGKILL).
        assert time.monotonic() - started < 10
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)
        assert (ws.close_code, ws.close_reason) == (1001, "server shutting down")


def test_runserver_reports_a_port_in_use(tmp_path: Path) -> None:
    write_project(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            cwd=tmp_path, capture_output=True, text=True, timeout=60,
            env={**os.environ, "PYTHONPATH": str(ROOT),
                 "DJANGO_SETTINGS_MODULE": "rsproject.settings"},
        )  # fmt: skip
    assert result.returncode == 1
    assert "That port is already in use." in result.stderr


def test_runserver_limits_messages_in_the_server_with_the_same_setting(tmp_path: Path) -> None:
    write_project(tmp_path)
    settings = tmp_path / "rsproject/settings.py"
    settings.write_text(settings.read_text() + "WEBSOCKET_MAX_MESSAGE_SIZE = 1000\n")
    (tmp_path / "rsproject/views.py").write_text(
        "from django_websocket import require_websocket\n\n"
        "@require_websocket\n"
        "def hello(request):\n"
        "    for message in request.websocket:\n"
        "        request.websocket.send(message)\n"
    )
    with (
        runserver(tmp_path, "--noreload") as (port, _),
        connect(f"ws://127.0.0.1:{port}/hello/", max_size=None, compression=None) as ws,
    ):
        ws.send("x" * 1000)
        assert ws.recv(timeout=10) == "x" * 1000
        ws.send("x" * 1001)
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)
    # 1009 from uvicorn's protocol itself, not the library's "message too big": the
    # server refused to buffer the message at all.
    assert ws.close_code == 1009
    assert ws.close_reason != "message too big"


def test_runserver_prints_an_access_line_per_request_and_per_socket(tmp_path: Path) -> None:
    write_project(tmp_path)
    (tmp_path / "rsproject/views.py").write_text(
        VIEWS.format(message="version 1") + "\n@require_websocket\n"
        "def deny(request):\n"
        "    from django.http import HttpResponseForbidden\n"
        "    return HttpResponseForbidden('no')\n"
    )
    urls = tmp_path / "rsproject/urls.py"
    urls.write_text(urls.read_text() + 'urlpatterns.append(path("deny/", views.deny))\n')
    with runserver(tmp_path, "--noreload") as (port, output):
        assert hello(port) == "version 1"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/static/note.txt?v=2") as response:
            assert response.read() == b"a static file"
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/hello/")  # 426
        with pytest.raises(InvalidStatus):
            connect(f"ws://127.0.0.1:{port}/deny/", open_timeout=10)
        expected = [
            r'"WEBSOCKET /hello/" 101 closed 1000 after \d+\.\d\ds$',
            r'"GET /static/note\.txt\?v=2 HTTP/1\.1" 200 13$',
            r'"GET /hello/ HTTP/1\.1" 426 \d+$',
            r'"WEBSOCKET /deny/" 403$',
        ]
        deadline = time.monotonic() + 10  # each line is written once its request is done
        log = output.read_text()
        while time.monotonic() < deadline and not all(
            re.search(line, log, re.M) for line in expected
        ):
            time.sleep(0.05)
            log = output.read_text()
    for line in expected:
        assert re.search(line, log, re.M), log
    lines = [line for line in log.splitlines() if line.startswith("[")]
    assert len(lines) == 4, lines  # one line each, with Django's [date time] in front
