"""The device catalog in PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime

from masstock.adapters.postgres.database import PostgresDatabase
from masstock.domain.device import Device, DeviceKind

# An import is one long transaction by design; the request timeout that guards
# the service's short statements would cut a large one short.
_IMPORT_TIMEOUT = 3600.0

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

    async def find(
        self, org: str, identifier: str, *, is_sim: bool | None = None
    ) -> Device | None:
        async with self._db.connection() as connection:
            row = await connection.fetchrow(
                "SELECT reference, mac, kind FROM devices "
                "WHERE org = $1 AND identifier = $2",
                org,
                identifier,
            )
        if row is None:
            return None
        return Device(
            org=org,
            identifier=identifier,
            reference=row["reference"],
            mac=row["mac"],
            kind=DeviceKind(row["kind"]),
        )

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
