"""System checks for the WEBSOCKET_* settings."""

from __future__ import annotations

import pytest
from django.core import checks
from django.test import override_settings

from django_websocket.checks import E001, E002


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
