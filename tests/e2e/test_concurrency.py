"""Many dealers, one device, the same instant: exactly one hold, on both backends."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from masstock.adapters import schema
from tests.e2e.conftest import add_devices, empty
from tests.e2e.server import ServerProcess

ROUNDS = 20
CONTENDERS = 48
DEVICE = ("yoigo", "356938035643809", "REF-IPHONE-17", None, "device")


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def servers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[ServerProcess]]:
    """One server on SQLite (its one writer); two processes sharing PostgreSQL."""
    folder = tmp_path_factory.mktemp(request.param)
    if request.param == "sqlite":
        url = f"sqlite:///{folder / 'masstock.db'}"
        schema.upgrade(url)
        count = 1
    else:
        url = request.getfixturevalue("postgres_server_url")
        count = 2
    processes = [
        ServerProcess(database_url=url, log_path=folder / f"serve-{n}.log")
        for n in range(count)
    ]
    for process in processes:
        process.start()
    empty(url)
    add_devices(url, [DEVICE])
    yield processes
    for process in processes:
        process.stop()


async def _round(
    clients: list[httpx.AsyncClient], round_number: int
) -> list[httpx.Response]:
    async def reserve(n: int) -> httpx.Response:
        client = clients[n % len(clients)]
        return await client.post(
            "/v1/orgs/yoigo/reservation",
            json={
                "device_id": DEVICE[1],
                "dealer_id": f"DEALER{round_number:02}{n:03}",
                "is_sim": False,
            },
        )

    return await asyncio.gather(*(reserve(n) for n in range(CONTENDERS)))


async def _contend(servers: list[ServerProcess]) -> list[list[httpx.Response]]:
    limits = httpx.Limits(max_connections=CONTENDERS)
    clients = [
        httpx.AsyncClient(base_url=s.base_url, limits=limits, timeout=30.0)
        for s in servers
    ]
    rounds = []
    try:
        for round_number in range(ROUNDS):
            responses = await _round(clients, round_number)
            rounds.append(responses)
            # Every loser's conflict names the holder: cancel it as its dealer,
            # so that the next round contends for a free device again.
            holder = next(r for r in responses if r.status_code == 409).json()
            cancelled = await clients[0].post(
                f"/v1/orgs/yoigo/reservation/{holder['reservation_id']}/cancellation",
                json={"dealer": holder["dealer_id"]},
            )
            assert cancelled.status_code == 200, cancelled.text
    finally:
        for client in clients:
            await client.aclose()
    return rounds


def test_each_round_has_exactly_one_winner_and_every_loser_names_it(
    servers: list[ServerProcess],
) -> None:
    rounds = asyncio.run(_contend(servers))

    assert len(rounds) == ROUNDS
    winners_seen = set()
    for responses in rounds:
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200] + [409] * (CONTENDERS - 1)
        winner = next(r for r in responses if r.status_code == 200)
        winner_id = winner.json()["reservation_id"]
        losers = [r.json() for r in responses if r.status_code == 409]
        assert {body["reservation_id"] for body in losers} == {winner_id}
        assert {body["code"] for body in losers} == {"RESERVATION_CONFLICT"}
        winners_seen.add(winner_id)
    assert len(winners_seen) == ROUNDS
