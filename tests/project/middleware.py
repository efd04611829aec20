from django.http import HttpResponseRedirect


def private_redirect(get_response):
    """Send anything under /private/ to the login page, as site middleware might."""

    def middleware(request):
        if request.path.startswith("/private/"):
            return HttpResponseRedirect("/login/?next=" + request.path)
        return get_response(request)

    return middleware
