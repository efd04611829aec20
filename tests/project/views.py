"""Views the test suite talks to. The first two are the seed README's, verbatim."""

import asyncio
import contextlib
import os
import threading
import time

from asgiref.sync import sync_to_async
from django import urls
from django.contrib.auth import get_user_model, login
from django.contrib.auth.decorators import login_required, permission_required
from django.core.signals import got_request_exception
from django.db import connection, transaction
from django.db.backends.signals import connection_created
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from django_websocket import (
    ConnectionClosed,
    GroupBackendError,
    abroadcast,
    accept_websocket,
    broadcast,
    broadcast_json,
    require_websocket,
)

# --- The seed README's examples, copied as they are. ---------------------------------
# fmt: off

@require_websocket
def echo_once(request):
    message = request.websocket.wait()
    request.websocket.send(message)

def modify_message(message):
    return message.lower()

@accept_websocket
def lower_case(request):
    if not request.is_websocket():
        message = request.GET['message']
        message = modify_message(message)
        return HttpResponse(message)
    else:
        for message in request.websocket:
            message = modify_message(message)
            request.websocket.send(message)
# fmt: on

# --- What the server process saw, for tests to read over HTTP. ------------------------

EVENTS: list[dict] = []


def record(**event):
    EVENTS.append(event)


def events(request):
    """Return (and with ?clear=1, forget) what views recorded."""
    data = list(EVENTS)
    if request.GET.get("clear"):
        EVENTS.clear()
    return JsonResponse(data, safe=False)


def _on_exception(sender, request=None, **kwargs):
    record(signal="got_request_exception", path=getattr(request, "path", None))


got_request_exception.connect(_on_exception)

_connections_created = []


def _on_connection_created(sender, connection, **kwargs):
    _connections_created.append(1)


connection_created.connect(_on_connection_created)


# --- Sync views. --------------------------------------------------------------------


@accept_websocket
def attributes(request):
    """Report is_websocket() and websocket for both kinds of request."""
    info = {"is_websocket": request.is_websocket(), "websocket_is_none": request.websocket is None}
    if request.is_websocket():
        request.websocket.send_json(info)
    else:
        return JsonResponse(info)


def unmarked(request):
    """A view without a decorator: reports what it sees."""
    is_ws = getattr(request, "is_websocket", lambda: None)()
    if is_ws:
        request.websocket.send("unmarked view reached")
        return None
    return JsonResponse({"is_websocket": is_ws, "has_attr": hasattr(request, "websocket")})


@require_websocket
def types(request):
    """Echo each message with its type, then the message itself."""
    for message in request.websocket:
        request.websocket.send(type(message).__name__)
        request.websocket.send(message)


@require_websocket
def buffered(request):
    """After "go", let messages queue up; report count/has/read."""
    ws = request.websocket
    assert ws.wait() == "go"
    before = {"count": ws.count_messages(), "has": ws.has_messages()}
    time.sleep(float(request.GET.get("sleep", "0.5")))
    after = {"count": ws.count_messages(), "has": ws.has_messages()}
    drained = []
    while (message := ws.read()) is not None:
        drained.append(message)
    ws.send_json({"before": before, "after": after, "read": drained, "read_empty": ws.read()})


@require_websocket
def timeout(request):
    try:
        request.websocket.wait(timeout=0.2)
    except TimeoutError:
        request.websocket.send("timed out")


@require_websocket
def close_with(request):
    """Close with the code and reason given in the query string."""
    code = int(request.GET.get("code", "1000"))
    request.websocket.accept()
    request.websocket.close(code, request.GET.get("reason", ""))
    record(view="close_with", closed=request.websocket.closed, code=request.websocket.close_code)


@require_websocket
def bad_close(request):
    try:
        request.websocket.close(1005)
    except ValueError as exc:
        request.websocket.send(f"ValueError: {exc}")


