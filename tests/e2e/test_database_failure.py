"""When PostgreSQL goes away or hangs: 503s that change nothing, then recovery."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.e2e.conftest import DEVICES, add_devices, empty
from tests.e2e.proxy import FaultyProxy
from tests.e2e.server import ServerProcess

HOLD = {"device_id": "356938035643809", "dealer_id": "DEALER001", "is_sim": False}
UNAVAILABLE = {
    "code": "DATABASE_ERROR",
    "message": "Unable to persist reservation data",
    "details": "The reservation could not be saved to the database. "
    "Please try again later.",
}


@pytest.fixture(scope="module")
def proxy(postgres_server_url: str) -> Iterator[FaultyProxy]:
    address = urlsplit(postgres_server_url)
    proxy = FaultyProxy((address.hostname or "127.0.0.1", address.port or 5432))
    proxy.start()
    yield proxy
    proxy.stop()


@pytest.fixture(scope="module")
def proxied_server(
    proxy: FaultyProxy,
    postgres_server_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ServerProcess]:
    address = urlsplit(postgres_server_url)
    url = address._replace(netloc=f"postgres@127.0.0.1:{proxy.port}").geturl()
    log: Path = tmp_path_factory.mktemp("proxied") / "serve.log"
    server = ServerProcess(
        database_url=url, log_path=log, env={"MASSTOCK_DB_TIMEOUT": "1"}
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
def client(
    proxy: FaultyProxy, proxied_server: ServerProcess, postgres_server_url: str
) -> Iterator[httpx.Client]:
    proxy.restore()
    empty(postgres_server_url)
    add_devices(postgres_server_url, DEVICES)
    with httpx.Client(base_url=proxied_server.base_url, timeout=30.0) as client:
        yield client


def _until_ok(client: httpx.Client, request: httpx.Request) -> httpx.Response:
    deadline = time.monotonic() + 20
    while True:
        response = client.send(request)
        if response.status_code < 500 or time.monotonic() > deadline:
            return response
        time.sleep(0.2)


def test_writes_get_503_while_the_database_is_gone_then_recover(
    client: httpx.Client, proxy: FaultyProxy
) -> None:
    held = client.post("/v1/orgs/yoigo/reservation", json=HOLD).json()
    proxy.cut()

    create = client.post(
        "/v1/orgs/yoigo/reservation", json={**HOLD, "device_id": "DEVICE123456"}
    )
    cancel = client.post(
        f"/v1/orgs/yoigo/reservation/{held['reservation_id']}/cancellation",
        json={"dealer": "DEALER001"},
    )
    lookup = client.get("/v1/orgs/yoigo/device", params={"identifier": "DEVICE123456"})
    proxy.restore()
    recovered = _until_ok(
        client,
        client.build_request(
            "POST",
            "/v1/orgs/yoigo/reservation",
            json={
                "device_id": "DEVICE123456",
                "dealer_id": "DEALER002",
                "is_sim": True,
            },
        ),
    )
    still_held = client.post(
        "/v1/orgs/yoigo/reservation", json={**HOLD, "dealer_id": "DEALER003"}
    )

    assert create.status_code == 503
    assert create.json() == UNAVAILABLE
    assert cancel.status_code == 503
    assert cancel.json()["code"] == "DATABASE_ERROR"
    assert lookup.status_code == 503
    assert lookup.json()["message"] == "Unable to read device data"
    assert recovered.status_code == 200
    assert still_held.status_code == 409
    assert still_held.json()["reservation_id"] == held["reservation_id"]


def test_a_hanging_database_gets_503_within_the_timeout(
    client: httpx.Client, proxy: FaultyProxy
) -> None:
    assert client.post("/v1/orgs/yoigo/reservation", json=HOLD).status_code == 200
    proxy.stall()

    response = client.post(
        "/v1/orgs/yoigo/reservation", json={**HOLD, "device_id": "DEVICE123456"}
    )
    proxy.restore()
    recovered = _until_ok(
        client,
        client.build_request(
            "GET", "/v1/orgs/yoigo/device", params={"identifier": "DEVICE123456"}
        ),
    )

    assert response.status_code == 503
    assert response.json()["code"] == "DATABASE_ERROR"
    assert recovered.status_code == 200


def test_readiness_follows_the_database(
    client: httpx.Client, proxy: FaultyProxy
) -> None:
    ready = client.get("/health/ready")
    proxy.cut()

    gone = client.get("/health/ready")
    live = client.get("/health/live")
    proxy.restore()
    back = _until_ok(client, client.build_request("GET", "/health/ready"))

    assert ready.status_code == 200
    assert (gone.status_code, gone.json()["database"]) == (503, "unavailable")
    assert live.status_code == 200
    assert back.status_code == 200
