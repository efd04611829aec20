"""``manage.py websocket_urls [--json]``: what accepts WebSockets here, and how it is wired.

The first thing to run when a WebSocket does not connect. It lists every URL pattern
whose view accepts WebSocket handshakes (``@accept_websocket``/``@require_websocket``, or
every view under ``WEBSOCKET_ACCEPT_ALL``) with the options in force for it, then the
wiring: whether the project's ASGI and WSGI applications are django_websocket's (it
imports them, as ``runserver`` imports ``WSGI_APPLICATION``), the groups backend and
whether its broker answers, the origin policy and the limits.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from importlib import import_module
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RegexPattern

from ...conf import conf
from ...decorators import ViewOptions, view_options
from ...exceptions import GroupBackendError
from ...groups.base import GroupBackend


@dataclass
class Route:
    """One URL pattern whose view accepts WebSockets, with its options in force."""

    pattern: str
    name: str | None
    view: str
    http: str  # what a plain HTTP request gets
    subprotocols: list[str]
    check_origin: str
    idle_timeout: str
    rate_limit: str


@dataclass
class Application:
    """What a project's ASGI or WSGI entry point turned out to be."""

    path: str
    source: str  # the setting it came from, or what it was guessed from
    found: bool
    serves_websockets: bool
    detail: str


class Command(BaseCommand):
    help = (
        "List the URL patterns whose views accept WebSocket connections, with their "
        "options, and how the project serves them: the ASGI/WSGI application, the groups "
        "backend (and whether Redis answers), the origin policy, the limits."
    )
    requires_system_checks = ()  # a diagnostic: it runs even when the checks fail

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="print it all as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        routes = list(find_routes())
        wiring = find_wiring()
        if options["json"]:
            data = {"routes": [asdict(route) for route in routes], "wiring": wiring}
            self.stdout.write(json.dumps(data, indent=2))
            return
        self._print_routes(routes)
        self._print_wiring(wiring)

    def _print_routes(self, routes: list[Route]) -> None:
        write = self.stdout.write
        write(self.style.MIGRATE_HEADING(f"WebSocket URLs ({settings.ROOT_URLCONF}):"))
        if not routes:
            write(
                self.style.WARNING(
                    "  none: no view is marked with @accept_websocket or @require_websocket, "
                    "so every handshake is refused with 400."
                )
            )
            return
        header = ("URL", "view", "plain HTTP", "subprotocols", "origin check", "idle timeout",
                  "rate limit")  # fmt: skip
        rows = [
            (r.pattern + (f" [{r.name}]" if r.name else ""), r.view, r.http,
             ", ".join(r.subprotocols) or "-", r.check_origin, r.idle_timeout, r.rate_limit)
            for r in routes
        ]  # fmt: skip
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
        for i, row in enumerate([header, *rows]):
            line = "  " + "  ".join(
                cell.ljust(width) for cell, width in zip(row, widths, strict=True)
            )
            write(self.style.SQL_FIELD(line.rstrip()) if i == 0 else line.rstrip())
        write("  (view): set by the view's decorator; otherwise the setting's value.")

    def _print_wiring(self, wiring: dict[str, Any]) -> None:
        write = self.stdout.write
        write(self.style.MIGRATE_HEADING("Wiring:"))
        for label in ("asgi", "wsgi"):
            app: dict[str, Any] = wiring[label]
            text = (
                f"  {label.upper()} application: {app['path']} ({app['source']}): {app['detail']}"
            )
            write(text if app["serves_websockets"] else self.style.WARNING(text))
        if not (wiring["asgi"]["serves_websockets"] or wiring["wsgi"]["serves_websockets"]):
            write(
                self.style.ERROR(
                    "  Nothing found that serves WebSockets: in asgi.py use "
                    "django_websocket.asgi.get_asgi_application() (or in wsgi.py "
                    "django_websocket.wsgi.get_wsgi_application(), on gunicorn gthread or "
                    "gevent workers), and serve that."
                )
            )
        groups = wiring["groups"]
        text = f"  Groups backend: {groups['backend']} ({groups['where']}): {groups['status']}"
        write(self.style.ERROR(text) if groups["ok"] is False else text)
        write(f"  Origin policy: {wiring['origin']}")
        write(f"  Message size limit: {wiring['max_message_size']} bytes "
              "(WEBSOCKET_MAX_MESSAGE_SIZE); a larger message closes with 1009")  # fmt: skip
        write(f"  Rate limit: {wiring['rate_limit'] or 'none'} (WEBSOCKET_RATE_LIMIT)")
        idle = wiring["idle_timeout"]
        write(f"  Idle timeout: {'none' if idle is None else f'{idle:g} s'} "
              "(WEBSOCKET_IDLE_TIMEOUT)")  # fmt: skip
        if wiring["accept_all"]:
            write(
                self.style.WARNING("  WEBSOCKET_ACCEPT_ALL is on: every view accepts handshakes.")
            )
        else:
            write("  WEBSOCKET_ACCEPT_ALL off: handshakes to other URLs are refused with 400.")


