"""Widen Django's own ``ASGIHandler`` to WebSocket and lifespan scopes.

With ``"django_websocket"`` in ``INSTALLED_APPS``, the app's ``ready()`` calls
:func:`widen_asgi_handler`, so the ``asgi.py`` that ``startproject`` writes
(``django.core.asgi.get_asgi_application()``) serves WebSocket views under any ASGI
server, as :func:`django_websocket.asgi.get_asgi_application` does: without it, Django
answers every ``websocket`` scope with ``ValueError: Django can only handle ASGI/HTTP
connections`` (a 500 on every handshake, under uvicorn as in production).

What is replaced is one method, ``ASGIHandler.__call__``, and only for scopes that are
not ``http``: an HTTP request still runs Django's own method, untouched. A ``websocket``
or ``lifespan`` scope goes to a :class:`~django_websocket.asgi.ASGIApplication` made
once per handler, whose HTTP side is that handler itself. Subclasses of ``ASGIHandler``
that define their own ``__call__`` (the library's ``WebSocketHandler``, staticfiles'
``ASGIStaticFilesHandler``) are not affected.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from django.core.handlers.asgi import ASGIHandler

if TYPE_CHECKING:
    from .asgi import ASGIApplication
    from .asyncio.asgi import Receive, Scope, Send

__all__ = ["is_widened", "widen_asgi_handler"]

_MARK = "_django_websocket_widened"
_APPLICATION = "_django_websocket_application"


def is_widened() -> bool:
    """Return whether ``ASGIHandler`` serves WebSocket and lifespan scopes (this process)."""
    return bool(getattr(ASGIHandler.__call__, _MARK, False))


def widen_asgi_handler() -> None:
    """Let Django's ``ASGIHandler`` serve WebSocket views too; a no-op the second time."""
    if is_widened():
        return
    http_only = ASGIHandler.__call__

    @functools.wraps(http_only)
    async def __call__(self: ASGIHandler, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("websocket", "lifespan"):
            await _application(self)(scope, receive, send)
        else:
            await http_only(self, scope, receive, send)

    setattr(__call__, _MARK, True)
    ASGIHandler.__call__ = __call__  # type: ignore[method-assign]


def _application(handler: ASGIHandler) -> ASGIApplication:
    # One application per handler, made at its first non-HTTP scope (lifespan startup
    # under uvicorn), whose HTTP requests go back to the handler itself.
    application: Any = handler.__dict__.get(_APPLICATION)
    if application is None:
        from .asgi import ASGIApplication

        application = ASGIApplication(http_handler=handler)
        setattr(handler, _APPLICATION, application)
    return application  # type: ignore[no-any-return]
