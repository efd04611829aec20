"""URLs of the benchmark project (``/raw`` bypasses Django).

``/sync`` and ``/async`` are the echo views (``echo.py``), ``/hello/sync`` and
``/hello/async`` the same for logged-in users only (``peers.py``); ``/group/member`` and
``/group/publish`` are the broadcast views (``broadcast.py``).
"""

from django.urls import path

from . import views

urlpatterns = [
    path("sync", views.echo_sync),
    path("async", views.echo_async),
    path("hello/sync", views.hello_sync),
    path("hello/async", views.hello_async),
    path("group/member", views.group_member),
    path("group/publish", views.group_publisher),
]
