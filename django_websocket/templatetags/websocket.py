"""``{% websocket_url %}``: the absolute ``ws://`` or ``wss://`` URL of a WebSocket view.

Load it with ``{% load websocket %}``; the browser client (``django_websocket/client.js``)
takes the URL it gives.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse

__all__ = ["websocket_url"]

register = template.Library()


@register.simple_tag(takes_context=True)
def websocket_url(context: template.Context, viewname: str, *args: Any, **kwargs: Any) -> str:
    """Return the WebSocket URL of ``viewname`` on the host the page was requested from.

    ``{% websocket_url "chat" room="lobby" %}`` → ``ws://example.com/chat/lobby/socket/``:
    ``reverse(viewname, args=args, kwargs=kwargs)`` behind ``request.get_host()``, with
    ``wss://`` when ``request.is_secure()`` (which honours ``SECURE_PROXY_SSL_HEADER``)
    and ``ws://`` otherwise. Like ``{% url %}`` it supports ``as name``, and its output is
    HTML-escaped where autoescaping is on.

    Raises:
        ImproperlyConfigured: the template was rendered without a request.
    """
    request = getattr(context, "request", None) or context.get("request")
    if request is None:
        raise ImproperlyConfigured(
            "{% websocket_url %} needs the request to know the host and the scheme: render "
            "the template with one (render(request, ...), render_to_string(..., "
            "request=request)) or add 'django.template.context_processors.request' to "
            "TEMPLATES' 'context_processors' option."
        )
    scheme = "wss" if request.is_secure() else "ws"
    return f"{scheme}://{request.get_host()}{reverse(viewname, args=args, kwargs=kwargs)}"
