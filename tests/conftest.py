"""Fixtures that start a real ASGI server serving the test project, on a free loopback port."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from websockets.sync import client as websockets_client

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A running server process and how to reach it."""

    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    kind: str = "uvicorn"  # which server: one of SERVERS

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict, bytes]:
        """GET over plain HTTP; return status, headers and body (errors included)."""
        request = urllib.request.Request(self.http + path, headers=headers or {})
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(request, timeout=10) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def login(self) -> str:
        """Log a user in over HTTP; return the ``Cookie`` header that carries its session."""
        request = urllib.request.Request(self.http + "/make_user/")
        with urllib.request.urlopen(request, timeout=10) as response:
            cookies = response.headers.get_all("Set-Cookie")
        return "; ".join(cookie.split(";")[0] for cookie in cookies)

    def events(self) -> list[dict]:
        """Return what views recorded since the last call, and forget it."""
        return json.loads(self.get("/events/?clear=1")[2])

    def wait_for_events(self, count: int, timeout: float = 5.0) -> list[dict]:
        """Collect recorded events until ``count`` have arrived."""
        collected: list[dict] = []
        deadline = time.monotonic() + timeout
        while len(collected) < count and time.monotonic() < deadline:
            collected += self.events()
            time.sleep(0.05)
        return collected


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None


def server_command(kind: str, app: str, port: int) -> list[str]:
    """The command line that serves ``app`` with the ASGI server ``kind`` on ``port``."""
    host, python = "127.0.0.1", sys.executable
    commands = {
        "uvicorn": [python, "-m", "uvicorn", app, "--host", host, "--port", str(port),
                    "--ws", "websockets-sansio"],
        "gunicorn": [python, "-m", "gunicorn", app, "--bind", f"{host}:{port}",
                     "--worker-class", "uvicorn_worker.UvicornWorker", "--workers", "2",
                     "--no-control-socket"],
        # gunicorn's own ASGI worker (gunicorn 24+). Every gunicorn here runs without a
        # control socket, so that servers side by side do not share the default one.
        "gunicorn-asgi": [python, "-m", "gunicorn", app, "--bind", f"{host}:{port}",
                          "--worker-class", "asgi", "--workers", "2", "--no-control-socket"],
        "hypercorn": [python, "-m", "hypercorn", app, "--bind", f"{host}:{port}"],
        "daphne": [python, "-m", "daphne", "--bind", host, "--port", str(port), app],
        "granian": [python, "-m", "granian", "--interface", "asgi", "--host", host,
                    "--port", str(port), app],
        # WSGI: gunicorn's own workers, serving the project's wsgi.py.
        "gthread": [python, "-m", "gunicorn", app, "--bind", f"{host}:{port}",
                    "--worker-class", "gthread", "--threads", "50", "--workers", "2",
                    "--no-control-socket"],
        "gevent": [python, "-m", "gunicorn", app, "--bind", f"{host}:{port}",
                   "--worker-class", "gevent", "--workers", "2", "--no-control-socket"],
    }  # fmt: skip
    return commands[kind]


ASGI_SERVERS = ("uvicorn", "gunicorn", "gunicorn-asgi", "hypercorn", "daphne", "granian")
WSGI_SERVERS = ("gthread", "gevent")  # gunicorn's WSGI workers, with django_websocket.wsgi
SERVERS = ASGI_SERVERS + WSGI_SERVERS


@contextlib.contextmanager
def run_server(
    kind: str, app: str, env: dict[str, str], log_path: Path, *args: str, port: int | None = None
) -> Iterator[Server]:
    """Run ``app`` on server ``kind`` on a loopback port until exit.

    ``args`` go after the server's own command line; output goes to ``log_path``. The
    port is a free one, or ``port`` (to start a server again where a stopped one was).
    """
    port = port or free_port()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*server_command(kind, app, port), *args],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # a process group: workers are killed with it
        )  # fmt: skip
    server = Server(port, process, log_path, kind)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{server.log()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"server did not start:\n{server.log()}")
            time.sleep(0.05)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def run_uvicorn(
    app: str, env: dict[str, str], log_path: Path, *args: str, port: int | None = None
) -> contextlib.AbstractContextManager[Server]:
    """Run ``uvicorn app`` (``--ws websockets-sansio``): ``run_server("uvicorn", ...)``."""
    return run_server("uvicorn", app, env, log_path, *args, port=port)


@contextlib.contextmanager
def serve(
    tmp_path: Path,
    *server_args: str,
    kind: str = "uvicorn",
    app: str | None = None,
    **settings_env: str,
) -> Iterator[Server]:
    """Migrate a fresh database and serve the test project until exit.

    ``kind`` picks the server (uvicorn gets ``--lifespan on``); ``app`` the application
    (default: the project's ``asgi.py``, or ``wsgi.py`` for WSGI servers);
    ``server_args`` are added to its command line, ``settings_env`` to its environment.
    """
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.project.settings",
        "TEST_DATABASE_NAME": str(tmp_path / "db.sqlite3"),
        "PYTHONUNBUFFERED": "1",
        **settings_env,
    }
    subprocess.run(
        [sys.executable, "-m", "django", "migrate", "--noinput", "-v0"],
        cwd=ROOT, env=env, check=True,
    )  # fmt: skip
    if kind == "uvicorn":
        server_args = ("--lifespan", "on", *server_args)
    if app is None:
        app = (
            "tests.project.wsgi:application"
            if kind in WSGI_SERVERS
            else "tests.project.asgi:application"
        )
    with run_server(kind, app, env, tmp_path / "server.log", *server_args) as server:
        yield server


@pytest.fixture
def no_redirects(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the websockets client treat a redirect as a refusal instead of following it."""
    monkeypatch.setattr(websockets_client.reconnect, "process_redirect", lambda self, exc: exc)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The test project on uvicorn with default settings."""
    with serve(tmp_path_factory.mktemp("server")) as running:
        yield running


@pytest.fixture(scope="session")
def server_with_middleware(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The test project with WebSocketMiddleware in MIDDLEWARE."""
    with serve(tmp_path_factory.mktemp("mw"), TEST_WEBSOCKET_MIDDLEWARE="1") as running:
        yield running
