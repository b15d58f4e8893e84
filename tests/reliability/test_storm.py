"""Storm: several server processes on one PostgreSQL database, many dealers
creating, cancelling and finalizing at once; no device ever held twice, no
acknowledged change lost, no 5xx."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

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
    clients_of,
    dealers,
    double_holds,
    handsets,
    lost_acknowledgements,
    percentile,
    record,
    sized,
    start_all,
    watch_double_holds,
)

SERVERS = sized(short=2, long=4)
CLIENTS = sized(short=16, long=64)
OPERATIONS = sized(short=1_500, long=20_000)
DEVICES = handsets(sized(short=50, long=200))


@pytest.fixture
def storm_servers(tmp_path: Path) -> Iterator[list[ServerProcess]]:
    """``SERVERS`` processes on a PostgreSQL database of their own."""
    with new_postgres_database() as url, ExitStack() as stack:
        schema.upgrade(url)
        add_devices(url, DEVICES)
        servers = [
            ServerProcess(database_url=url, log_path=tmp_path / f"serve-{n}.log")
            for n in range(SERVERS)
        ]
        for server in servers:
            stack.callback(server.stop)
        start_all(servers)
        yield servers


async def _storm(servers: list[ServerProcess], ledger: Ledger) -> Watch:
    clients = clients_of([s.base_url for s in servers], connections=CLIENTS)
    stop, watch = asyncio.Event(), Watch()
    watcher = asyncio.create_task(
        watch_double_holds(servers[0].database_url, stop=stop, watch=watch)
    )
    try:
        await dealers(
            count=CLIENTS,
            clients=clients,
            devices=[device[1] for device in DEVICES],
            ledger=ledger,
            budget=Budget(operations=OPERATIONS, seconds=240),
        )
    finally:
        stop.set()
        await watcher
        for client in clients:
            await client.aclose()
    return watch


def test_a_storm_on_several_servers_never_holds_a_device_twice_nor_loses_a_change(
    storm_servers: list[ServerProcess],
) -> None:
    ledger = Ledger()
    started = time.monotonic()

    watch = asyncio.run(_storm(storm_servers, ledger))

    elapsed = time.monotonic() - started
    rows = run_sql(storm_servers[0].database_url, ALL_ROWS)
    record(
        "storm",
        servers=SERVERS,
        clients=CLIENTS,
        operations=len(ledger.answers),
        ops_per_s=round(len(ledger.answers) / elapsed),
        p50_ms=percentile(ledger.latencies, 0.50),
        p99_ms=percentile(ledger.latencies, 0.99),
        creates=len(ledger.creates),
        cancellations=len(ledger.cancelled),
        finalizations=len(ledger.finalized),
        checks=watch.checks,
    )
    assert ledger.server_errors() == []
    assert ledger.transport_errors == 0
    assert len(ledger.answers) == OPERATIONS
    assert watch.checks >= 2
    assert watch.double_holds == []
    assert double_holds(rows) == []
    assert lost_acknowledgements(rows, ledger) == []
    assert ledger.cancelled
    assert ledger.finalized
