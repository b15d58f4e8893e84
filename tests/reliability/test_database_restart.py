"""A PostgreSQL restart under load: a window of 503s and nothing else, then
service again by itself, with every acknowledged change intact."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from masstock.adapters import schema
from tests.e2e.conftest import add_devices, run_sql
from tests.e2e.server import ServerProcess
from tests.reliability.cluster import TemporaryCluster
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
    under_attack,
)

RESTARTS = sized(short=1, long=5)
DOWN_SECONDS = 1.0
CLIENTS = sized(short=8, long=32)
DEVICES = handsets(sized(short=30, long=100))
HEALTHY = {200, 409}


@pytest.fixture
def cluster() -> Iterator[TemporaryCluster]:
    """A running PostgreSQL cluster of this test's own, removed afterwards."""
    if not TemporaryCluster.available():
        pytest.skip("PostgreSQL's initdb and pg_ctl are not installed")
    cluster = TemporaryCluster()
    try:
        cluster.create()
        cluster.start()
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture
def server_on_cluster(
    cluster: TemporaryCluster, tmp_path: Path
) -> Iterator[ServerProcess]:
    schema.upgrade(cluster.url)
    add_devices(cluster.url, DEVICES)
    server = ServerProcess(
        database_url=cluster.url,
        env={"MASSTOCK_DB_TIMEOUT": "1"},
        log_path=tmp_path / "serve.log",
    )
    server.start()
    yield server
    server.stop()


async def _until_healthy(client: httpx.AsyncClient) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        response = await client.get("/health/ready")
        if response.status_code == 200:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("not ready 30 s after PostgreSQL came back")


async def _restart_repeatedly(
    cluster: TemporaryCluster, *, server: ServerProcess, budget: Budget
) -> None:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=5.0) as probe:
        for _ in range(RESTARTS):
            await asyncio.sleep(1.0)
            await asyncio.to_thread(cluster.stop)
            await asyncio.sleep(DOWN_SECONDS)
            await asyncio.to_thread(cluster.start)
            await _until_healthy(probe)
    await asyncio.sleep(1.0)
    budget.stopped = True


async def _through_restarts(
    cluster: TemporaryCluster, *, server: ServerProcess, ledger: Ledger
) -> Watch:
    return await under_attack(
        base_urls=[server.base_url],
        database_url=cluster.url,
        connections=CLIENTS,
        devices=[device[1] for device in DEVICES],
        ledger=ledger,
        seconds=120,
        attack=lambda budget: _restart_repeatedly(
            cluster, server=server, budget=budget
        ),
    )


def _outage_seconds(ledger: Ledger) -> float:
    """From the first unhealthy answer to the last one, over all restarts."""
    times = [a.at for a in ledger.answers if a.status not in HEALTHY]
    return round(max(times) - min(times), 2) if times else 0.0


def test_a_database_restart_gives_503s_only_then_service_resumes_intact(
    cluster: TemporaryCluster, server_on_cluster: ServerProcess
) -> None:
    ledger = Ledger()

    watch = asyncio.run(
        _through_restarts(cluster, server=server_on_cluster, ledger=ledger)
    )

    rows = run_sql(cluster.url, ALL_ROWS)
    unhealthy = [a for a in ledger.answers if a.status not in HEALTHY]
    record(
        "database restart",
        restarts=RESTARTS,
        down_s=DOWN_SECONDS,
        unhealthy_window_s=_outage_seconds(ledger),
        answers_503=len(unhealthy),
        answers=len(ledger.answers),
        rows_not_acknowledged=len(rows) - len(ledger.creates),
        checks=watch.checks,
    )
    assert unhealthy, "no request met the restart"
    assert {(a.status, a.code) for a in unhealthy} == {(503, "DATABASE_ERROR")}
    assert ledger.transport_errors == 0
    assert ledger.answers[-1].status in HEALTHY
    assert watch.double_holds == []
    assert double_holds(rows) == []
    assert lost_acknowledgements(rows, ledger) == []
