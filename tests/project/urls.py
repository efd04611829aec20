from django.urls import path

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
        "async_both/",
        "async_crash/",
        "async_deny/",
        "http_ok/",
    ]
] + [path("private/echo/", views.async_echo)]
urlpatterns += [
    path(f"{name}/", getattr(views, name))
    for name in ["any_origin", "idle", "size_report", "firehose", "firehose_count"]
]
urlpatterns += [
    path(f"{name}/", getattr(views, name))
    for name in [
        "group_member",
        "async_group_member",
        "group_broadcast",
        "group_abroadcast",
        "group_size",
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
