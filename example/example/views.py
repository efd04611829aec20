"""Views of the example site.

The first two blocks are the examples of the original django-websocket README, copied
verbatim (imports included); the rest shows an async view, ``login_required`` on a
WebSocket view, and the page that talks to them all.
"""

# The README's code keeps its own imports and quoting, so it is left unformatted.
# ruff: noqa: E402, I001

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

# fmt: off
# --- From the README: "Receive one message from the client, send that message back to
# the client and close the connection (by returning from the view)". ---

from django_websocket import require_websocket

@require_websocket
def echo_once(request):
    message = request.websocket.wait()
    request.websocket.send(message)


# --- From the README: "Send websocket messages from the client as lowercase and provide
# same functionallity for normal GET requests". ---

from django.http import HttpResponse
from django_websocket import accept_websocket

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


@require_websocket
async def async_echo(request):
    """Echo every message until the client closes: an async view, methods awaited."""
    async for message in request.websocket:
        await request.websocket.send(message)


@login_required
@require_websocket
def whoami(request):
    """Send the logged-in user's name.

    For an anonymous user ``login_required`` returns a redirect before the view touches
    the socket, so the handshake is denied with that HTTP response (the browser only
    sees an error and close code 1006).
    """
    request.websocket.send(request.user.username)


def index(request):
    """The page with the JavaScript client."""
    return render(request, "index.html")


# --- Groups: a chat room. Every message goes to everyone in the room. -----------------

from django_websocket import broadcast_json, group_size


def chat(request, room):
    """The chat room page (open it in two tabs)."""
    return render(request, "chat.html", {"room": room})


@require_websocket
def chat_socket(request, room):
    """Join group ``chat.<room>`` and broadcast each message to the whole room.

    Every connection joins, so a page whose client reconnected (after a server restart,
    a network drop) is in the room again and hears what is said from then on. Joins and
    leaves carry ``present``, how many are in the room (``group_size``).

    In-memory groups (the default) reach the sockets of this one server process; with
    several processes use the Redis backend (docs/groups.md).
    """
    ws = request.websocket
    group = f"chat.{room}"
    name = request.user.username if request.user.is_authenticated else "anonymous"
    ws.join(group)
    present = group_size(group)
    ws.send_json({"event": "present", "present": present})
    broadcast_json(group, {"event": "joined", "who": name, "present": present}, exclude=ws)
    for message in ws:
        if isinstance(message, str) and message.strip():
            broadcast_json(group, {"event": "message", "who": name, "text": message[:500]})
    # Closed: the socket has already left the group; tell the others.
    broadcast_json(group, {"event": "left", "who": name, "present": group_size(group)})