@accept_websocket(subprotocols=["chat.v2", "chat.v1"])
def negotiated(request):
    request.websocket.accept()  # the decorator's list decides
    request.websocket.send(repr(request.websocket.subprotocol))


@require_websocket
def explicit_accept(request):
    ws = request.websocket
    offered = ws.subprotocols
    ws.accept(subprotocol=offered[-1] if offered else None, headers={"X-Hello": "world"})
    ws.send_json({"subprotocol": ws.subprotocol, "offered": offered})


@require_websocket
def json_echo(request):
    while (data := request.websocket.wait_json()) is not None:
        request.websocket.send_json({"got": data})


@require_websocket
def deny(request):
    return HttpResponse("no entry", status=418, headers={"X-Why": "teapot"})


@login_required
@require_websocket
def whoami(request):
    request.websocket.send(request.user.get_username())


@permission_required("auth.delete_user", raise_exception=True)
@require_websocket
def needs_permission(request):
    request.websocket.send("allowed")


def make_user(request):
    """Create a user and log it in: the response sets the session cookie."""
    user, _ = get_user_model().objects.get_or_create(username="ada")
    login(request, user)
    return HttpResponse("logged in")


@require_websocket
def returns(request):
    """Accept, send, and return: the connection closes with 1000."""
    request.websocket.send("bye")


@require_websocket
def returns_untouched(request):
    """Return without touching the socket."""


@require_websocket
def client_goes_away(request):
    """Wait until the client closes; record what the view saw, then try to send."""
    ws = request.websocket
    ws.send("ready")
    seen = ws.wait()
    record(
        view="client_goes_away",
        wait=seen,
        closed=ws.closed,
        code=ws.close_code,
        reason=ws.close_reason,
    )
    try:
        ws.send("too late")
    except ConnectionClosed as exc:
        record(view="client_goes_away", send_raised=type(exc).__name__, code=exc.code)
    ws.send("escapes")  # ConnectionClosed escapes the view: must end quietly


@require_websocket
def crash(request):
    request.websocket.send("about to fail")
    raise RuntimeError("boom in a websocket view")


@require_websocket
def crash_before_accept(request):
    raise RuntimeError("boom before accept")


@require_websocket
def blocking(request):
    """Block until a message arrives, then report the thread it ran on."""
    request.websocket.wait()
    request.websocket.send_json({"thread": threading.get_ident()})


@require_websocket
def thread_id(request):
    request.websocket.send_json({"thread": threading.get_ident()})
    request.websocket.wait()


@require_websocket
def hold(request):
    """Hold a sync slot until the client closes."""
    request.websocket.send("holding")
    request.websocket.wait()


@require_websocket
def slow_reader(request):
    """Report how many messages are buffered while the view does not read."""
    ws = request.websocket
    ws.send("ready")
    time.sleep(1.0)
    ws.send_json({"count": ws.count_messages()})
    received = sum(1 for _ in ws)
    record(view="slow_reader", received=received + 0)


@require_websocket
def database(request):
    """Query, wait for a message, query again; report how many connections were made."""
    ws = request.websocket
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    first = len(_connections_created)
    ws.wait()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    ws.send_json({"before": first, "after": len(_connections_created)})


# --- Async views. -------------------------------------------------------------------


@require_websocket
async def async_echo(request):
    async for message in request.websocket:
        await request.websocket.send(message)


@require_websocket
async def url_locals(request):
    """Report the script prefix and URLconf that reverse() and resolve() would use."""
    await request.websocket.send_json([urls.get_script_prefix(), urls.get_urlconf()])


@require_websocket
async def async_api(request):
    """Use every async method once and report."""
    ws = request.websocket
    await ws.accept(subprotocol=ws.subprotocols[0] if ws.subprotocols else None)
    first = await ws.wait()
    await asyncio.sleep(0.3)
    counted = {"count": ws.count_messages(), "has": ws.has_messages()}
    second = await ws.read()
    nothing = await ws.read()
    try:
        await ws.wait(timeout=0.1)
        timed_out = False
    except TimeoutError:
        timed_out = True
    data = await ws.wait_json()
    await ws.send_json(
        {
            "first": first,
            "counted": counted,
            "second": second,
            "nothing": nothing,
            "timed_out": timed_out,
            "json": data,
            "subprotocol": ws.subprotocol,
            "kind": type(ws).__name__,
        }
    )
    await ws.send(b"\x00binary")
    await ws.close(4001, "async done")


