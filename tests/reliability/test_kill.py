"""kill -9: server processes on PostgreSQL killed at random under load, then
started again; every acknowledged change survives, nothing is held twice."""

from __future__ import annotations

import asyncio
import random
import signal
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from masstock.adapters import schema
from tests.conftest import new_postgres_database
from tests.e2e.conftest import add_devices, run_sql
from tests.e2e.server import ServerProcess
from tests.reliability.load import (
    ALL_ROWS,
    Budget,
    Ledger,
    Watch,
    double_holds,
    handsets,
    lost_acknowledgements,
    record,
    sized,
    start_all,
    under_attack,
)

KILLS = sized(short=3, long=10)
CLIENTS = sized(short=8, long=32)
DEVICES = handsets(sized(short=30, long=100))


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[list[ServerProcess]]:
    """Two processes on a PostgreSQL database of their own."""
    with new_postgres_database() as url, ExitStack() as stack:
        schema.upgrade(url)
        add_devices(url, DEVICES)
        servers = [
            ServerProcess(database_url=url, log_path=tmp_path / f"serve-{n}.log")
            for n in range(2)
        ]
        for server in servers:
            stack.callback(server.stop)
        start_all(servers)
        yield servers


async def _ready(client: httpx.AsyncClient, base_url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            response = await client.get(f"{base_url}/health/ready")
        except httpx.TransportError:
            response = None
        if response is not None and response.status_code == 200:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{base_url} not ready 30 s after a restart")


async def _kill_repeatedly(
    servers: list[ServerProcess], *, budget: Budget, restarts: list[float]
) -> None:
    """Kill a random server ``KILLS`` times, each time once load has run a little,
    and time how long it takes to be ready again."""
    rng = random.Random(4711)  # noqa: S311 (a victim, not a secret)
    async with httpx.AsyncClient(timeout=2.0) as probe:
        for _ in range(KILLS):
            await asyncio.sleep(rng.uniform(0.3, 1.0))
            victim = rng.choice(servers)
            killed = time.monotonic()
            victim.stop(signal.SIGKILL)
            await asyncio.to_thread(victim.start)
            await _ready(probe, victim.base_url)
            restarts.append(round(time.monotonic() - killed, 2))
    await asyncio.sleep(0.5)
    budget.stopped = True


async def _under_fire(
    servers: list[ServerProcess], *, ledger: Ledger, restarts: list[float]
) -> Watch:
    return await under_attack(
        base_urls=[s.base_url for s in servers],
        database_url=servers[0].database_url,
        connections=CLIENTS,
        devices=[device[1] for device in DEVICES],
        ledger=ledger,
        seconds=240,
        attack=lambda budget: _kill_repeatedly(
            servers, budget=budget, restarts=restarts
        ),
    )


def test_killed_servers_come_back_and_lose_no_acknowledged_change(
    two_servers: list[ServerProcess],
) -> None:
    ledger, restarts = Ledger(), list[float]()

    watch = asyncio.run(_under_fire(two_servers, ledger=ledger, restarts=restarts))

    rows = run_sql(two_servers[0].database_url, ALL_ROWS)
    record(
        "kill -9",
        kills=KILLS,
        restart_s=restarts,
        worst_restart_s=max(restarts),
        acknowledged=len(ledger.creates)
        + len(ledger.cancelled)
        + len(ledger.finalized),
        answers=dict(ledger.statuses),
        cut_off=ledger.transport_errors,
        checks=watch.checks,
    )
    assert len(restarts) == KILLS
    assert ledger.server_errors() == []
    assert watch.double_holds == []
    assert double_holds(rows) == []
    assert len({row[0] for row in rows}) == len(rows)
    assert lost_acknowledgements(rows, ledger) == []
    assert ledger.creates
