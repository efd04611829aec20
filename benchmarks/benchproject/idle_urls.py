"""URLs of ``idle_settings``: the async echo view, and a plain HTTP view to compare with."""

from django.http import HttpRequest, HttpResponse
from django.urls import path

from . import views


def hello(request: HttpRequest) -> HttpResponse:
    """A plain HTTP response, through the same middleware as the WebSocket view."""
    return HttpResponse(b"hello")


urlpatterns = [path("async", views.echo_async), path("http", hello)]