@accept_websocket
async def async_both(request):
    if not request.is_websocket():
        return HttpResponse("async http")
    await request.websocket.send("async websocket")


@require_websocket
async def async_crash(request):
    await request.websocket.send("about to fail")
    raise RuntimeError("boom in an async websocket view")


@require_websocket
async def async_deny(request):
    return HttpResponse("async says no", status=403)


@csrf_exempt
def http_ok(request):
    return HttpResponse("plain http")


# --- Safe defaults. -----------------------------------------------------------------


@require_websocket(check_origin=False)
def any_origin(request):
    request.websocket.send("any origin welcome")


@require_websocket(idle_timeout=0.5)
def idle(request):
    ws = request.websocket
    for message in ws:
        ws.send(message)
    record(view="idle", code=ws.close_code, reason=ws.close_reason)


@require_websocket
def size_report(request):
    """Echo sizes until the connection closes; record how it closed."""
    ws = request.websocket
    for message in ws:
        ws.send(str(len(message)))
    record(view="size_report", code=ws.close_code, reason=ws.close_reason)


@require_websocket(rate_limit="5/h")
def rate_limited(request):
    """Echo, at most five messages an hour; record what came in and how it closed.

    Messages read ahead before the close are still handed over (they were within the
    limit), but can no longer be answered.
    """
    ws = request.websocket
    received = 0
    for message in ws:
        received += 1
        with contextlib.suppress(ConnectionClosed):
            ws.send(message)
    record(view="rate_limited", received=received, code=ws.close_code, reason=ws.close_reason)


@require_websocket(rate_limit="5/h")
async def async_rate_limited(request):
    """The async twin of rate_limited."""
    ws = request.websocket
    received = 0
    async for message in ws:
        received += 1
        with contextlib.suppress(ConnectionClosed):
            await ws.send(message)
    record(view="async_rate_limited", received=received, code=ws.close_code, reason=ws.close_reason)


@require_websocket(rate_limit=False)
async def unlimited(request):
    """Echo with no rate limit, whatever WEBSOCKET_RATE_LIMIT says."""
    async for message in request.websocket:
        await request.websocket.send(message)


FIREHOSE = {"sent": 0}


@require_websocket
def firehose(request):
    """Send 64 KiB messages as fast as the client takes them (or not)."""
    chunk = b"x" * 65536
    FIREHOSE["sent"] = 0
    while True:
        request.websocket.send(chunk)  # raises ConnectionClosed at the end: a quiet end
        FIREHOSE["sent"] += 1


def firehose_count(request):
    return JsonResponse(FIREHOSE)


# --- Groups (tests/test_groups*.py). ------------------------------------------------


@require_websocket
def group_member(request):
    """Join ?group=...; then obey: join:G, leave:G, say:G:text (to G but me), close."""
    ws = request.websocket
    for name in request.GET.getlist("group"):
        ws.join(name)
    ws.send("joined")
    for message in ws:
        command, _, arg = message.partition(":")
        if command == "join":
            try:
                ws.join(arg)
            except ValueError as exc:
                ws.send(f"ValueError: {exc}")
            else:
                ws.send("joined")
        elif command == "leave":
            ws.leave(arg)
            ws.send("left")
        elif command == "say":
            group, _, text = arg.partition(":")
            ws.send(f"said:{broadcast(group, text, exclude=ws)}")
        elif command == "close":
            ws.close()


