"""No HTTP URLs: django-socket routes WebSockets from ``sockets.py``."""

urlpatterns: list[object] = []
