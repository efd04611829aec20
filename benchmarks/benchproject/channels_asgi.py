"""The Channels application of ``peers.py``, as Channels' tutorial writes ``asgi.py``.

``ProtocolTypeRouter``: HTTP to Django, WebSockets through
``AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(...)))`` to the consumers of
``benchproject.consumers``. Served by uvicorn and by daphne.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchproject.channels_settings")
django_asgi_app = get_asgi_application()  # sets Django up before the consumers import

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import path  # noqa: E402

from . import consumers  # noqa: E402

websocket_urlpatterns = [
    path("echo/async", consumers.Echo.as_asgi()),
    path("echo/sync", consumers.SyncEcho.as_asgi()),
    path("hello/async", consumers.LoggedInEcho.as_asgi()),
    path("hello/sync", consumers.SyncLoggedInEcho.as_asgi()),
    path("group/member", consumers.Member.as_asgi()),
    path("group/publish", consumers.Publisher.as_asgi()),
]

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)
