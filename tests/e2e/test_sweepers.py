"""Two ``masstock reservations expire`` at once close each expired hold once."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from masstock.adapters import schema

DUE = 3000


def _seed_sqlite(path: str, expired: datetime) -> None:
    created = (expired - timedelta(hours=72)).isoformat(timespec="microseconds")
    until = expired.isoformat(timespec="microseconds")
    rows = [
        (
            str(uuid.uuid4()),
            f"IMEI{n:011}",
            f"DEALER{n % 40:03}",
            created,
            created,
            until,
        )
        for n in range(DUE)
    ]
    connection = sqlite3.connect(path)
    with connection:
        connection.executemany(
            "INSERT INTO reservations (id, org, device_id, dealer_id, is_sim, status, "
            "created_at, updated_at, expires_at) "
            "VALUES (?, 'yoigo', ?, ?, 0, 'CREATED', ?, ?, ?)",
            rows,
        )
    connection.close()


async def _seed_postgres(url: str, expired: datetime) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(
            "INSERT INTO reservations (id, org, device_id, dealer_id, is_sim, status, "
            "created_at, updated_at, expires_at) "
            "SELECT gen_random_uuid(), 'yoigo', 'IMEI' || n, 'DEALER' || (n % 40), "
            "false, 'CREATED', $1, $1, $2 FROM generate_series(1, $3) AS n",
            expired - timedelta(hours=72),
            expired,
            DUE,
        )
    finally:
        await connection.close()


def _events(url: str) -> list[tuple[str, int]]:
    query = (
        "SELECT reservation_id, count(*) FROM reservation_events "
        "WHERE kind = 'EXPIRED' GROUP BY reservation_id"
    )
    if url.startswith("sqlite:"):
        connection = sqlite3.connect(url.removeprefix("sqlite:///"))
        rows = connection.execute(query).fetchall()
        connection.close()
        return [(str(r), int(c)) for r, c in rows]

    async def _fetch() -> list[tuple[str, int]]:
        connection = await asyncpg.connect(url)
        try:
            return [(str(r), int(c)) for r, c in await connection.fetch(query)]
        finally:
            await connection.close()

    return asyncio.run(_fetch())


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_two_sweepers_close_every_expired_hold_exactly_once(
    tmp_path: Path, request: pytest.FixtureRequest, backend: str
) -> None:
    expired = datetime.now(UTC) - timedelta(minutes=5)
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'masstock.db'}"
        schema.upgrade(url)
        _seed_sqlite(url.removeprefix("sqlite:///"), expired)
    else:
        url = request.getfixturevalue("postgres_url")
        asyncio.run(_seed_postgres(url, expired))
    env = {**os.environ, "MASSTOCK_DATABASE_URL": url, "MASSTOCK_SWEEP_BATCH": "100"}

    sweepers = [
        subprocess.Popen(
            [sys.executable, "-m", "masstock", "reservations", "expire"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [sweeper.communicate(timeout=120) for sweeper in sweepers]

    assert [sweeper.returncode for sweeper in sweepers] == [0, 0], outputs
    counts = [int(out.split()[1]) for out, _ in outputs]
    assert sum(counts) == DUE
    events = _events(url)
    assert len(events) == DUE
    assert {count for _, count in events} == {1}
