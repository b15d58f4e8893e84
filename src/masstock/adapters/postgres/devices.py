"""The device catalog in PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime

import asyncpg

from masstock.adapters.batching import BatchedLookups
from masstock.adapters.postgres.database import PostgresDatabase
from masstock.domain.device import Device, DeviceKind

# An import is one long transaction by design; the request timeout that guards
# the service's short statements would cut a large one short.
_IMPORT_TIMEOUT = 3600.0

FIND_DEVICE = (
    "SELECT org, identifier, reference, mac, kind FROM devices "
    "WHERE org = $1 AND identifier = $2"
)
FIND_DEVICES = (
    "SELECT d.org, d.identifier, d.reference, d.mac, d.kind "
    "FROM unnest($1::text[], $2::text[]) AS wanted (org, identifier) "
    "JOIN devices d ON d.org = wanted.org AND d.identifier = wanted.identifier"
)
# Lookups share round trips when more than this many batches are out at once
# (see masstock.adapters.batching); a quarter of the pool leaves the rest of it
# to the writes.
_LOOKUP_SHARE_OF_POOL = 4
_MAX_BATCH = 64

_IMPORT_TABLE = (
    "CREATE TEMPORARY TABLE devices_import ON COMMIT DROP AS "
    "SELECT org, identifier, reference, mac, kind FROM devices WITH NO DATA"
)
_MERGE_IMPORT = (
    "INSERT INTO devices (org, identifier, reference, mac, kind, updated_at) "
    "SELECT org, identifier, reference, mac, kind, $1::timestamptz "
    "FROM devices_import "
    "ON CONFLICT (org, identifier) DO UPDATE SET reference = EXCLUDED.reference, "
    "mac = EXCLUDED.mac, kind = EXCLUDED.kind, updated_at = EXCLUDED.updated_at"
)


class PostgresDeviceCatalog:
    """The device catalog in PostgreSQL, behind the device directory port."""

    def __init__(self, database: PostgresDatabase) -> None:
        self._db = database
        self._lookups: BatchedLookups[tuple[str, str], Device] = BatchedLookups(
            self._find_many,
            in_flight=max(1, database.pool_size // _LOOKUP_SHARE_OF_POOL),
            max_batch=_MAX_BATCH,
        )

    async def find(
        self, org: str, identifier: str, *, is_sim: bool | None = None
    ) -> Device | None:
        return await self._lookups.get((org, identifier))

    async def _find_many(
        self, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], Device]:
        async with self._db.connection() as connection:
            if len(keys) == 1:
                row = await connection.fetchrow(FIND_DEVICE, *keys[0])
                rows = [] if row is None else [row]
            else:
                orgs, identifiers = zip(*keys, strict=True)
                rows = await connection.fetch(FIND_DEVICES, orgs, identifiers)
        found = (_device(row) for row in rows)
        return {(device.org, device.identifier): device for device in found}

    async def save_devices(
        self, batches: Iterable[Sequence[Device]], *, at: datetime
    ) -> int:
        """COPY every device into a scratch table, then upsert them in one go.

        All in one transaction: when ``batches`` raises, COPY is aborted and
        the catalog is left as it was.
        """
        async with self._db.connection() as connection, connection.transaction():
            await connection.execute(_IMPORT_TABLE, timeout=_IMPORT_TIMEOUT)
            await connection.copy_records_to_table(
                "devices_import",
                records=_device_records(batches),
                columns=["org", "identifier", "reference", "mac", "kind"],
                timeout=_IMPORT_TIMEOUT,
            )
            status: str = await connection.execute(
                _MERGE_IMPORT, at, timeout=_IMPORT_TIMEOUT
            )
        return int(status.rsplit(" ", 1)[-1])


def _device(row: asyncpg.Record) -> Device:
    return Device(
        org=row["org"],
        identifier=row["identifier"],
        reference=row["reference"],
        mac=row["mac"],
        kind=DeviceKind(row["kind"]),
    )


def _device_records(
    batches: Iterable[Sequence[Device]],
) -> Iterator[tuple[str, str, str, str | None, str]]:
    for batch in batches:
        for device in batch:
            yield (
                device.org,
                device.identifier,
                device.reference,
                device.mac,
                device.kind.value,
            )
