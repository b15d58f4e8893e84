"""What an operator sees of a running server: access events, request ids, metrics."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import add_devices, empty
from tests.e2e.server import ServerProcess

CREATES = 40
CONFLICTS = 7
TOKEN = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXBheWxvYWQ.c2lnbmF0dXJlLTQ3MTE"  # noqa: S105


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("observability")


@pytest.fixture(scope="module")
def server(postgres_server_url: str, folder: Path) -> Iterator[ServerProcess]:
    """Two workers on PostgreSQL, JSON logs at info, metrics in a folder we see."""
    empty(postgres_server_url)
    add_devices(
        postgres_server_url,
        [
            ("yoigo", f"IMEI-OBS-{n:04}", "REF-OBS", None, "device")
            for n in range(CREATES)
        ],
    )
    process = ServerProcess(
        database_url=postgres_server_url,
        workers=2,
        env={
            "MASSTOCK_LOG_LEVEL": "info",
            "MASSTOCK_LOG_FORMAT": "json",
            "PROMETHEUS_MULTIPROC_DIR": str(folder / "metrics"),
        },
        log_path=folder / "serve.log",
    )
    process.start()
    _wait_for_both_workers(process)
    yield process
    process.stop()


def _wait_for_both_workers(process: ServerProcess) -> None:
    # The server answers as soon as one worker does; the other may lag.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        events = process.log_events()
        if sum(e["event"] == "Application startup complete." for e in events) == 2:
            return
        time.sleep(0.1)
    raise AssertionError("the second worker did not start")


def _reserve_all(server: ServerProcess, dealer: str, count: int) -> list[int]:
    """Reserve the first ``count`` devices for ``dealer``, 8 at a time.

    Eight connections at once, each new, so that the kernel hands some to
    each worker: an idle worker accepts while a busy one works.
    """
    limits = httpx.Limits(max_keepalive_connections=0)

    def reserve(n: int) -> int:
        with httpx.Client(base_url=server.base_url, limits=limits) as client:
            body = {"device_id": f"IMEI-OBS-{n:04}", "dealer_id": dealer}
            answer = client.post(
                "/v1/orgs/yoigo/reservation", json={**body, "is_sim": False}
            )
            return answer.status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(reserve, range(count)))


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_add_up_the_requests_and_holds_of_both_workers(
    server: ServerProcess, folder: Path
) -> None:
    created = _reserve_all(server, "DEALER001", CREATES)
    refused = _reserve_all(server, "DEALER002", CONFLICTS)
    scraped = httpx.get(f"{server.base_url}/metrics", timeout=10.0)

    assert created == [200] * CREATES
    assert refused == [409] * CONFLICTS
    writers = {path.stem.rsplit("_", 1)[-1] for path in (folder / "metrics").iterdir()}
    samples = _samples(scraped.text)
    route = "/v1/orgs/{org}/reservation"

    def requests(status: str) -> float:
        labels = {
            ("http_request_method", "POST"),
            ("http_route", route),
            ("http_response_status_code", status),
        }
        return samples[
            ("http_server_request_duration_seconds_count", frozenset(labels))
        ]

    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    assert len(writers) >= 2, "both workers served requests"
    assert requests("200") == CREATES
    assert requests("409") == CONFLICTS
    holds = frozenset({("org", "yoigo"), ("change", "created")})
    assert samples[("masstock_reservation_changes_total", holds)] == CREATES
    held = frozenset({("org", "yoigo"), ("reason", "device_held")})
    assert samples[("masstock_reservation_conflicts_total", held)] == CONFLICTS
    pool = frozenset({("state", "idle")})
    assert samples[("masstock_db_pool_connections", pool)] > 0
    swept = samples[("masstock_sweep_last_success_timestamp_seconds", frozenset())]
    assert swept > time.time() - 600


def test_a_failed_requests_event_is_found_by_the_request_id_it_echoed(
    server: ServerProcess, folder: Path
) -> None:
    with httpx.Client(base_url=server.base_url, timeout=10.0) as client:
        refused = client.post(
            "/v1/orgs/yoigo/reservation",
            json={"device_id": "IMEI-OBS-0000", "is_sim": False},
            headers={"X-Request-ID": "till-42-sale-9"},
        )

    assert refused.status_code == 400
    assert refused.headers["x-request-id"] == "till-42-sale-9"
    event = server.access_event("till-42-sale-9")
    assert event["route"] == "/v1/orgs/{org}/reservation"
    assert event["status"] == 400
    assert event["code"] == "VALIDATION_ERROR"
    assert event["method"] == "POST"
    assert event["org"] == "yoigo"
    assert event["level"] == "info"


def test_a_request_without_an_id_gets_one_and_its_event_carries_it(
    server: ServerProcess, folder: Path
) -> None:
    with httpx.Client(base_url=server.base_url, timeout=10.0) as client:
        missing = client.get("/v1/orgs/yoigo/device", params={"identifier": "NOPE-1"})
        nowhere = client.get("/no/such/path")

    event = server.access_event(missing.headers["x-request-id"])
    assert (event["route"], event["status"]) == ("/v1/orgs/{org}/device", 404)
    lost = server.access_event(nowhere.headers["x-request-id"])
    assert (lost["route"], lost["status"], lost["code"]) == ("", 404, "NOT_FOUND")
    assert event["code"] == "DEVICE_NOT_FOUND"


def test_no_token_reaches_the_logs(server: ServerProcess, folder: Path) -> None:
    with httpx.Client(base_url=server.base_url, timeout=10.0) as client:
        looked_up = client.get(
            "/v1/orgs/yoigo/device",
            params={"identifier": "IMEI-OBS-0001"},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )

    server.access_event(looked_up.headers["x-request-id"])
    text = (folder / "serve.log").read_text()
    assert "Bearer" not in text
    assert TOKEN.split(".")[1] not in text


def test_the_servers_own_start_up_records_are_json_events(
    server: ServerProcess, folder: Path
) -> None:
    events = server.log_events()

    started = [e for e in events if e["event"].startswith("Started server process")]
    assert len(started) == 2
    assert all(e["level"] == "info" and "timestamp" in e for e in started)
