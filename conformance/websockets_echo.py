#!/usr/bin/env python3
"""The reference server of the WSGI runs: the ``websockets`` library's own server, echoing.

``websockets.sync.server.serve`` (a thread per connection, like a sync view on gunicorn's
gthread worker) with what the conformance project gives the views: permessage-deflate on
(the library's default), messages of up to 16 MiB and 65536 fragments, no keepalive
pings (see ``main``). Every message goes back as it came, text as text. The WSGI driver
frames with the same library's sans-I/O protocol, so this is the outcome the library
itself gives on this machine: ``run.py`` compares the gunicorn runs with it case for
case, as it compares the views on uvicorn with the raw ASGI echo.

Run (``run.py`` does)::

    python conformance/websockets_echo.py PORT
"""

from __future__ import annotations

import argparse
import contextlib
import os

# The library caps a fragmented message at 4096 frames (read when websockets.sync.messages
# is imported): a guard against a flood of tiny frames that django_websocket's driver does
# not have (it bounds the message's size only). Group 9 sends 4 MiB in up to 65536
# fragments (9.3.1, 9.4.1), which the cap would close with 1009 "too many fragments";
# raised like max_size, so that this server echoes every message the views echo.
os.environ.setdefault("WEBSOCKETS_MAX_FRAGMENTS", str(2**16))

from websockets.sync.server import ServerConnection, serve

MAX_SIZE = 16 * 1024 * 1024  # as autobahnproject.settings.WEBSOCKET_MAX_MESSAGE_SIZE


def echo(websocket: ServerConnection) -> None:
    """Send back every message of the connection."""
    for message in websocket:
        websocket.send(message)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("port", type=int)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    server = serve(
        echo, args.host, args.port, compression="deflate", max_size=MAX_SIZE,
        # No keepalive pings: the library pings every 20 s whatever the traffic, and a ping
        # in the middle of a 12.* case ends it as FAILED (Autobahn's case.onPing), so a
        # case slowed past 20 s by a loaded machine would fail for no protocol reason.
        # django_websocket's driver pings only after 20 s without a frame from the client.
        ping_interval=None,
    )  # fmt: skip
    with server, contextlib.suppress(KeyboardInterrupt):  # run.py stops it with SIGINT
        server.serve_forever()


if __name__ == "__main__":
    main()
