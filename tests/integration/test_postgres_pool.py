"""PostgreSQL connections under contention, and lookups that share round trips."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from masstock.adapters.postgres import PostgresDatabase, PostgresDeviceCatalog
from masstock.domain.device import Device, DeviceBatch, DeviceKind
from masstock.domain.errors import StorageUnavailable

pytestmark = pytest.mark.postgres


@pytest.fixture
async def database(postgres_url: str) -> AsyncIterator[PostgresDatabase]:
    database = PostgresDatabase(postgres_url, pool_size=2, timeout=2.0)
    await database.open()
    yield database
    await database.close()


def _device(number: int) -> Device:
    kind = DeviceKind.SIM if number % 2 else DeviceKind.DEVICE
    return Device(
        org="yoigo",
        identifier=f"SN-POOL-{number:04d}",
        reference=f"REF-{number % 7}",
        mac=None,
        kind=kind,
    )


async def test_waiting_requests_get_connections_first_come_first_served(
    database: PostgresDatabase,
) -> None:
    arrived = itertools.count()
    served: list[int] = []
    newcomers: list[asyncio.Task[None]] = []

    async def request(*, bring_a_newcomer: bool) -> None:
        number = next(arrived)
        async with database.connection() as connection:
            served.append(number)
            await connection.execute("SELECT pg_sleep(0.005)")
        if bring_a_newcomer:  # arrives just as a waiter is woken for the connection
            newcomers.append(asyncio.create_task(request(bring_a_newcomer=False)))

    async def warm_up() -> None:  # both connections open: none waits on a connect
        async with database.connection() as connection:
            await connection.execute("SELECT pg_sleep(0.05)")

    await asyncio.gather(warm_up(), warm_up())
    await asyncio.gather(*(request(bring_a_newcomer=True) for _ in range(20)))
    await asyncio.gather(*newcomers)

    assert len(served) == 40
    assert served == sorted(served)


async def test_no_connection_free_in_time_is_storage_unavailable(
    postgres_url: str,
) -> None:
    database = PostgresDatabase(postgres_url, pool_size=1, timeout=0.2)
    await database.open()
    try:
        async with database.connection() as connection:
            with pytest.raises(StorageUnavailable):
                async with database.connection():
                    pass
            assert await connection.fetchval("SELECT 1") == 1
        async with database.connection() as connection:  # the turn came back
            assert await connection.fetchval("SELECT 2") == 2
    finally:
        await database.close()


async def test_many_simultaneous_lookups_each_get_their_own_device(
    database: PostgresDatabase,
) -> None:
    catalog = PostgresDeviceCatalog(database)
    devices = [_device(number) for number in range(200)]
    batch = DeviceBatch([device.fields for device in devices])
    await catalog.save_devices([batch], at=datetime.now(UTC))
    wanted = [f"SN-POOL-{number:04d}" for number in range(0, 260, 3)]

    found = await asyncio.gather(
        *(catalog.find("yoigo", identifier) for identifier in wanted),
        *(catalog.find("other-org", identifier) for identifier in wanted[:10]),
    )

    by_identifier = {device.identifier: device for device in devices}
    assert found[: len(wanted)] == [by_identifier.get(i) for i in wanted]
    assert found[len(wanted) :] == [None] * 10


async def test_a_database_failure_reaches_every_waiting_lookup(
    database: PostgresDatabase,
) -> None:
    catalog = PostgresDeviceCatalog(database)
    await database.close()  # every connection gone: the next queries fail

    results = await asyncio.gather(
        *(catalog.find("yoigo", f"SN-POOL-{n:04d}") for n in range(20)),
        return_exceptions=True,
    )

    assert all(isinstance(result, StorageUnavailable) for result in results)
