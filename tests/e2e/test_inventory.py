"""The API over the fake logistics stock API, for every fault it can be made to show.

Each test names the answer the API gives, how many upstream calls it made, and
that it answered within its deadline: the deadline is behaviour promised to
callers (about a second), so it is checked with a wide margin, not timed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from masstock.adapters import schema
from tests.e2e.conftest import DEVICES, INVENTORY_TOKEN, empty
from tests.e2e.fake_inventory import FakeInventory, Faults, write_catalog
from tests.e2e.server import ServerProcess

IMEI = "356938035643809"
SIM = "DEVICE123456"
HOLD = {"device_id": IMEI, "dealer_id": "DEALER001", "is_sim": False}
# The default deadline is 0.8 s; a second and a half leaves room for a slow CI.
WITHIN_DEADLINE = 1.5
CLIENT_SECRET = "client-secret-0815"  # noqa: S105 (the fake upstream's test secret)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("inventory")


@pytest.fixture(scope="module")
def fake(folder: Path) -> Iterator[FakeInventory]:
    with FakeInventory(
        catalog=write_catalog(folder / "catalog.csv", DEVICES),
        token=INVENTORY_TOKEN,
        log_path=folder / "fake.log",
    ) as fake:
        yield fake


def _serve(folder: Path, name: str, **env: str) -> ServerProcess:
    url = f"sqlite:///{folder / f'{name}.db'}"
    schema.upgrade(url)
    process = ServerProcess(
        database_url=url,
        env={"MASSTOCK_LOG_LEVEL": "debug", **env},
        log_path=folder / f"{name}.log",
    )
    process.start()
    return process


@pytest.fixture(scope="module")
def faulty(fake: FakeInventory, folder: Path) -> Iterator[ServerProcess]:
    """Uncached, with a breaker that never opens: every request reaches the fake."""
    process = _serve(
        folder,
        "faulty",
        MASSTOCK_INVENTORY_URL=fake.base_url,
        MASSTOCK_INVENTORY_TOKEN=INVENTORY_TOKEN,
        MASSTOCK_INVENTORY_CACHE_TTL="0",
        MASSTOCK_INVENTORY_BREAKER_FAILURES="1000",
    )
    yield process
    process.stop()


@pytest.fixture
def api(faulty: ServerProcess, fake: FakeInventory) -> Iterator[httpx.Client]:
    empty(faulty.database_url)
    fake.clear_faults()
    fake.reset_calls()
    with httpx.Client(base_url=faulty.base_url, timeout=10.0) as client:
        yield client


def _timed(
    api: httpx.Client, method: str, path: str, **kw: object
) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = api.request(method, path, **kw)  # type: ignore[arg-type]
    return response, time.monotonic() - started


def test_lookups_carry_the_token_and_the_identifier_type(
    api: httpx.Client, fake: FakeInventory
) -> None:
    handset = api.get("/v1/orgs/yoigo/device", params={"identifier": IMEI})
    imei_query = fake.calls().last_query
    sim = api.get("/v1/orgs/yoigo/device", params={"identifier": SIM})
    serial_query = fake.calls().last_query

    assert handset.json() == {"reference": "REF-IPHONE-17", "mac": None}
    assert sim.json() == {"reference": "REF123456", "mac": "00:1A:2B:3C:4D:5E"}
    assert imei_query == {"identifier": IMEI, "identifierType": "IMEI"}
    assert serial_query == {"identifier": SIM, "identifierType": "SERIALNUMBER"}
    assert fake.calls().last_authorized is True


def test_the_upstreams_404_is_the_contracts_404(api: httpx.Client) -> None:
    created = api.post(
        "/v1/orgs/yoigo/reservation", json={**HOLD, "device_id": "490154203237518"}
    )
    looked_up = api.get(
        "/v1/orgs/yoigo/device", params={"identifier": "490154203237518"}
    )

    assert (created.status_code, created.json()["code"]) == (404, "NOT_FOUND")
    assert (looked_up.status_code, looked_up.json()["code"]) == (
        404,
        "DEVICE_NOT_FOUND",
    )


@pytest.mark.parametrize(
    ("faults", "status", "code", "calls"),
    [
        ({"hang": True}, 503, "INVENTORY_UNAVAILABLE", (1, 2)),
        ({"delay": 3.0}, 503, "INVENTORY_UNAVAILABLE", (1, 2)),
        ({"status": 500}, 503, "INVENTORY_UNAVAILABLE", (3, 3)),
        ({"status": 504}, 503, "INVENTORY_UNAVAILABLE", (3, 3)),
        ({"error_rate": 1.0}, 503, "INVENTORY_UNAVAILABLE", (3, 3)),
        ({"reset": True}, 503, "INVENTORY_UNAVAILABLE", (3, 3)),
        ({"truncate": True}, 503, "INVENTORY_UNAVAILABLE", (3, 3)),
        ({"retry_after": 5}, 503, "INVENTORY_UNAVAILABLE", (1, 1)),
        ({"garbage": True}, 502, "INVENTORY_BAD_RESPONSE", (1, 1)),
        ({"oversize": 200_000}, 502, "INVENTORY_BAD_RESPONSE", (1, 1)),
        (
            {"redirect": "http://elsewhere.example/"},
            502,
            "INVENTORY_BAD_RESPONSE",
            (1, 1),
        ),
        ({"status": 400}, 502, "INVENTORY_BAD_RESPONSE", (1, 1)),
    ],
    ids=lambda value: str(value) if isinstance(value, dict) else None,
)
def test_a_faulty_upstream_gets_a_clear_5xx_in_time_and_writes_nothing(
    api: httpx.Client,
    fake: FakeInventory,
    faults: Faults,
    status: int,
    code: str,
    calls: tuple[int, int],
) -> None:
    fake.set_faults(**faults)

    created, create_took = _timed(api, "POST", "/v1/orgs/yoigo/reservation", json=HOLD)
    lookups = fake.calls().lookups
    looked_up, lookup_took = _timed(
        api, "GET", "/v1/orgs/yoigo/device", params={"identifier": IMEI}
    )
    fake.clear_faults()
    held = api.get("/v1/orgs/yoigo/reservations", params={"device_id": IMEI})

    assert (created.status_code, created.json()["code"]) == (status, code)
    assert (looked_up.status_code, looked_up.json()["code"]) == (status, code)
    assert calls[0] <= lookups <= calls[1]
    assert create_took < WITHIN_DEADLINE
    assert lookup_took < WITHIN_DEADLINE
    assert held.json()["items"] == []
    if status == 503:
        assert int(created.headers["retry-after"]) >= 1


def test_retry_after_from_the_upstream_is_passed_on(
    api: httpx.Client, fake: FakeInventory
) -> None:
    fake.set_faults(retry_after=5)

    response = api.get("/v1/orgs/yoigo/device", params={"identifier": IMEI})

    assert response.headers["retry-after"] == "5"


def test_a_passing_fault_is_retried_and_answered(
    api: httpx.Client, fake: FakeInventory
) -> None:
    fake.set_faults(status=503, count=1)

    response = api.post("/v1/orgs/yoigo/reservation", json=HOLD)

    assert response.status_code == 200
    assert fake.calls().lookups == 2


def test_concurrent_lookups_of_one_device_make_one_upstream_call(
    faulty: ServerProcess, fake: FakeInventory
) -> None:
    fake.clear_faults()
    fake.reset_calls()
    fake.set_faults(delay=0.3)

    async def look_up_together() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=faulty.base_url, timeout=10) as client:
            return await asyncio.gather(
                *(
                    client.get("/v1/orgs/yoigo/device", params={"identifier": IMEI})
                    for _ in range(20)
                )
            )

    responses = asyncio.run(look_up_together())

    assert {response.status_code for response in responses} == {200}
    assert fake.calls().lookups == 1


def test_creates_fail_while_the_upstream_is_down_and_succeed_once_it_is_back(
    api: httpx.Client, fake: FakeInventory
) -> None:
    fake.stop()
    try:
        down, took = _timed(api, "POST", "/v1/orgs/yoigo/reservation", json=HOLD)
        held_meanwhile = api.get(
            "/v1/orgs/yoigo/reservations", params={"device_id": IMEI}
        )
    finally:
        fake.start()
    back = api.post("/v1/orgs/yoigo/reservation", json=HOLD)

    assert (down.status_code, down.json()["code"]) == (503, "INVENTORY_UNAVAILABLE")
    assert took < WITHIN_DEADLINE
    assert held_meanwhile.json()["items"] == []
    assert back.status_code == 200


def test_the_breaker_opens_on_repeated_failures_and_closes_after_a_good_trial(
    fake: FakeInventory, folder: Path
) -> None:
    breaking = _serve(
        folder,
        "breaking",
        MASSTOCK_INVENTORY_URL=fake.base_url,
        MASSTOCK_INVENTORY_TOKEN=INVENTORY_TOKEN,
        MASSTOCK_INVENTORY_CACHE_TTL="0",
        MASSTOCK_INVENTORY_BREAKER_FAILURES="3",
        MASSTOCK_INVENTORY_BREAKER_COOL_DOWN="1",
    )
    fake.clear_faults()
    fake.reset_calls()
    fake.set_faults(status=500)
    try:
        with httpx.Client(base_url=breaking.base_url, timeout=10) as api:
            path, query = "/v1/orgs/yoigo/device", {"identifier": IMEI}
            tripping = api.get(path, params=query)
            calls_tripping = fake.calls().lookups
            refused = api.get(path, params=query)
            calls_refused = fake.calls().lookups - calls_tripping
            fake.clear_faults()
            time.sleep(1.1)
            trial = api.get(path, params=query)
            after = api.get(path, params=query)
    finally:
        breaking.stop()

    assert tripping.status_code == 503
    assert calls_tripping == 3
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    assert calls_refused == 0
    assert trial.status_code == 200
    assert after.status_code == 200


def test_stale_answers_cover_an_outage_until_they_are_too_old(
    fake: FakeInventory, folder: Path
) -> None:
    caching = _serve(
        folder,
        "caching",
        MASSTOCK_INVENTORY_URL=fake.base_url,
        MASSTOCK_INVENTORY_TOKEN=INVENTORY_TOKEN,
        MASSTOCK_INVENTORY_CACHE_TTL="0.3",
        MASSTOCK_INVENTORY_CACHE_MAX_STALE="1.5",
        MASSTOCK_INVENTORY_BREAKER_FAILURES="1000",
    )
    fake.clear_faults()
    fake.reset_calls()
    try:
        with httpx.Client(base_url=caching.base_url, timeout=10) as api:
            path, query = "/v1/orgs/yoigo/device", {"identifier": IMEI}
            fresh = api.get(path, params=query)
            fake.set_faults(status=500)
            time.sleep(0.4)
            stale = api.get(path, params=query)
            time.sleep(1.2)
            too_old = api.get(path, params=query)
    finally:
        fake.clear_faults()
        caching.stop()

    assert fresh.status_code == 200
    assert stale.json() == fresh.json()
    assert too_old.status_code == 503


def test_oauth_client_credentials_fetch_one_token_and_never_log_it(
    folder: Path,
) -> None:
    with FakeInventory(
        catalog=write_catalog(folder / "oauth-catalog.csv", DEVICES),
        client_id="masstock",
        client_secret=CLIENT_SECRET,
        log_path=folder / "oauth-fake.log",
    ) as oauth_fake:
        server = _serve(
            folder,
            "oauth",
            MASSTOCK_INVENTORY_URL=oauth_fake.base_url,
            MASSTOCK_INVENTORY_TOKEN_URL=f"{oauth_fake.base_url}/oauth/token",
            MASSTOCK_INVENTORY_CLIENT_ID="masstock",
            MASSTOCK_INVENTORY_CLIENT_SECRET=CLIENT_SECRET,
            MASSTOCK_INVENTORY_CACHE_TTL="0",
        )
        try:
            with httpx.Client(base_url=server.base_url, timeout=10) as api:
                answers = [
                    api.get("/v1/orgs/yoigo/device", params={"identifier": identifier})
                    for identifier in (IMEI, SIM, IMEI)
                ]
            calls = oauth_fake.calls()
        finally:
            server.stop()

    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert calls.token_requests == 1
    assert calls.lookups == 3
    assert calls.last_authorized is True
    log = (folder / "oauth.log").read_text()
    assert "inventory token acquired" in log
    assert CLIENT_SECRET not in log


def test_the_static_token_never_reaches_the_log(
    api: httpx.Client, faulty: ServerProcess, fake: FakeInventory, folder: Path
) -> None:
    fake.set_faults(status=500)
    api.get("/v1/orgs/yoigo/device", params={"identifier": IMEI})
    fake.clear_faults()
    api.get("/v1/orgs/yoigo/device", params={"identifier": IMEI})

    log = (folder / "faulty.log").read_text()

    assert "inventory lookup" in log
    assert INVENTORY_TOKEN not in log
