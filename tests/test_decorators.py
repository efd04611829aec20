"""The decorators on plain HTTP requests, in-process."""

from __future__ import annotations

from asgiref.sync import iscoroutinefunction
from django.http import HttpResponse
from django.test import AsyncRequestFactory, RequestFactory

from django_websocket import accept_websocket, require_websocket


def view(request):  # type: ignore[no-untyped-def]
    return HttpResponse(f"{request.is_websocket()} {request.websocket}")


async def async_view(request):  # type: ignore[no-untyped-def]
    return HttpResponse("async")


def test_decorators_keep_sync_views_sync_and_async_views_async() -> None:
    assert not iscoroutinefunction(accept_websocket(view))
    assert iscoroutinefunction(accept_websocket(async_view))
    assert iscoroutinefunction(require_websocket(subprotocols=["x"])(async_view))


def test_decorators_mark_the_view_and_keep_its_name() -> None:
    for decorated in [accept_websocket(view), require_websocket(view)]:
        assert decorated.accept_websocket is True
        assert decorated.__name__ == "view"


def test_accept_websocket_passes_http_with_the_attributes() -> None:
    response = accept_websocket(view)(RequestFactory().get("/"))
    assert response.content == b"False None"


def test_require_websocket_answers_http_with_426() -> None:
    # An ASGI request: ASGI servers send the hop-by-hop Upgrade header (unserved.py).
    response = require_websocket(view)(AsyncRequestFactory().get("/"))
    assert response.status_code == 426
    assert response["Upgrade"] == "websocket"


def test_decorators_refuse_a_handshake_that_arrives_as_plain_http_with_503() -> None:
    for decorate in (accept_websocket, require_websocket):
        response = decorate(view)(RequestFactory().get("/", headers={"Upgrade": "websocket"}))
        assert response.status_code == 503
        assert b"not served here" in response.content


async def test_require_websocket_answers_http_with_426_for_async_views() -> None:
    response = await require_websocket(async_view)(RequestFactory().get("/"))
    assert response.status_code == 426
