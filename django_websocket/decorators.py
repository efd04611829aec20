"""``accept_websocket`` and ``require_websocket``: mark a view as a WebSocket endpoint.

Both keep a sync view sync and an async view async, and work with or without
``WebSocketMiddleware``. The options travel one way: as a :class:`ViewOptions` in the
wrapper's ``websocket_options`` attribute, which the handler reads before the view runs
(as Django's ``csrf_exempt`` marks a view for ``CsrfViewMiddleware``).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, overload

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse

from .protocol import RateLimit
from .request import attach_http, is_websocket_request
from .unserved import is_handshake, refuse_unserved, upgrade_required

__all__ = ["ViewOptions", "accept_websocket", "require_websocket", "view_options"]

View = TypeVar("View", bound=Callable[..., Any])


@dataclass(frozen=True)
class ViewOptions:
    """How a marked view serves WebSockets; ``None`` values follow the settings.

    Attributes:
        required: plain HTTP gets 426 Upgrade Required (``require_websocket``).
        subprotocols: the subprotocols the view speaks, best first.
        check_origin: refuse cross-site handshakes with 403 (``WEBSOCKET_CHECK_ORIGIN``).
        idle_timeout: seconds without a client message before closing
            (``WEBSOCKET_IDLE_TIMEOUT``).
        rate_limit: the messages a client may send (``WEBSOCKET_RATE_LIMIT``);
            ``False``: no limit for this view.
    """

    required: bool = False
    subprotocols: tuple[str, ...] = ()
    check_origin: bool | None = None
    idle_timeout: float | None = None
    rate_limit: RateLimit | Literal[False] | None = None


def view_options(view: Callable[..., Any]) -> ViewOptions | None:
    """Return the view's options, or ``None`` if it does not accept WebSockets.

    A view marked by hand with ``view.accept_websocket = True`` gets the defaults.
    """
    options = getattr(view, "websocket_options", None)
    if isinstance(options, ViewOptions):
        return options
    return ViewOptions() if getattr(view, "accept_websocket", False) else None


@overload
def accept_websocket(view: View, /) -> View: ...
@overload
def accept_websocket(
    *,
    subprotocols: Sequence[str] = (),
    check_origin: bool | None = None,
    idle_timeout: float | None = None,
    rate_limit: str | Literal[False] | None = None,
) -> Callable[[View], View]: ...
def accept_websocket(
    view: View | None = None,
    /,
    *,
    subprotocols: Sequence[str] = (),
    check_origin: bool | None = None,
    idle_timeout: float | None = None,
    rate_limit: str | Literal[False] | None = None,
) -> View | Callable[[View], View]:
    """Let a view serve WebSocket handshakes as well as plain HTTP requests.

    Args:
        subprotocols: the subprotocols this view speaks, best first. On accept the first
            one the client also offered is chosen; none in common means no subprotocol.
        check_origin: ``False`` lets handshakes from any ``Origin`` reach this view;
            ``None`` follows ``WEBSOCKET_CHECK_ORIGIN``.
        idle_timeout: seconds without a message from the client before the connection is
            closed (1000, "idle timeout"); ``None`` follows ``WEBSOCKET_IDLE_TIMEOUT``.
        rate_limit: the messages a client may send on one connection, as
            ``"COUNT/[N]UNIT"`` (``"10/s"``, ``"100/5m"``, ``"60/m"``, ``"1000/h"``): a
            token bucket that holds COUNT and refills over the period. The message past
            it closes the connection with 1008 "rate limit exceeded". ``None`` follows
            ``WEBSOCKET_RATE_LIMIT``; ``False``: no limit for this view.

    Raises:
        ValueError, TypeError: ``rate_limit`` is not such a rate (at decoration time).
    """
    mark = functools.partial(
        _mark,
        required=False,
        subprotocols=subprotocols,
        check_origin=check_origin,
        idle_timeout=idle_timeout,
        rate_limit=_rate_limit(rate_limit),
    )
    return mark if view is None else mark(view)


@overload
def require_websocket(view: View, /) -> View: ...
@overload
def require_websocket(
    *,
    subprotocols: Sequence[str] = (),
    check_origin: bool | None = None,
    idle_timeout: float | None = None,
    rate_limit: str | Literal[False] | None = None,
) -> Callable[[View], View]: ...
def require_websocket(
    view: View | None = None,
    /,
    *,
    subprotocols: Sequence[str] = (),
    check_origin: bool | None = None,
    idle_timeout: float | None = None,
    rate_limit: str | Literal[False] | None = None,
) -> View | Callable[[View], View]:
    """Let a view serve only WebSocket handshakes; plain HTTP gets 426 Upgrade Required.

    Args:
        subprotocols, check_origin, idle_timeout, rate_limit: as for
            :func:`accept_websocket`.
    """
    mark = functools.partial(
        _mark,
        required=True,
        subprotocols=subprotocols,
        check_origin=check_origin,
        idle_timeout=idle_timeout,
        rate_limit=_rate_limit(rate_limit),
    )
    return mark if view is None else mark(view)


def _rate_limit(value: str | Literal[False] | None) -> RateLimit | Literal[False] | None:
    # Parsed once, when the view is decorated: a typo fails at import, not per connection.
    if value is None or value is False:
        return value
    return RateLimit.parse(value)


def _mark(
    view: View,
    *,
    required: bool,
    subprotocols: Sequence[str],
    check_origin: bool | None,
    idle_timeout: float | None,
    rate_limit: RateLimit | Literal[False] | None,
) -> View:
    options = ViewOptions(
        required=required,
        subprotocols=tuple(subprotocols),
        check_origin=check_origin,
        idle_timeout=idle_timeout,
        rate_limit=rate_limit,
    )

    def refusal(request: HttpRequest) -> HttpResponse | None:
        # Before the view: refuse plain HTTP if required, and a handshake that reached
        # the view through a server that cannot serve it (unserved.py).
        if is_websocket_request(request):
            return None
        attach_http(request)
        if is_handshake(request):
            return refuse_unserved(request)
        return upgrade_required(request) if required else None

    if iscoroutinefunction(view):

        def async_wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Awaitable[Any]:
            # A plain function returning the view's coroutine: no frame of its own waits
            # with every idle socket. (Marked, so Django awaits it as an async view.)
            refused = refusal(request)
            return _ready(refused) if refused is not None else view(request, *args, **kwargs)

        wrapper: Any = markcoroutinefunction(async_wrapper)
    else:

        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            refused = refusal(request)
            return refused if refused is not None else view(request, *args, **kwargs)

    functools.update_wrapper(wrapper, view)
    wrapper.accept_websocket = True
    wrapper.websocket_options = options  # read by the handler before the view runs
    return wrapper  # type: ignore[no-any-return]


async def _ready(response: HttpResponse) -> HttpResponse:
    return response
