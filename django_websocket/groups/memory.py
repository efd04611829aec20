"""The in-memory groups backend: one process, no broker.

The default. Broadcasts reach only sockets served by the same process, so it fits
``runserver``, tests and single-process deployments; ``manage.py check --deploy`` warns
about it (``django_websocket.W001``). Use :mod:`django_websocket.groups.redis` when
several processes serve WebSockets.
"""

from __future__ import annotations

from .base import GroupBackend

__all__ = ["MemoryBackend"]


class MemoryBackend(GroupBackend):
    """Groups within one process. ``OPTIONS`` are accepted and ignored."""
