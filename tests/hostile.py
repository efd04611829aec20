"""Clients that misbehave on purpose, and ways to look at a server process from outside."""

from __future__ import annotations

import base64
import os
import socket
from pathlib import Path


def raw_handshake(port: int, path: str, extra: str = "", read: bool = True) -> socket.socket:
    """Open a WebSocket by hand; with ``read=False`` the response is never read."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        f"Sec-WebSocket-Version: 13\r\n{extra}\r\n".encode("latin-1")
    )
    if read:
        sock.recv(4096)
    return sock


def threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")
