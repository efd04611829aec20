"""System checks for the WEBSOCKET_* settings."""

from __future__ import annotations

import sys

import pytest
from django.core import checks
from django.test import override_settings

from django_websocket.checks import E001, E002, E005, E006, W002, W003, W004, check_app_order


def run_checks() -> list[checks.CheckMessage]:
    return checks.run_checks()


def test_default_settings_pass() -> None:
    assert run_checks() == []


@pytest.mark.parametrize("value", [0, -1, "10", True])
def test_bad_max_sync_views_is_e001(value: object) -> None:
    with override_settings(WEBSOCKET_MAX_SYNC_VIEWS=value):
        assert E001 in run_checks()


def test_bad_max_queue_is_e002() -> None:
    with override_settings(WEBSOCKET_MAX_QUEUE=0):
        assert E002 in run_checks()


@pytest.mark.parametrize("value", ["60", "60/min", "0/s", 60, ""])
def test_bad_rate_limit_is_e005(value: object) -> None:
    with override_settings(WEBSOCKET_RATE_LIMIT=value):
        assert E005 in run_checks()


@pytest.mark.parametrize("value", [None, "60/m", "100/5m"])
def test_good_rate_limit_passes(value: object) -> None:
    with override_settings(WEBSOCKET_RATE_LIMIT=value):
        assert E005 not in run_checks()


def test_deploy_checks_are_quiet_by_default() -> None:
    found = checks.run_checks(include_deployment_checks=True)
    assert W002 not in found
    assert W003 not in found


def test_accept_all_warns_on_deploy_as_w002() -> None:
    with override_settings(WEBSOCKET_ACCEPT_ALL=True):
        assert W002 in checks.run_checks(include_deployment_checks=True)
        assert W002 not in run_checks()  # only with --deploy


def test_origin_check_off_warns_on_deploy_as_w003() -> None:
    with override_settings(WEBSOCKET_CHECK_ORIGIN=False):
        assert W003 in checks.run_checks(include_deployment_checks=True)


def test_staticfiles_before_django_websocket_is_w004() -> None:
    # The check reads the setting only, so no app registry change is needed.
    apps = ["django.contrib.staticfiles", "django_websocket"]
    with override_settings(INSTALLED_APPS=apps):
        assert check_app_order() == [W004]
    with override_settings(INSTALLED_APPS=apps[::-1]):
        assert check_app_order() == []
    assert W004 not in run_checks()  # the test project has no staticfiles


def test_metrics_without_prometheus_client_is_e006(monkeypatch: pytest.MonkeyPatch) -> None:
    with override_settings(WEBSOCKET_METRICS=True):
        assert E006 not in run_checks()  # installed (the dev extra)
        monkeypatch.setitem(sys.modules, "prometheus_client", None)  # import fails
        assert E006 in run_checks()
    assert E006 not in run_checks()  # off by default