@require_websocket
async def async_group_member(request):
    """The async twin of group_member."""
    ws = request.websocket
    for name in request.GET.getlist("group"):
        await ws.join(name)
    await ws.send("joined")
    async for message in ws:
        command, _, arg = message.partition(":")
        if command == "leave":
            await ws.leave(arg)
            await ws.send("left")
        elif command == "say":
            group, _, text = arg.partition(":")
            await ws.send(f"said:{await abroadcast(group, text, exclude=ws)}")


def _broadcast_args(request):
    message = request.GET.get("message", "") + "." * int(request.GET.get("size", "0"))
    return request.GET.get("group", ""), message, request.GET.get("kind", "text")


def group_broadcast(request):
    """Broadcast ?message= (padded with ?size= dots) to ?group= as ?kind=text|binary|json."""
    group, message, kind = _broadcast_args(request)
    try:
        if kind == "json":
            count = broadcast_json(group, {"message": message})
        else:
            count = broadcast(group, message.encode() if kind == "binary" else message)
    except ValueError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    except GroupBackendError as exc:
        return JsonResponse({"error": str(exc)}, status=503)
    return JsonResponse({"count": count})


async def group_abroadcast(request):
    """The async twin of group_broadcast (text only)."""
    group, message, _ = _broadcast_args(request)
    try:
        count = await abroadcast(group, message)
    except ValueError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    except GroupBackendError as exc:
        return JsonResponse({"error": str(exc)}, status=503)
    return JsonResponse({"count": count})


async def group_size(request):
    """How many local sockets are in ?group= (read on the loop, sends nothing)."""
    from django_websocket.groups import get_backend

    return JsonResponse({"size": get_backend().size(request.GET["group"])})


async def group_count(request):
    """agroup_size(?group=): the sockets in the group, in every process with Redis."""
    from django_websocket import agroup_size

    try:
        return JsonResponse({"size": await agroup_size(request.GET["group"])})
    except GroupBackendError as exc:
        return JsonResponse({"error": str(exc)}, status=503)


def group_count_sync(request):
    """group_size(?group=), from a sync view (a thread)."""
    from django_websocket import group_size

    return JsonResponse({"size": group_size(request.GET["group"])})


# --- For the in-process test client (django_websocket.testing). ----------------------


@require_websocket
def handshake_info(request):
    """Report what the handshake carried: a header, the cookies, the query, the scheme."""
    request.websocket.send_json(
        {
            "x_test": request.headers.get("X-Test"),
            "cookies": dict(request.COOKIES),
            "query": request.GET.get("q"),
            "secure": request.is_secure(),
            "path": request.path,
        }
    )


@require_websocket
def usernames(request):
    """Send the usernames in the database, sorted, on each message (sync: own thread)."""
    for _ in request.websocket:
        names = sorted(get_user_model().objects.values_list("username", flat=True))
        request.websocket.send_json(names)


@require_websocket
def record_on_close(request):
    """Echo until the client closes, then record what the view saw."""
    for message in request.websocket:
        request.websocket.send(message)
    ws = request.websocket
    record(view="record_on_close", code=ws.close_code, reason=ws.close_reason)


@require_websocket
async def slow_accept(request):
    """Sleep ?sleep= seconds before touching the socket (the handshake waits)."""
    await asyncio.sleep(float(request.GET.get("sleep", "1")))
    await request.websocket.send("late")


@require_websocket
async def sleep_through_close(request):
    """Accept, then sleep ?sleep= seconds whatever happens to the socket."""
    await request.websocket.send("sleeping")
    await asyncio.sleep(float(request.GET.get("sleep", "60")))


# --- The browser client (tests/test_client_js.py). -----------------------------------

