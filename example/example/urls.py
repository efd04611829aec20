from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path, re_path

from . import views

urlpatterns = [
    path("", views.index, name="index"),
    # WebSocket views (lower_case also answers plain GET: /lower_case/?message=Hi).
    path("echo_once/", views.echo_once, name="echo_once"),
    path("lower_case/", views.lower_case, name="lower_case"),
    path("async_echo/", views.async_echo, name="async_echo"),
    path("whoami/", views.whoami, name="whoami"),
    # A chat room on groups: the page, and its socket (room names fit group names).
    re_path(r"^chat/(?P<room>[A-Za-z0-9_-]{1,50})/$", views.chat, name="chat"),
    re_path(r"^chat/(?P<room>[A-Za-z0-9_-]{1,50})/socket/$", views.chat_socket, name="chat_socket"),
    # Logging in, so that whoami/ has someone to name.
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
]
