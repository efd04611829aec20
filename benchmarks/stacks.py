"""The stacks ``peers.py`` compares: which server runs which app, and where each workload goes.

A stack is one line of ``STACKS``: a server from ``SERVERS`` (how to start it), the app
it loads, its Django settings, and the URL path of each workload it can run. A workload
a stack cannot run has ``None`` there and its reason in ``why_not``. A server that
runs on uvicorn's event loop (``uses_loop``) is measured once per ``--loops`` choice; the
others once per round, shown in every loop's table.

To add a stack: one ``Stack(...)`` line in ``STACKS`` (and, for a new kind of server, one
``Server(...)`` line in ``SERVERS``); install its packages in ``tasks.py``'s
``PEER_REQUIREMENTS``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from echo import BENCH_DIR, uvicorn_command

__all__ = ["BOLT_PYTHON", "SERVERS", "STACKS", "WORKLOADS", "Server", "Stack"]

ROOT = BENCH_DIR.parent
BOLT_PYTHON = ROOT / ".venv-bolt" / "bin" / "python"  # django-bolt needs Python >= 3.12
WORKLOADS = ("echo", "handshake", "idle", "fanout")
MAX_SOCKETS = 6000  # threads or connections a thread-per-socket server may hold


@dataclass(frozen=True)
class Server:
    """How to start one kind of server: ``command(app, port, loop)`` is its argv."""

    command: Callable[[str, int, str], list[str]]
    uses_loop: bool = False  # runs on uvicorn's event loop: measured once per --loops choice
    python: Path = Path(sys.executable)  # the interpreter its virtual environment has


def _daphne(app: str, port: int, loop: str) -> list[str]:
    return [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "-v", "0", app]


def _gunicorn_gthread(app: str, port: int, loop: str) -> list[str]:
    # Flask-Sock's docs: one thread per WebSocket client, "--threads" as many as needed.
    return [
        sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1",
        "--worker-class", "gthread", "--threads", str(MAX_SOCKETS),
        "--worker-connections", str(MAX_SOCKETS), "--log-level", "warning", app,
    ]  # fmt: skip


def _gunicorn_gevent(app: str, port: int, loop: str) -> list[str]:
    return [
        sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1",
        "--worker-class", "gevent", "--worker-connections", str(MAX_SOCKETS),
        "--log-level", "warning", app,
    ]  # fmt: skip


def _runbolt(app: str, port: int, loop: str) -> list[str]:
    # One process, as in the figures (runbolt's default: --processes 1).
    return [str(BOLT_PYTHON), "-m", "django", "runbolt", "--host", "127.0.0.1",
            "--port", str(port), "--processes", "1"]  # fmt: skip


SERVERS: dict[str, Server] = {
    "uvicorn": Server(lambda app, port, loop: uvicorn_command(app, port, loop=loop), True),
    "daphne": Server(_daphne),
    "gunicorn-gthread": Server(_gunicorn_gthread),
    "gunicorn-gevent": Server(_gunicorn_gevent),
    "runbolt": Server(_runbolt, python=BOLT_PYTHON),
}


@dataclass(frozen=True)
class Stack:
    """One server + app, and the URL path of each workload it runs (None: it cannot)."""

    name: str
    label: str
    server: str  # a key of SERVERS
    app: str  # what the server loads
    settings: str = ""  # DJANGO_SETTINGS_MODULE ("" for none)
    echo: str | None = None  # the echo; the idle benchmark opens it too
    handshake: str | None = None  # the echo for logged-in users (session + auth)
    fanout: tuple[str, str] | None = None  # (member path, publish path)
    groups: tuple[str, ...] = ()  # fan-out backends: "memory" (one process), "redis" (two)
    needs: tuple[str, ...] = ()  # modules that must be importable (in this environment)
    why_not: Mapping[str, str] = field(default_factory=dict)  # workload -> why it cannot
    notes: Mapping[str, str] = field(default_factory=dict)  # workload -> how it differs

    def path(self, workload: str) -> str | None:
        """The URL path of ``workload`` (``idle`` uses the echo's); ``None``: not run."""
        if workload in self.why_not:
            return None
        if workload == "fanout":
            return self.fanout[0] if self.fanout else None
        return self.echo if workload == "idle" else getattr(self, workload)


_OURS = {"app": "benchproject.router:application", "settings": "benchproject.peers_settings"}
_OURS_WSGI = {"app": "benchproject.wsgi:application", "settings": "benchproject.peers_settings"}
_CHANNELS = {
    "app": "benchproject.channels_asgi:application",
    "settings": "benchproject.channels_settings",
    "needs": ("channels", "channels_redis"),
}
_NO_GROUPS = "no groups in the stack"
_NO_GROUPS_HERE = "groups measured once, on the uvicorn stack"
_BOLT_SESSION = (
    "django-bolt 0.13 refuses SessionAuthentication on WebSocket routes "
    '("works on HTTP routes only"): no session + auth handshake'
)

STACKS: tuple[Stack, ...] = (
    Stack(
        "raw",
        "raw ASGI (baseline)",
        "uvicorn",
        "benchproject.raw:application",
        echo="/raw",
        handshake="/raw",
        fanout=("/raw/member", "/raw/publish"),
        groups=("memory",),
        notes={"handshake": "no session, no auth: the echo itself"},
    ),
    Stack(
        "ours-sync",
        "django_websocket sync view",
        "uvicorn",
        **_OURS,
        echo="/sync",
        handshake="/hello/sync",
        why_not={"fanout": "group members are async views (the fan-out is the loop's)"},
    ),
    Stack(
        "ours-async",
        "django_websocket async view",
        "uvicorn",
        **_OURS,
        echo="/async",
        handshake="/hello/async",
        fanout=("/group/member", "/group/publish"),
        groups=("memory", "redis"),
    ),
    Stack(
        "ours-sync-gthread",
        "django_websocket sync view, gunicorn gthread",
        "gunicorn-gthread",
        **_OURS_WSGI,
        echo="/sync",
        handshake="/hello/sync",
        why_not={"fanout": _NO_GROUPS_HERE},
        notes={"idle": "a thread per socket (--threads 6000)"},
    ),
    Stack(
        "ours-async-gthread",
        "django_websocket async view, gunicorn gthread",
        "gunicorn-gthread",
        **_OURS_WSGI,
        echo="/async",
        handshake="/hello/async",
        why_not={
            "fanout": _NO_GROUPS_HERE,
            "idle": (
                "each socket holds a thread and an event loop of its own (its selector and "
                "self-pipe: 4 descriptors per socket): 5,000 sockets run the worker out of "
                "descriptors (EMFILE)"
            ),
        },
    ),
    Stack(
        "ours-sync-gevent",
        "django_websocket sync view, gunicorn gevent",
        "gunicorn-gevent",
        **_OURS_WSGI,
        needs=("gevent",),
        echo="/sync",
        handshake="/hello/sync",
        why_not={"fanout": _NO_GROUPS_HERE},
    ),
    Stack(
        "channels-async",
        "Channels async consumer",
        "uvicorn",
        **_CHANNELS,
        echo="/echo/async",
        handshake="/hello/async",
        fanout=("/group/member", "/group/publish"),
        groups=("memory", "redis"),
    ),
    Stack(
        "channels-sync",
        "Channels sync consumer",
        "uvicorn",
        **_CHANNELS,
        echo="/echo/sync",
        handshake="/hello/sync",
        why_not={"fanout": _NO_GROUPS_HERE},
    ),
    Stack(
        "channels-async-daphne",
        "Channels async consumer, daphne",
        "daphne",
        **_CHANNELS,
        echo="/echo/async",
        handshake="/hello/async",
        why_not={"fanout": _NO_GROUPS_HERE},
    ),
    Stack(
        "channels-sync-daphne",
        "Channels sync consumer, daphne",
        "daphne",
        **_CHANNELS,
        echo="/echo/sync",
        handshake="/hello/sync",
        why_not={"fanout": _NO_GROUPS_HERE},
    ),
    Stack(
        "django-socket",
        "django-socket",
        "uvicorn",
        "socketproject.asgi:application",
        settings="socketproject.settings",
        needs=("django_socket",),
        echo="/echo/",
        handshake="/hello/",
        fanout=("/group/member/", "/group/publish/"),
        groups=("memory", "redis"),
    ),
    Stack(
        "django-bolt",
        "django-bolt (runbolt)",
        "runbolt",
        "",
        settings="boltproject.settings",
        echo="/echo",
        why_not={"handshake": _BOLT_SESSION, "fanout": _NO_GROUPS},
    ),
    Stack(
        "flask-sock",
        "Flask-Sock, gunicorn gthread",
        "gunicorn-gthread",
        "flaskapp:app",
        needs=("flask_sock",),
        echo="/echo",
        handshake="/hello",
        why_not={"fanout": _NO_GROUPS},
        notes={"handshake": "Flask's signed-cookie session; Flask has no users to load"},
    ),
)
