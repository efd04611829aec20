"""Groups: name a set of sockets, then send one message to all of them.

A view puts its socket in a group with ``request.websocket.join(name)``; any code, in
any view, management command or shell, sends to a group with :func:`broadcast` (sync)
or :func:`abroadcast` (async), and asks how many sockets are in it with
:func:`group_size` / :func:`agroup_size`. Delivery is at most once, with no replay: a socket gets
the messages broadcast while it is a member and its outbox has room.

The backend is chosen by ``WEBSOCKET_GROUPS``, configured like ``CACHES``::

    WEBSOCKET_GROUPS = {
        "BACKEND": "django_websocket.groups.redis.RedisBackend",
        "OPTIONS": {"URL": "redis://127.0.0.1:6379/0"},
    }
"""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING, Any

from django.core.signals import setting_changed
from django.utils.module_loading import import_string

from ..conf import conf
from ..protocol import Message, Protocol
from .base import GroupBackend, validate_group_name

if TYPE_CHECKING:
    from ..websocket import _BaseWebSocket

__all__ = [
    "GroupBackend",
    "abroadcast",
    "abroadcast_json",
    "agroup_size",
    "broadcast",
    "broadcast_json",
    "get_backend",
    "group_size",
    "validate_group_name",
]

_lock = threading.Lock()
_backend: GroupBackend | None = None


def get_backend() -> GroupBackend:
    """Return this process's groups backend, built from ``WEBSOCKET_GROUPS`` once.

    A change of the setting (``override_settings``) forgets it, so the next call builds
    the new one; otherwise every call is a plain read (it runs on each broadcast).
    """
    global _backend
    backend = _backend
    if backend is None:
        with _lock:
            if _backend is None:
                setting = conf.GROUPS
                _backend = import_string(setting["BACKEND"])(setting.get("OPTIONS") or {})
            backend = _backend
    return backend


def _reset_backend(*, setting: str, **kwargs: Any) -> None:
    global _backend
    if setting == "WEBSOCKET_GROUPS":
        with _lock:
            _backend = None


setting_changed.connect(_reset_backend)


def broadcast(name: str, message: Message, *, exclude: _BaseWebSocket | None = None) -> int:
    """Send ``message`` to every socket in group ``name``, from sync code.

    ``str`` goes as a text frame, ``bytes`` as a binary frame. ``exclude`` is a socket
    to leave out (usually the sender's ``request.websocket``). Returns how many sockets
    of this process it was handed to; sockets in other processes are not counted.

    Raises:
        ValueError: ``name`` is not a valid group name.
        TypeError: ``message`` is neither ``str`` nor ``bytes``.
        GroupBackendError: the broker (Redis) could not take the message in time.
        WebSocketError: called on the event loop; use :func:`abroadcast` there.
    """
    backend = get_backend()
    return backend.run_sync(backend.publish(name, message, _protocol_of(exclude)))


async def abroadcast(name: str, message: Message, *, exclude: _BaseWebSocket | None = None) -> int:
    """Send ``message`` to every socket in group ``name``, from async code.

    The same as :func:`broadcast`, awaited.
    """
    backend = get_backend()
    return await backend.run(backend.publish(name, message, _protocol_of(exclude)))


def broadcast_json(name: str, data: Any, *, exclude: _BaseWebSocket | None = None) -> int:
    """Send ``data`` encoded as JSON, in a text frame, to group ``name`` (sync)."""
    return broadcast(name, json.dumps(data), exclude=exclude)


async def abroadcast_json(name: str, data: Any, *, exclude: _BaseWebSocket | None = None) -> int:
    """Send ``data`` encoded as JSON, in a text frame, to group ``name`` (async)."""
    return await abroadcast(name, json.dumps(data), exclude=exclude)


def group_size(name: str) -> int:
    """Return how many sockets are in group ``name``, from sync code.

    With the in-memory backend, the sockets of this process; with Redis, of every
    process on the same Redis (a process that died stops counting within the backend's
    ``PRESENCE_TTL``, 15 s by default). A socket counts from the moment its ``join()``
    returns until it leaves or closes.

    Raises:
        ValueError: ``name`` is not a valid group name.
        GroupBackendError: Redis did not answer in time.
        WebSocketError: called on the event loop; use :func:`agroup_size` there.
    """
    backend = get_backend()
    return backend.run_sync(backend.count(name))


async def agroup_size(name: str) -> int:
    """Return how many sockets are in group ``name``, from async code.

    The same as :func:`group_size`, awaited.
    """
    backend = get_backend()
    return await backend.run(backend.count(name))


def _protocol_of(websocket: _BaseWebSocket | None) -> Protocol | None:
    # A socket is known to the backend by its connection core.
    return None if websocket is None else websocket._protocol
