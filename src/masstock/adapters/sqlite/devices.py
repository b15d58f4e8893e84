"""The embedded device catalog, in the SQLite file."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import datetime

from masstock.adapters.sqlite.database import SqliteDatabase, to_text, write_transaction
from masstock.domain.device import Device, DeviceBatch, DeviceKind

_UPSERT_DEVICE = (
    "INSERT INTO devices (org, identifier, reference, mac, kind, updated_at) "
    "VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (org, identifier) DO UPDATE SET reference = excluded.reference, "
    "mac = excluded.mac, kind = excluded.kind, updated_at = excluded.updated_at"
)


class SqliteDeviceCatalog:
    """The embedded device catalog, behind the device directory port."""

    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database

    async def find(
        self, org: str, identifier: str, *, is_sim: bool | None = None
    ) -> Device | None:
        def _find(connection: sqlite3.Connection) -> Device | None:
            row = connection.execute(
                "SELECT reference, mac, kind FROM devices "
                "WHERE org = ? AND identifier = ?",
                (org, identifier),
            ).fetchone()
            if row is None:
                return None
            return Device(
                org=org,
                identifier=identifier,
                reference=row[0],
                mac=row[1],
                kind=DeviceKind(row[2]),
            )

        return await self._db.read(_find)

    async def save_devices(
        self, batches: Iterable[DeviceBatch], *, at: datetime
    ) -> int:
        """Upsert every device in a transaction of its own: all of them, or none."""
        updated_at = to_text(at)

        def _save(connection: sqlite3.Connection) -> int:
            saved = 0
            with write_transaction(connection):
                for batch in batches:
                    connection.executemany(
                        _UPSERT_DEVICE,
                        [(*fields, updated_at) for fields in batch.fields],
                    )
                    saved += len(batch)
            return saved

        return await self._db.run(_save)
