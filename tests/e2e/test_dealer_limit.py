"""A cap on each dealer's active holds, kept across two servers on one database."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.conftest import add_devices, empty, run_sql
from tests.e2e.server import ServerProcess

CAP = 3
# IMEIs of the handsets on a yoigo shop's shelf.
HANDSETS = [f"3569380356438{n:02}" for n in range(12)]


@pytest.fixture(scope="module")
def servers(
    postgres_server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[ServerProcess]]:
    """Two ``masstock serve`` processes on one PostgreSQL database, capped at three
    active holds per dealer."""
    folder = tmp_path_factory.mktemp("dealer-limit")
    replicas = [
        ServerProcess(
            database_url=postgres_server_url,
            env={"MASSTOCK_DEALER_MAX_ACTIVE": str(CAP)},
            log_path=folder / f"serve-{n}.log",
        )
        for n in range(2)
    ]
    try:
        for replica in replicas:
            replica.start()
        yield replicas
    finally:
        for replica in replicas:
            replica.stop()


@pytest.fixture
def shelf(servers: list[ServerProcess]) -> list[ServerProcess]:
    """The servers, over a catalog of yoigo handsets and no reservations."""
    url = servers[0].database_url
    empty(url)
    add_devices(
        url,
        [("yoigo", imei, "REF-IPHONE-17", None, "device") for imei in HANDSETS],
    )
    return servers


async def _create_everywhere(
    servers: list[ServerProcess], *, dealer_id: str
) -> list[httpx.Response]:
    """One create per handset for ``dealer_id``, all at once, over both servers."""
    async with (
        httpx.AsyncClient(base_url=servers[0].base_url, timeout=10) as first,
        httpx.AsyncClient(base_url=servers[1].base_url, timeout=10) as second,
    ):
        clients = [first, second]
        return await asyncio.gather(
            *(
                clients[n % 2].post(
                    "/v1/orgs/yoigo/reservation",
                    json={"device_id": imei, "dealer_id": dealer_id, "is_sim": False},
                )
                for n, imei in enumerate(HANDSETS)
            )
        )


def test_simultaneous_creates_over_two_servers_stop_at_the_cap(
    shelf: list[ServerProcess],
) -> None:
    answers = asyncio.run(_create_everywhere(shelf, dealer_id="DEALER001"))

    created = [a for a in answers if a.status_code == 200]
    refused = [a for a in answers if a.status_code == 409]
    assert len(created) == CAP
    assert len(refused) == len(HANDSETS) - CAP
    assert {a.json()["code"] for a in refused} == {"DEALER_LIMIT_REACHED"}
    assert refused[0].json() == {
        "code": "DEALER_LIMIT_REACHED",
        "message": "Dealer DEALER001 already holds 3 active reservations",
        "details": "Cancel or finalize a reservation before creating another.",
    }
    held = run_sql(
        shelf[0].database_url,
        "SELECT id FROM reservations WHERE dealer_id = ? AND status = 'CREATED'",
        "DEALER001",
    )
    assert sorted(str(row[0]) for row in held) == sorted(
        a.json()["reservation_id"] for a in created
    )


def _create(client: httpx.Client, imei: str, *, dealer_id: str) -> httpx.Response:
    return client.post(
        "/v1/orgs/yoigo/reservation",
        json={"device_id": imei, "dealer_id": dealer_id, "is_sim": False},
    )


def test_a_cancellation_on_one_server_frees_a_place_on_the_other(
    shelf: list[ServerProcess],
) -> None:
    first, second = shelf
    with (
        httpx.Client(base_url=first.base_url, timeout=10) as on_first,
        httpx.Client(base_url=second.base_url, timeout=10) as on_second,
    ):
        held = [
            _create(on_first, imei, dealer_id="DEALER001").json()["reservation_id"]
            for imei in HANDSETS[:CAP]
        ]
        refused = _create(on_second, HANDSETS[CAP], dealer_id="DEALER001")
        on_first.post(
            f"/v1/orgs/yoigo/reservation/{held[0]}/cancellation",
            json={"dealer": "DEALER001"},
        )

        again = _create(on_second, HANDSETS[CAP], dealer_id="DEALER001")

    assert refused.status_code == 409
    assert again.status_code == 200


def test_a_dealer_at_the_cap_leaves_other_dealers_their_places(
    shelf: list[ServerProcess],
) -> None:
    first, second = shelf
    with (
        httpx.Client(base_url=first.base_url, timeout=10) as on_first,
        httpx.Client(base_url=second.base_url, timeout=10) as on_second,
    ):
        for imei in HANDSETS[:CAP]:
            _create(on_first, imei, dealer_id="DEALER001")

        other = _create(on_second, HANDSETS[CAP], dealer_id="DEALER002")

    assert other.status_code == 200
