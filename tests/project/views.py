from django.http import HttpResponse
from django_websocket import accept_websocket, require_websocket


@require_websocket
def echo_once(request):
    message = request.websocket.wait()
    request.websocket.send(message)


def modify_message(message):
    return message.lower()


@accept_websocket
def lower_case(request):
    if not request.is_websocket():
        message = request.GET['message']
        message = modify_message(message)
        return HttpResponse(message)
    else:
        for message in request.websocket:
            message = modify_message(message)
            request.websocket.send(message)
