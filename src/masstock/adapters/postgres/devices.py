"""The device catalog in PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime

import asyncpg

from masstock.adapters.batching import BatchedLookups
from masstock.adapters.postgres.database import PostgresDatabase
from masstock.domain.device import Device, DeviceBatch, DeviceKind

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

_BACKSLASH = "\\"
_ESCAPED = "\\\\"
_NULL = "\\N"
_COLUMNS = ["org", "identifier", "reference", "mac", "kind", "updated_at"]
# Imports take turns (the lock conflicts with itself), lookups go on meanwhile.
_ONE_IMPORT_AT_A_TIME = "LOCK TABLE devices IN SHARE ROW EXCLUSIVE MODE"
_ANY_DEVICE = "SELECT EXISTS (SELECT FROM devices)"
_IMPORT_TABLE = (
    "CREATE TEMPORARY TABLE devices_import ON COMMIT DROP AS "
    f"SELECT {', '.join(_COLUMNS)} FROM devices WITH NO DATA"
)
# Enough memory for the join of a million imported rows to the catalog to
# hash in one go, rather than in batches spilled to disk; for this
# transaction only.
_IMPORT_WORK_MEM = "SET LOCAL work_mem = '256MB'"
# Every column of a device comes from the import, so replacing a row is an
# update; as two set-wide statements it costs about half of an upsert's
# row-by-row conflict checks.
_DROP_REPLACED = (
    "DELETE FROM devices USING devices_import AS imported "
    "WHERE devices.org = imported.org AND devices.identifier = imported.identifier"
)
_ADD_IMPORTED = (
    f"INSERT INTO devices ({', '.join(_COLUMNS)}) "
    f"SELECT {', '.join(_COLUMNS)} FROM devices_import"
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
        self, batches: Iterable[DeviceBatch], *, at: datetime
    ) -> int:
        """COPY every device in, in one transaction, one import at a time.

        Into an empty catalog the rows go straight to the table; otherwise
        into a scratch table, from which they replace the devices they name
        and join the others.  When ``batches`` raises, COPY is aborted and
        the catalog is left as it was.
        """
        async with self._db.connection() as connection, connection.transaction():
            await connection.execute(_ONE_IMPORT_AT_A_TIME, timeout=_IMPORT_TIMEOUT)
            if not await connection.fetchval(_ANY_DEVICE, timeout=_IMPORT_TIMEOUT):
                status: str = await connection.copy_to_table(
                    "devices",
                    source=_copy_text(batches, at=at),
                    columns=_COLUMNS,
                    timeout=_IMPORT_TIMEOUT,
                )
                return _rows_of(status)

            await connection.execute(_IMPORT_WORK_MEM)
            await connection.execute(_IMPORT_TABLE)
            await connection.copy_to_table(
                "devices_import",
                source=_copy_text(batches, at=at),
                columns=_COLUMNS,
                timeout=_IMPORT_TIMEOUT,
            )
            await connection.execute(_DROP_REPLACED, timeout=_IMPORT_TIMEOUT)
            status = await connection.execute(_ADD_IMPORTED, timeout=_IMPORT_TIMEOUT)
        return _rows_of(status)


def _device(row: asyncpg.Record) -> Device:
    return Device(
        org=row["org"],
        identifier=row["identifier"],
        reference=row["reference"],
        mac=row["mac"],
        kind=DeviceKind(row["kind"]),
    )


async def _copy_text(
    batches: Iterable[DeviceBatch], *, at: datetime
) -> AsyncIterator[bytes]:
    """Each batch as the text format of COPY, one line per device.

    The checks behind DeviceFields leave only the reference free to hold a
    character this format treats specially, a backslash: no tab, no line end.
    """
    updated_at = at.isoformat()
    for batch in batches:
        lines = [
            f"{org}\t{identifier}\t{reference.replace(_BACKSLASH, _ESCAPED)}\t"
            f"{mac or _NULL}\t{kind}\t{updated_at}\n"
            for org, identifier, reference, mac, kind in batch.fields
        ]
        yield "".join(lines).encode()


def _rows_of(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1])
