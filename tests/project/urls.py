from pathlib import Path

from django.urls import path, re_path
from django.views.static import serve

import django_websocket

from . import views

urlpatterns = [
    path(name, getattr(views, name.strip("/")))
    for name in [
        "echo_once/",
        "lower_case/",
        "events/",
        "attributes/",
        "unmarked/",
        "types/",
        "buffered/",
        "timeout/",
        "close_with/",
        "bad_close/",
        "negotiated/",
        "explicit_accept/",
        "json_echo/",
        "deny/",
        "whoami/",
        "needs_permission/",
        "make_user/",
        "returns/",
        "returns_untouched/",
        "client_goes_away/",
        "crash/",
        "crash_before_accept/",
        "blocking/",
        "thread_id/",
        "hold/",
        "slow_reader/",
        "database/",
        "async_echo/",
        "async_api/",
        "url_locals/",
        "async_both/",
        "async_crash/",
        "async_deny/",
        "http_ok/",
        "metrics/",
    ]
] + [path("private/echo/", views.async_echo)]
urlpatterns += [
    path(f"{name}/", getattr(views, name))
    for name in [
        "any_origin",
        "idle",
        "size_report",
        "firehose",
        "firehose_count",
        "rate_limited",
        "async_rate_limited",
        "unlimited",
    ]
]
urlpatterns += [
    path(f"{name}/", getattr(views, name))
    for name in [
        "group_member",
        "async_group_member",
        "group_broadcast",
        "group_abroadcast",
        "group_size",
        "group_count",
        "group_count_sync",
    ]
]
urlpatterns += [
    path(f"{name}/", getattr(views, name))
    for name in [
        "handshake_info",
        "usernames",
        "record_on_close",
        "slow_accept",
        "sleep_through_close",
    ]
]
urlpatterns += [
    path(f"{name}/", getattr(views, name))
    for name in [
        "db_per_message",
        "async_db_per_message",
        "db_atomic_wait",
        "db_pid",
        "async_db_pid",
    ]
]
# The browser client's page, and the package's static files served by Django's own view
# (the test project has no staticfiles app), so the page loads them from this origin.
urlpatterns += [
    path("client_page/", views.client_page),
    re_path(
        r"^static/(?P<path>.*)$",
        serve,
        {"document_root": Path(django_websocket.__file__).parent / "static"},
    ),
]
urlpatterns += [path("login/", views.login_page)]  # LOGIN_URL
