"""Settings of the Channels stacks in ``peers.py``: ``peers_settings`` without django_websocket.

The same database, sessions, auth and channel layers (``BENCH_GROUPS``), with
``channels`` installed instead of ``django_websocket``, as Channels' tutorial has it.
"""

from .peers_settings import *  # noqa: F403
from .peers_settings import DJANGO_APPS

INSTALLED_APPS = ["channels", *DJANGO_APPS]
