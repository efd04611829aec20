"""Which ``Origin`` may open a WebSocket: the defence against cross-site hijacking.

Browsers send cookies with a WebSocket handshake from any site, and Django's CSRF
middleware does not check GET requests, so without this check any page on the web could
open an authenticated socket as the visitor. A handshake is allowed when it has no
``Origin`` (browsers always send one; other clients need not), or when the origin is:

- the site itself (same scheme-less host and port as the ``Host`` header),
- a host matched by ``ALLOWED_HOSTS`` (a bare ``"*"`` there does not count),
- listed in ``CSRF_TRUSTED_ORIGINS`` or ``WEBSOCKET_ALLOWED_ORIGINS`` (exactly, or as
  ``https://*.example.com``; ``"*"`` in ``WEBSOCKET_ALLOWED_ORIGINS`` allows any).
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest
from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain

from .conf import conf

__all__ = ["origin_allowed"]


def origin_allowed(request: HttpRequest) -> bool:
    """Return whether the handshake's ``Origin`` header may open a WebSocket."""
    # From META, not request.headers: that would build (and keep on the request, for the
    # socket's life) a dict of every header.
    origin = request.META.get("HTTP_ORIGIN")
    if origin is None:
        return True
    try:
        parsed = urlsplit(origin)
    except ValueError:
        return False
    netloc = parsed.netloc.lower()
    if not parsed.scheme or not netloc:
        return False  # "null" (sandboxed frames, file: pages) and other opaque origins
    return (
        _same_host(request, netloc)
        or _in_allowed_hosts(netloc)
        or _listed(origin, parsed.scheme, netloc, settings.CSRF_TRUSTED_ORIGINS)
        or _listed(origin, parsed.scheme, netloc, conf.ALLOWED_ORIGINS)
    )


def _same_host(request: HttpRequest, netloc: str) -> bool:
    try:
        return netloc == request.get_host().lower()
    except DisallowedHost:
        return False


def _in_allowed_hosts(netloc: str) -> bool:
    allowed = [host for host in settings.ALLOWED_HOSTS if host != "*"]
    if settings.DEBUG and not settings.ALLOWED_HOSTS:
        allowed = [".localhost", "127.0.0.1", "[::1]"]  # as Django's get_host() does
    domain, _port = split_domain_port(netloc)
    return bool(domain) and validate_host(domain, allowed)


def _listed(origin: str, scheme: str, netloc: str, patterns: Iterable[str]) -> bool:
    for pattern in patterns:
        if pattern == "*" or pattern == origin:
            return True
        if "://*." in pattern:
            pattern_scheme, _, pattern_host = pattern.partition("://*")
            if scheme == pattern_scheme and is_same_domain(netloc, pattern_host):
                return True
    return False
