"""What serving a WebSocket handshake through Django means, whatever the server.

:class:`WebSocketHandlerMixin` goes in front of Django's ``ASGIHandler`` (``asgi.py``)
or ``WSGIHandler`` (``wsgi.py``). The request runs through Django's middleware and URL
resolver like a GET; the resolved view is wrapped in a guard that refuses what must be
refused before the view runs:

- a view that is not marked (``@accept_websocket``/``@require_websocket``) while
  ``WEBSOCKET_ACCEPT_ALL`` is off: 400, with a body that says what to look at when the
  client got there by following a redirect (to the login page, say);
- a cross-site handshake (``origin.py``): 403;

then applies the view's options to the connection core, gives the view the
``request.websocket`` that fits it (blocking or awaited) and the connection its
:class:`~django_websocket.lifecycle.Lifecycle` (signals, log line, metrics), and turns
its outcome into something Django's response machinery accepts: a view that returns
nothing (or lets ``ConnectionClosed`` escape) yields a private 101 response, so
middleware sees a response; a view that raises after the handshake marks the connection failed (the
adapter closes with 1011) and Django logs it as usual. How the view finally closes or
denies the connection is the core's rule (:meth:`Protocol.end_code
<django_websocket.protocol.Protocol.end_code>`), carried out by the server adapter.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.shortcuts import resolve_url
from django.urls import NoReverseMatch

from .conf import conf
from .decorators import ViewOptions, view_options
from .exceptions import ConnectionClosed
from .lifecycle import Lifecycle
from .origin import origin_allowed
from .protocol import Protocol
from .request import Session, WebSocketRequest

__all__ = ["ViewReturned", "WebSocketHandlerMixin"]

_MAX_GUARDS = 1000  # guarded views kept per handler
_VIEW_TASK = "django_websocket view"  # the name of every async view's task


class ViewReturned(HttpResponse):
    """What the middleware chain sees once a WebSocket view has returned nothing."""

    status_code = 101


class WebSocketHandlerMixin:
    """Guard the resolved view of every WebSocket handshake; see the module docstring.

    For a subclass of Django's ``BaseHandler``. Sync views run as the handler runs them
    (:meth:`run_sync_view`, which an adapter may override).
    """

    handles_async: bool = True  # ASGI: the guard is a coroutine for every view
    _guards: dict[Callable[..., Any], Callable[..., Any]]  # view -> guarded, see guard()

    def resolve_request(self, request: HttpRequest) -> Any:
        """Resolve the view as Django does, then guard it for WebSocket use."""
        view, args, kwargs = super().resolve_request(request)  # type: ignore[misc]
        return self.guard(view), args, kwargs

    def make_view_atomic(self, view: Callable[..., Any]) -> Callable[..., Any]:
        """Leave WebSocket views out of ``ATOMIC_REQUESTS``.

        A transaction held for a connection's whole life would hold its locks that long;
        wrap each message's work in ``transaction.atomic`` instead.
        """
        return view

    def guard(self, view: Callable[..., Any]) -> Callable[..., Any]:
        """Return ``view`` wrapped for WebSocket use (see the module docstring).

        The wrapper of a view is made once and reused for every handshake it serves: an
        idle socket's request holds no wrapper of its own.
        """
        is_async = iscoroutinefunction(view)
        unsupported = self.refuse_view(view, is_async=is_async)
        if unsupported is not None:
            return lambda request, *args, **kwargs: unsupported
        try:
            guards = self._guards
        except AttributeError:
            guards = self._guards = {}
        try:
            return guards[view]
        except KeyError:
            pass
        except TypeError:  # an unhashable callable: wrap it each time
            return self._guard(view, is_async=is_async)
        if len(guards) >= _MAX_GUARDS:  # views made afresh for each request: no leak
            guards.clear()
        guarded = guards[view] = self._guard(view, is_async=is_async)
        return guarded

    def _guard(self, view: Callable[..., Any], *, is_async: bool) -> Callable[..., Any]:
        options = view_options(view)

        def refusal(request: WebSocketRequest) -> HttpResponse | None:
            # Before the view: what is refused, or None once the view may run.
            if options is None and not conf.ACCEPT_ALL:
                return HttpResponseBadRequest(_not_a_websocket_view(request))
            opts = options or ViewOptions()
            check_origin = conf.CHECK_ORIGIN if opts.check_origin is None else opts.check_origin
            if check_origin and not origin_allowed(request):
                return HttpResponseForbidden("Cross-origin WebSocket handshake refused.")
            session = request.websocket_session
            _configure(session, opts)
            request.websocket = session.front_end(is_async=is_async)
            session.protocol.observer = Lifecycle(request, sender=type(self), is_async=is_async)
            return None

        if is_async or self.handles_async:

            @functools.wraps(view)
            async def guarded(request: WebSocketRequest, *args: Any, **kwargs: Any) -> Any:
                refused = refusal(request)
                if refused is not None:
                    return refused
                # As _view_outcome(), written out: a suspended generator for every idle
                # socket is memory for nothing.
                response = None
                try:
                    if is_async:
                        response = await self.run_async_view(view, request, args, kwargs)
                    else:
                        response = await self.run_sync_view(view, request, args, kwargs)
                except ConnectionClosed:
                    pass
                except Exception:
                    _view_failed(request.websocket_session.protocol)
                    raise
                return ViewReturned() if response is None else response

            return guarded

        @functools.wraps(view)
        def guarded_sync(request: WebSocketRequest, *args: Any, **kwargs: Any) -> Any:
            refused = refusal(request)
            if refused is not None:
                return refused
            response = None
            with _view_outcome(request.websocket_session.protocol):
                response = view(request, *args, **kwargs)
            return ViewReturned() if response is None else response

        return guarded_sync

    def refuse_view(self, view: Callable[..., Any], *, is_async: bool) -> HttpResponse | None:
        """Return the response that refuses a view this server cannot run, or ``None``."""
        return None

    def run_async_view(
        self, view: Callable[..., Any], request: HttpRequest, args: Any, kwargs: Any
    ) -> Awaitable[Any]:
        """Start an async view in a task of its own; return what to await for its result.

        So a message resumes only the view's frames, not those of Django's middleware
        chain around it. (A plain method returning the task: no coroutine frame of its
        own waits with every idle socket.)
        """
        awaitable = view(request, *args, **kwargs)
        if asyncio.iscoroutine(awaitable):  # named: before 3.12 a default name is a string each
            return asyncio.get_running_loop().create_task(awaitable, name=_VIEW_TASK)
        task: asyncio.Future[Any] = asyncio.ensure_future(awaitable)
        return task

    async def run_sync_view(
        self, view: Callable[..., Any], request: HttpRequest, args: Any, kwargs: Any
    ) -> Any:
        """Run a sync view from the (async) guard; the ASGI adapter overrides it."""
        raise NotImplementedError


def _not_a_websocket_view(request: HttpRequest) -> str:
    # The 400 body. A client that follows redirects (the websockets library's does)
    # lands here after a WebSocket view refused it with a redirect: say so.
    body = (
        "This URL does not accept WebSocket connections: its view is not marked with "
        "@accept_websocket or @require_websocket."
    )
    if request.path == _login_path():
        return (
            f"{body} It is the login page (settings.LOGIN_URL): your client followed the "
            "redirect of a WebSocket view that needs a logged-in user (login_required). "
            "Connect with a logged-in session's cookie; with redirects not followed, the "
            "client sees that view's 302.\n"
        )
    return (
        f"{body} If your client followed a redirect to get here, the WebSocket URL it "
        "asked for refused the handshake with that redirect: this page is not a "
        "WebSocket view.\n"
    )


def _login_path() -> str | None:
    try:
        return urlsplit(resolve_url(settings.LOGIN_URL)).path
    except NoReverseMatch:
        return None


def _configure(session: Session, options: ViewOptions) -> None:
    protocol = session.protocol
    protocol.preferred_subprotocols = options.subprotocols  # a tuple: shared, not copied
    if protocol.must_accept:  # the idle timeout starts at the accept
        protocol.idle_timeout = (
            conf.IDLE_TIMEOUT if options.idle_timeout is None else options.idle_timeout
        )
        rate_limit = conf.RATE_LIMIT if options.rate_limit is None else options.rate_limit
        protocol.limit_rate(rate_limit or None)


@contextlib.contextmanager
def _view_outcome(protocol: Protocol) -> Iterator[None]:
    # ConnectionClosed escaping the view is a normal end (the client left); any other
    # exception after the handshake fails the connection, and Django logs it and makes a
    # 500 response of it, as for any view.
    try:
        yield
    except ConnectionClosed:
        pass
    except Exception:
        _view_failed(protocol)
        raise


def _view_failed(protocol: Protocol) -> None:
    protocol.failed = not protocol.must_accept