# -- The routes -----------------------------------------------------------------------


def find_routes() -> Iterator[Route]:
    """Yield every URL pattern of ``ROOT_URLCONF`` whose view accepts WebSockets."""
    for pattern, name, view in _walk(get_resolver().url_patterns, "", ""):
        options = view_options(view)
        if options is None:
            if not conf.ACCEPT_ALL:
                continue
            options = ViewOptions()
        yield _route(pattern, name, view, options)


def _walk(patterns: list[Any], prefix: str, namespace: str) -> Iterator[tuple[str, str, Any]]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _walk(entry.url_patterns, prefix + _part(entry.pattern), inner)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}{entry.name}" if entry.name else ""
            yield "/" + prefix + _part(entry.pattern), name, entry.callback


def _part(pattern: Any) -> str:
    # A route as written; a regex without its anchors, so that the parts join up.
    text = str(pattern)
    return re.sub(r"^\^|(\$|\\Z)$", "", text) if isinstance(pattern, RegexPattern) else text


def _route(pattern: str, name: str, view: Callable[..., Any], options: ViewOptions) -> Route:
    def own(value: str) -> str:
        return f"{value} (view)"

    if options.check_origin is None:
        origin = "on" if conf.CHECK_ORIGIN else "off"
    else:
        origin = own("on" if options.check_origin else "off")
    if options.idle_timeout is None:
        idle = "-" if conf.IDLE_TIMEOUT is None else f"{conf.IDLE_TIMEOUT:g} s"
    else:
        idle = own(f"{options.idle_timeout:g} s")
    if options.rate_limit is None:
        rate = _setting_rate_limit() or "-"
    else:
        rate = own("off" if options.rate_limit is False else str(options.rate_limit))
    return Route(
        pattern=pattern,
        name=name or None,
        view=_view_name(view),
        http="426" if options.required else "the view",
        subprotocols=list(options.subprotocols),
        check_origin=origin,
        idle_timeout=idle,
        rate_limit=rate,
    )


def _view_name(view: Any) -> str:
    target = getattr(view, "view_class", None) or getattr(view, "__wrapped__", None) or view
    module = getattr(target, "__module__", None)
    qualname = getattr(target, "__qualname__", None) or type(target).__qualname__
    return f"{module}.{qualname}" if module else qualname


def _setting_rate_limit() -> str | None:
    try:
        limit = conf.RATE_LIMIT
    except (TypeError, ValueError):
        return "invalid (check E005)"
    return None if limit is None else str(limit)


# -- The wiring -----------------------------------------------------------------------


def find_wiring() -> dict[str, Any]:
    """Return how the project serves WebSockets (see the module docstring)."""
    return {
        "asgi": asdict(_application("asgi")),
        "wsgi": asdict(_application("wsgi")),
        "groups": _groups(),
        "origin": _origin_policy(),
        "max_message_size": conf.MAX_MESSAGE_SIZE,
        "rate_limit": _setting_rate_limit(),
        "idle_timeout": conf.IDLE_TIMEOUT,
        "accept_all": conf.ACCEPT_ALL,
    }