CLIENT_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>client.js</title>{script}</head>
<body><p>django_websocket/client.js, loaded as {kind}.</p></body></html>
"""
CLIENT_SCRIPTS = {
    "classic": '<script src="/static/django_websocket/client.js"></script>',
    # No classic script here: the module alone must provide the class.
    "module": """<script type="module">
      import DefaultExport, { DjangoWebSocket } from "/static/django_websocket/client.esm.js";
      window.fromModule = { named: DjangoWebSocket, default: DefaultExport };
    </script>""",
}


def client_page(request):
    """A page that loads the client as a classic script, or with ?as=module as a module."""
    kind = request.GET.get("as", "classic")
    return HttpResponse(CLIENT_PAGE.format(script=CLIENT_SCRIPTS[kind], kind=kind))


# --- Signals and metrics (tests/test_signals.py, tests/test_metrics.py). -------------

if os.environ.get("TEST_WEBSOCKET_SIGNALS_FILE"):
    import json

    from django_websocket.signals import websocket_connected, websocket_disconnected

    _SIGNALS_FILE = os.environ["TEST_WEBSOCKET_SIGNALS_FILE"]

    def _write_signal(receiver_kind, signal, sender, request, websocket, **facts):
        line = {
            "receiver": receiver_kind,
            "signal": "connected" if signal is websocket_connected else "disconnected",
            "path": request.path,
            "websocket": type(websocket).__name__,
            "pid": os.getpid(),
            **{key: value for key, value in facts.items() if key != "duration"},
        }
        if "duration" in facts:
            line["duration_ok"] = facts["duration"] >= 0
        with open(_SIGNALS_FILE, "a") as out:  # one write per line: safe across processes
            out.write(json.dumps(line) + "\n")

    def _sync_receiver(signal, sender, request, websocket, **facts):
        _write_signal("sync", signal, sender, request, websocket, **facts)

    async def _async_receiver(signal, sender, request, websocket, **facts):
        _write_signal("async", signal, sender, request, websocket, **facts)

    def _raising_receiver(**kwargs):
        raise RuntimeError("a receiver that raises")

    for _signal in (websocket_connected, websocket_disconnected):
        _signal.connect(_sync_receiver)
        _signal.connect(_async_receiver)
        _signal.connect(_raising_receiver)


def metrics(request):
    """Prometheus' exposition of the default registry (multiprocess-aware, as documented)."""
    from prometheus_client import (
        CONTENT_TYPE_LATEST,
        REGISTRY,
        CollectorRegistry,
        generate_latest,
        multiprocess,
    )

    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def login_page(request):
    """``LOGIN_URL``: a plain page, as a site's login view is (not a WebSocket view)."""
    return HttpResponse("log in here")


# --- Databases in long-lived views (tests/test_db_postgres.py). -----------------------


@require_websocket
def db_per_message(request):
    """Count the users when the socket opens and on each message (sync)."""
    ws = request.websocket
    ws.send_json({"users": get_user_model().objects.count()})
    for _ in ws:
        ws.send_json({"users": get_user_model().objects.count()})


@require_websocket
async def async_db_per_message(request):
    """Count the users when the socket opens and on each message (async, ``acount()``)."""
    ws = request.websocket
    await ws.send_json({"users": await get_user_model().objects.acount()})
    async for _ in ws:
        await ws.send_json({"users": await get_user_model().objects.acount()})


@require_websocket
def db_atomic_wait(request):
    """Hold a transaction across a wait; send its backend and transaction ids both sides."""
    ws = request.websocket

    def ids():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid(), txid_current()")
            return list(cursor.fetchone())

    with transaction.atomic():
        before = ids()
        ws.send_json({"before": before})
        ws.wait()
        ws.send_json({"before": before, "after": ids()})


def _backend_pid():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


@require_websocket
def db_pid(request):
    """Send the database backend's pid when the socket opens and on each message (sync)."""
    ws = request.websocket
    ws.send_json({"pid": _backend_pid()})
    for _ in ws:
        ws.send_json({"pid": _backend_pid()})


@require_websocket
async def async_db_pid(request):
    """The same, from an async view (its ORM thread)."""
    ws = request.websocket
    await ws.send_json({"pid": await sync_to_async(_backend_pid)()})
    async for _ in ws:
        await ws.send_json({"pid": await sync_to_async(_backend_pid)()})
