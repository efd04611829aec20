from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

urlpatterns = [
    path("", views.index, name="index"),
    # WebSocket views (lower_case also answers plain GET: /lower_case/?message=Hi).
    path("echo_once/", views.echo_once, name="echo_once"),
    path("lower_case/", views.lower_case, name="lower_case"),
    path("async_echo/", views.async_echo, name="async_echo"),
    path("whoami/", views.whoami, name="whoami"),
    # Logging in, so that whoami/ has someone to name.
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
]
