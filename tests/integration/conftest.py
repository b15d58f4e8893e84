"""The stores, opened on each backend in turn."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from masstock.adapters.postgres import (
    PostgresDatabase,
    PostgresDeviceCatalog,
    PostgresReservationStore,
)
from masstock.adapters.sqlite import (
    SqliteDatabase,
    SqliteDeviceCatalog,
    SqliteReservationStore,
)


@dataclass
class Stores:
    reservations: SqliteReservationStore | PostgresReservationStore
    devices: SqliteDeviceCatalog | PostgresDeviceCatalog


@pytest.fixture
async def stores(database_url: str) -> AsyncIterator[Stores]:
    """The reservation store and device catalog over an empty, migrated database."""
    if database_url.startswith("sqlite:"):
        sqlite = SqliteDatabase(database_url.removeprefix("sqlite:///"))
        await sqlite.open()
        yield Stores(SqliteReservationStore(sqlite), SqliteDeviceCatalog(sqlite))
        await sqlite.close()
        return

    postgres = PostgresDatabase(database_url, pool_size=8, timeout=5.0)
    await postgres.open()
    yield Stores(PostgresReservationStore(postgres), PostgresDeviceCatalog(postgres))
    await postgres.close()
