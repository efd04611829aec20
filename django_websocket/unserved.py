"""The answers a request gets from a server that does not serve WebSockets.

A WebSocket handshake reaches a marked view as a plain HTTP request when the server in
front of Django cannot serve it: Django's WSGI ``runserver`` (``"django_websocket"``
missing from ``INSTALLED_APPS``, or after ``django.contrib.staticfiles``), Django's own
``wsgi.py`` under gunicorn, a WSGI server that cannot hand the socket over, an ASGI
server with its WebSocket support off. Such a handshake gets **503** with a body that
names the fix, and one ``django_websocket`` log line that says the same
(:func:`refuse_unserved`); never the view's HTTP answer, never a server error.

``require_websocket``'s 426 for plain HTTP carries ``Upgrade: websocket`` and
``Connection: Upgrade`` where the server lets an application send those hop-by-hop
headers (ASGI servers, gunicorn); other WSGI servers refuse them (PEP 3333: Django's
``runserver`` fails the response with an ``AssertionError``), so there the 426 goes
without them (:func:`upgrade_required`).
"""

from __future__ import annotations

import logging

from django.core.handlers.wsgi import WSGIRequest
from django.http import HttpRequest, HttpResponse

__all__ = ["is_handshake", "not_served", "refuse_unserved", "upgrade_required"]

logger = logging.getLogger("django_websocket")

_RUNSERVER = (
    'This is Django\'s WSGI development server: add "django_websocket" to INSTALLED_APPS, '
    'before "django.contrib.staticfiles", and manage.py runserver serves WebSockets too.'
)
_DJANGO_WSGI = (
    "This is Django's own WSGI application: in wsgi.py, use django_websocket.wsgi's "
    "get_wsgi_application and run gunicorn with --worker-class gthread --threads N (or "
    "gevent), or serve asgi.py with an ASGI server (docs/deployment.md)."
)
_OTHER_WSGI = (
    "This WSGI server cannot hand a view its socket: serve asgi.py with an ASGI server "
    "(uvicorn), or wsgi.py with django_websocket.wsgi on gunicorn's gthread or gevent "
    "worker (docs/deployment.md)."
)
_ASGI_HTTP = (
    "The ASGI server passed the handshake on as plain HTTP: its WebSocket support is off "
    "or missing (uvicorn: install websockets, and do not pass --ws none)."
)


def is_handshake(request: HttpRequest) -> bool:
    """Return whether ``request`` asks to upgrade to WebSocket."""
    return "websocket" in request.headers.get("Upgrade", "").lower()


def not_served(fix: str, *, path: str = "") -> HttpResponse:
    """Log ``fix`` as one error line and return the 503 that tells the client the same."""
    logger.error("WebSocket handshake refused with 503%s: %s", f" at {path}" if path else "", fix)
    return HttpResponse(f"WebSocket connections are not served here. {fix}\n", status=503)


def refuse_unserved(request: HttpRequest) -> HttpResponse:
    """Refuse a handshake that reached a view through a server that cannot serve it."""
    if isinstance(request, WSGIRequest):
        environ = request.environ
        if str(environ.get("SERVER_SOFTWARE", "")).startswith("WSGIServer/"):
            fix = _RUNSERVER  # wsgiref, which Django's runserver is built on
        elif "gunicorn.socket" in environ:
            fix = _DJANGO_WSGI
        else:
            fix = _OTHER_WSGI
    else:
        fix = _ASGI_HTTP
    return not_served(fix, path=request.path)


def upgrade_required(request: HttpRequest) -> HttpResponse:
    """Return 426 Upgrade Required, with the upgrade headers where the server allows them."""
    response = HttpResponse("This URL only accepts WebSocket connections.", status=426)
    if not isinstance(request, WSGIRequest) or "gunicorn.socket" in request.environ:
        response["Upgrade"] = "websocket"
        response["Connection"] = "Upgrade"
    return response
