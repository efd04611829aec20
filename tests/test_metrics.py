"""Prometheus metrics (WEBSOCKET_METRICS): real traffic through real servers, then a scrape.

uvicorn (one process, the default registry) and gunicorn's gthread worker with two
processes in prometheus-client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR), with the
Redis groups backend so a broadcast reaches a socket in either process.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from .conftest import Server, serve
from .test_groups import member, send_to, wait_for_size
from .test_groups_redis import RedisProcess, redis_env, redis_process  # noqa: F401
from .test_groups_slow import SIZE, raw_member

VIEW = "tests.project.views.lower_case"
Labels = tuple[tuple[str, str], ...]


def scrape(server: Server) -> dict[tuple[str, Labels], float]:
    """GET /metrics; return every django_websocket sample by name and labels."""
    status, _, body = server.get("/metrics/")
    assert status == 200, body
    samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.name.startswith("django_websocket_"):
                samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[tuple[str, Labels], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def wait_for(server: Server, name: str, expected: float, **labels: str) -> float:
    """Scrape until the sample is ``expected`` (a connection ends after the client)."""
    deadline = time.monotonic() + 20
    while True:
        got = value(scrape(server), name, **labels)
        if got == expected or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


@pytest.fixture(params=["uvicorn", "gthread"])
def metered(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    redis_process: RedisProcess,  # noqa: F811
) -> Iterator[Server]:
    env = {"TEST_WEBSOCKET_METRICS": "1"}
    if request.param == "gthread":  # two processes: multiprocess mode, and Redis groups
        folder = tmp_path / "prometheus"
        folder.mkdir()
        env |= {"PROMETHEUS_MULTIPROC_DIR": str(folder), **redis_env(redis_process)}
    with serve(tmp_path, kind=str(request.param), **env) as server:
        yield server


def test_metrics_count_real_traffic(metered: Server) -> None:
    server = metered
    with connect(f"{server.ws}/lower_case/") as ws:
        for text in ("Hé", "AB", "C"):  # "Hé" and "hé" are 3 bytes in UTF-8
            ws.send(text)
            assert ws.recv(timeout=5) == text.lower()
        samples = scrape(server)
        assert value(samples, "django_websocket_connections_open", view=VIEW) == 1
        assert value(samples, "django_websocket_messages_received_total", view=VIEW) == 3
        assert value(samples, "django_websocket_messages_sent_total", view=VIEW) == 3
        assert value(samples, "django_websocket_received_bytes_total", view=VIEW) == 6
        assert value(samples, "django_websocket_sent_bytes_total", view=VIEW) == 6
    assert wait_for(server, "django_websocket_connections_open", 0, view=VIEW) == 0
    with connect(f"{server.ws}/crash/") as ws:
        ws.recv(timeout=5)
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
    for path in ("/deny/", "/deny/", "/unmarked/"):
        with pytest.raises(InvalidStatus):
            connect(server.ws + path)

    crash = "tests.project.views.crash"
    assert wait_for(server, "django_websocket_closes_total", 1, view=crash, code="1011") == 1
    samples = scrape(server)
    assert value(samples, "django_websocket_closes_total", view=VIEW, code="1000") == 1
    handshakes = "django_websocket_handshakes_total"
    assert value(samples, handshakes, outcome="accepted", status="101") == 2
    assert value(samples, handshakes, outcome="denied", status="418") == 2
    assert value(samples, handshakes, outcome="denied", status="400") == 1


def test_metrics_count_group_deliveries_by_backend(metered: Server) -> None:
    server = metered
    backend = "RedisBackend" if server.kind == "gthread" else "MemoryBackend"
    with member(server, "metrics") as ws:
        assert wait_for_size(server, "metrics", 1) in (0, 1)  # another process, maybe
        for number in range(3):
            send_to(server, "metrics", str(number))
            assert ws.recv(timeout=10) == str(number)
        deliveries = "django_websocket_group_deliveries_total"
        assert wait_for(server, deliveries, 3, backend=backend) == 3
        assert value(scrape(server), "django_websocket_group_drops_total", backend=backend) == 0


def test_metrics_count_drops_for_a_socket_that_stops_reading(tmp_path: Path) -> None:
    env = {"TEST_WEBSOCKET_GROUP_BUFFER": "4", "TEST_WEBSOCKET_SLOW_CLIENT": "drop"}
    with serve(tmp_path, TEST_WEBSOCKET_METRICS="1", **env) as server:
        slow = raw_member(server, "slow")  # never reads a byte
        try:
            assert wait_for_size(server, "slow", 1) == 1
            counts: list[int] = []
            while len(counts) < 1000 and counts.count(0) < 3:  # until 3 are dropped
                counts.append(send_to(server, "slow", str(len(counts)), size=str(SIZE))[1]["count"])
            samples = scrape(server)
        finally:
            slow.close()
    backend = "MemoryBackend"
    assert counts.count(0) == 3
    assert value(samples, "django_websocket_group_drops_total", backend=backend) == 3
    assert value(samples, "django_websocket_group_deliveries_total", backend=backend) == (
        len(counts) - 3
    )
