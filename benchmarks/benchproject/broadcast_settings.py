"""Settings for ``broadcast.py``: the benchmark settings plus a groups backend.

``BENCH_GROUPS`` picks the backend: ``memory`` (the default) or ``redis``, at
``BENCH_REDIS_URL`` with the channel prefix ``BENCH_REDIS_PREFIX`` (one per run, so that
other users of the same Redis server never see the benchmark's messages). The matching
Channels layers are configured too; they are used only if Channels is installed
(``benchproject.consumers``).
"""

import os

from .settings import *  # noqa: F403

_BACKEND = os.environ.get("BENCH_GROUPS", "memory")
_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
_PREFIX = os.environ.get("BENCH_REDIS_PREFIX", "django_websocket_bench:")

if _BACKEND == "redis":
    WEBSOCKET_GROUPS = {
        "BACKEND": "django_websocket.groups.redis.RedisBackend",
        "OPTIONS": {"URL": _URL, "PREFIX": _PREFIX},
    }
    CHANNEL_LAYERS = {
        "default": {  # channels_redis' pub/sub layer
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [_URL], "prefix": _PREFIX + "channels-pubsub"},
        },
        "core": {  # channels_redis' original layer (lists per channel)
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [_URL], "prefix": _PREFIX + "channels-core"},
        },
    }
elif _BACKEND == "memory":
    WEBSOCKET_GROUPS = {"BACKEND": "django_websocket.groups.memory.MemoryBackend"}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
else:
    raise ValueError(f"BENCH_GROUPS must be 'memory' or 'redis', not {_BACKEND!r}")
