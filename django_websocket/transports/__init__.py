"""How a connection reaches the wire: the :class:`Transport` interface and its ASGI form."""

from .base import Closed, Transport

__all__ = ["Closed", "Transport"]
