"""SQLite's group commit: units share a commit, yet each keeps its own outcome."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from masstock.adapters.sqlite import SqliteDatabase
from masstock.domain.errors import StorageUnavailable


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[SqliteDatabase]:
    database = SqliteDatabase(str(tmp_path / "group.sqlite3"))
    await database.open()

    def _schema(connection: sqlite3.Connection) -> None:
        connection.execute("PRAGMA foreign_keys = ON")
        connection.execute("CREATE TABLE holds (device TEXT PRIMARY KEY)")
        connection.execute(
            "CREATE TABLE notes (device TEXT REFERENCES holds (device) "
            "DEFERRABLE INITIALLY DEFERRED)"
        )

    await database.run(_schema)
    yield database
    await database.close()


def _hold(device: str) -> Callable[[sqlite3.Connection], str]:
    def _insert(connection: sqlite3.Connection) -> str:
        connection.execute("INSERT INTO holds (device) VALUES (?)", (device,))
        return device

    return _insert


def _busy(connection: sqlite3.Connection) -> None:
    """Keep the thread busy so that the writes behind it queue up as one group."""
    time.sleep(0.2)


async def _held(database: SqliteDatabase) -> set[str]:
    rows = await database.read(
        lambda connection: connection.execute("SELECT device FROM holds").fetchall()
    )
    return {device for (device,) in rows}


async def _group(
    database: SqliteDatabase, *units: Callable[[sqlite3.Connection], object]
) -> list[object]:
    busy = asyncio.ensure_future(database.run(_busy))
    await asyncio.sleep(0.05)
    outcomes = await asyncio.gather(
        *(database.write(unit) for unit in units),
        return_exceptions=True,
    )
    await busy
    return outcomes


async def test_writes_queued_together_each_get_their_own_result(
    database: SqliteDatabase,
) -> None:
    devices = [f"SN-{number:03d}" for number in range(50)]

    outcomes = await _group(database, *(_hold(device) for device in devices))

    assert outcomes == devices
    assert await _held(database) == set(devices)


async def test_a_unit_that_fails_is_undone_alone(database: SqliteDatabase) -> None:
    def _hold_twice(connection: sqlite3.Connection) -> None:
        connection.execute("INSERT INTO holds (device) VALUES ('SN-B')")
        connection.execute("INSERT INTO holds (device) VALUES ('SN-A')")

    outcomes = await _group(database, _hold("SN-A"), _hold_twice, _hold("SN-C"))

    assert outcomes[0] == "SN-A"
    assert isinstance(outcomes[1], sqlite3.IntegrityError)
    assert outcomes[2] == "SN-C"
    assert await _held(database) == {"SN-A", "SN-C"}


async def test_a_group_that_cannot_commit_keeps_none_of_its_units(
    database: SqliteDatabase,
) -> None:
    def _orphan_note(connection: sqlite3.Connection) -> None:
        # Checked only at COMMIT: the whole group's commit fails.
        connection.execute("INSERT INTO notes (device) VALUES ('SN-NONE')")

    outcomes = await _group(database, _hold("SN-A"), _orphan_note, _hold("SN-C"))

    assert [type(outcome) for outcome in outcomes] == [StorageUnavailable] * 3
    assert await _held(database) == set()
    assert await database.write(_hold("SN-D")) == "SN-D"
    assert await _held(database) == {"SN-D"}


async def test_writes_pending_at_close_are_committed(tmp_path: Path) -> None:
    path = tmp_path / "close.sqlite3"
    database = SqliteDatabase(str(path))
    await database.open()
    await database.run(
        lambda connection: connection.execute("CREATE TABLE holds (device TEXT)")
    )
    busy = asyncio.ensure_future(database.run(_busy))
    await asyncio.sleep(0.05)
    writes = [
        asyncio.ensure_future(database.write(_hold(f"SN-{number}")))
        for number in range(5)
    ]
    await asyncio.sleep(0)

    await database.close()

    await busy
    assert [await write for write in writes] == [f"SN-{n}" for n in range(5)]
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT count(*) FROM holds").fetchone() == (5,)
