"""Eight dealers writing at once to one server on an SQLite file: no lock error
reaches them, no 5xx, nothing acknowledged lost."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import add_devices, run_sql
from tests.e2e.server import ServerProcess
from tests.reliability.load import (
    ALL_ROWS,
    Budget,
    Ledger,
    clients_of,
    dealers,
    double_holds,
    handsets,
    lost_acknowledgements,
    percentile,
    record,
    sized,
)

WRITERS = 8
OPERATIONS = sized(short=1_000, long=10_000)
DEVICES = handsets(40)


@pytest.fixture
def sqlite_server(sqlite_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    add_devices(sqlite_url, DEVICES)
    server = ServerProcess(database_url=sqlite_url, log_path=tmp_path / "serve.log")
    server.start()
    yield server
    server.stop()


async def _write(server: ServerProcess, ledger: Ledger) -> None:
    clients = clients_of([server.base_url], connections=WRITERS)
    try:
        await dealers(
            count=WRITERS,
            clients=clients,
            devices=[device[1] for device in DEVICES],
            ledger=ledger,
            budget=Budget(operations=OPERATIONS, seconds=180),
        )
    finally:
        await clients[0].aclose()


def test_eight_writers_on_sqlite_never_see_a_lock_error(
    sqlite_server: ServerProcess,
) -> None:
    ledger = Ledger()
    started = time.monotonic()

    asyncio.run(_write(sqlite_server, ledger))

    elapsed = time.monotonic() - started
    rows = run_sql(sqlite_server.database_url, ALL_ROWS)
    record(
        "sqlite writers",
        writers=WRITERS,
        operations=len(ledger.answers),
        ops_per_s=round(len(ledger.answers) / elapsed),
        p50_ms=percentile(ledger.latencies, 0.50),
        p99_ms=percentile(ledger.latencies, 0.99),
    )
    assert ledger.server_errors() == []
    assert not [a for a in ledger.answers if "locked" in a.text.lower()]
    assert len(ledger.answers) == OPERATIONS
    assert double_holds(rows) == []
    assert lost_acknowledgements(rows, ledger) == []
