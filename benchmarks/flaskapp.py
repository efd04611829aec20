"""The Flask-Sock app of ``peers.py``, served by gunicorn's gthread worker.

Flask-Sock's README echo on ``/echo``; ``/hello`` is the same for a Flask session that
has ``user`` in it (the handshake benchmark: Flask's signed-cookie session, as Flask has
no users of its own). Imported only where Flask-Sock is installed (it is not a dependency
of this project).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, session
from flask_sock import Sock

app = Flask(__name__)
app.secret_key = "benchmark-only-not-secret"
sock = Sock(app)


@sock.route("/echo")
def echo(ws: Any) -> None:
    """Send back every message until the client closes."""
    while True:
        ws.send(ws.receive())


@sock.route("/hello")
def hello(ws: Any) -> None:
    """``echo`` when the session has a user; otherwise close with 4401."""
    if "user" not in session:
        ws.close(4401, "login required")
        return
    while True:
        ws.send(ws.receive())


def session_cookie(user: str) -> str:
    """The ``Cookie`` header value of a session holding ``user``."""
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    return f"{app.config['SESSION_COOKIE_NAME']}={serializer.dumps({'user': user})}"