def _application(kind: str) -> Application:
    # ASGI_APPLICATION / WSGI_APPLICATION if set, else asgi.py / wsgi.py where
    # startproject puts them: next to WSGI_APPLICATION's module, or to ROOT_URLCONF.
    setting = f"{kind.upper()}_APPLICATION"
    path, source = getattr(settings, setting, None), setting
    if not path:
        wsgi = getattr(settings, "WSGI_APPLICATION", None)
        base, source = (wsgi, "next to WSGI_APPLICATION") if wsgi else (
            settings.ROOT_URLCONF, "next to ROOT_URLCONF"
        )  # fmt: skip
        package = str(base).rsplit(".", 2 if wsgi else 1)[0]
        path = f"{package}.{kind}.application"
    module_path, _, attribute = str(path).rpartition(".")
    try:
        module = import_module(module_path)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if module_path == missing or module_path.startswith(missing + "."):
            return Application(path, source, False, False, f"not found (no module {missing})")
        return Application(path, source, False, False, f"cannot be imported: {exc}")
    except Exception as exc:  # the project's own code failed: say so, go on
        return Application(path, source, False, False, f"cannot be imported: {exc!r}")
    app = getattr(module, attribute, None)
    if app is None:
        return Application(
            path, source, False, False, f"not found ({module_path} has no {attribute})"
        )
    ours = _unwrap(app, kind)
    if ours is not None:
        return Application(
            path, source, True, True,
            f"django_websocket's get_{kind}_application()"
            + ("" if ours is app else f", inside {_type_name(app)}")
            + ("" if kind == "asgi" else "; WebSockets on gunicorn gthread or gevent workers"),
        )  # fmt: skip
    return Application(
        path, source, True, False,
        f"{_type_name(app)}, not django_websocket's: WebSocket handshakes are refused there "
        f"(use django_websocket.{kind}.get_{kind}_application())",
    )  # fmt: skip


def _unwrap(app: Any, kind: str) -> Any:
    # Look through middleware that wraps the application (static files, WhiteNoise,
    # Sentry): they keep the inner one in an attribute.
    from ...asgi import ASGIApplication
    from ...wsgi import WSGIApplication

    ours: type = ASGIApplication if kind == "asgi" else WSGIApplication
    for _ in range(8):
        if isinstance(app, ours):
            return app
        app = next(
            (getattr(app, name) for name in ("application", "app", "wrapped", "__wrapped__")
             if getattr(app, name, None) is not None),
            None,
        )  # fmt: skip
        if app is None:
            return None
    return None


def _type_name(value: Any) -> str:
    # A function by its own name, anything else by its class's.
    named = value if isinstance(value, type) or hasattr(value, "__code__") else type(value)
    return f"{named.__module__}.{named.__qualname__}"


def _groups() -> dict[str, Any]:
    from ...groups import get_backend

    path = conf.GROUPS.get("BACKEND", "?")
    try:
        backend = get_backend()
    except Exception as exc:  # ImproperlyConfigured, ImportError: report, go on
        return {"backend": path, "where": "cannot be built", "ok": False, "status": str(exc)}
    report = {"backend": path, "where": str(backend)}
    if type(backend).ping is GroupBackend.ping:
        return {**report, "ok": None, "status": "nothing to reach"}
    started = time.monotonic()
    try:
        backend.run_sync(backend.ping())
    except GroupBackendError as exc:
        return {**report, "ok": False, "status": f"NOT reachable: {exc}"}
    elapsed = (time.monotonic() - started) * 1000
    return {**report, "ok": True, "status": f"reachable (PING answered in {elapsed:.1f} ms)"}


def _origin_policy() -> str:
    if not conf.CHECK_ORIGIN:
        return "WEBSOCKET_CHECK_ORIGIN off: any site may open sockets with your users' cookies"
    if "*" in conf.ALLOWED_ORIGINS:
        return 'any origin ("*" in WEBSOCKET_ALLOWED_ORIGINS)'
    hosts = [host for host in settings.ALLOWED_HOSTS if host != "*"]
    if settings.DEBUG and not settings.ALLOWED_HOSTS:
        hosts = [".localhost", "127.0.0.1", "[::1]"]
    star = ' ("*" does not count)' if "*" in settings.ALLOWED_HOSTS else ""
    return (
        "WEBSOCKET_CHECK_ORIGIN on: a handshake must come without Origin (not a browser), "
        f"from the Host itself, or from ALLOWED_HOSTS {hosts}{star}, CSRF_TRUSTED_ORIGINS "
        f"{list(settings.CSRF_TRUSTED_ORIGINS)} or WEBSOCKET_ALLOWED_ORIGINS "
        f"{conf.ALLOWED_ORIGINS}; others get 403"
    )
