"""URLs of the benchmark project: ``/sync`` and ``/async`` (``/raw`` bypasses Django)."""

from django.urls import path

from . import views

urlpatterns = [
    path("sync", views.echo_sync),
    path("async", views.echo_async),
]
