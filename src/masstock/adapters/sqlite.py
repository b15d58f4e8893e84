"""The embedded store: one SQLite file, one connection, one thread.

Every unit of work runs whole on the connection's own thread, so the
transactions of concurrent requests never interleave; ``BEGIN IMMEDIATE``
takes the file's write lock first, which keeps other processes (an import
beside a running server) from slipping in between a read and a write.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import structlog

from masstock.domain.device import Device, DeviceKind
from masstock.domain.errors import StorageUnavailable
from masstock.domain.reservation import Reservation, Status

T = TypeVar("T")

log = structlog.get_logger(__name__)

_RESERVATION_COLUMNS = (
    "id, org, device_id, dealer_id, is_sim, status, "
    "created_at, updated_at, closed_at, closed_by"
)

_UPSERT_DEVICE = (
    "INSERT INTO devices (org, identifier, reference, mac, kind, updated_at) "
    "VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (org, identifier) DO UPDATE SET reference = excluded.reference, "
    "mac = excluded.mac, kind = excluded.kind, updated_at = excluded.updated_at"
)


class SqliteDatabase:
    """A SQLite file opened for durable, serialized work."""

    def __init__(self, path: str, *, busy_timeout: float = 5.0) -> None:
        self._path = path
        self._busy_ms = int(busy_timeout * 1000)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="sqlite")
        self._connection: sqlite3.Connection | None = None

    async def open(self) -> None:
        await self.run(lambda _: None)

    async def close(self) -> None:
        def _close() -> None:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

        await asyncio.get_running_loop().run_in_executor(self._executor, _close)
        self._executor.shutdown()

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` on the connection's thread; map SQLite's failures."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._call, work)

    def _call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        try:
            return work(self._connect())
        except sqlite3.OperationalError as exc:
            log.warning("database unavailable", error=repr(exc))
            raise StorageUnavailable from exc

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(
                self._path, isolation_level=None, check_same_thread=False
            )
            connection.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = FULL")
            self._connection = connection
        return self._connection


@contextmanager
def write_transaction(connection: sqlite3.Connection) -> Iterator[None]:
    """Hold the file's write lock from the first read to the commit."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


class SqliteReservationStore:
    """Reservations in SQLite; the partial unique index keeps one hold per device."""

    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database

    async def add(self, reservation: Reservation) -> Reservation:
        def _add(connection: sqlite3.Connection) -> Reservation:
            with write_transaction(connection):
                inserted = connection.execute(
                    "INSERT INTO reservations (id, org, device_id, dealer_id, is_sim, "
                    "status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (org, device_id) WHERE status = 'CREATED' "
                    "DO NOTHING RETURNING id",
                    (
                        str(reservation.id),
                        reservation.org,
                        reservation.device_id,
                        reservation.dealer_id,
                        reservation.is_sim,
                        reservation.status.value,
                        reservation.created_at.isoformat(),
                        reservation.updated_at.isoformat(),
                    ),
                ).fetchone()
                if inserted is not None:
                    return reservation
                holder = connection.execute(
                    f"SELECT {_RESERVATION_COLUMNS} FROM reservations "
                    "WHERE org = ? AND device_id = ? AND status = 'CREATED'",
                    (reservation.org, reservation.device_id),
                ).fetchone()
            return _reservation(holder)

        return await self._db.run(_add)

    async def get(self, org: str, reservation_id: UUID) -> Reservation | None:
        def _get(connection: sqlite3.Connection) -> Reservation | None:
            row = connection.execute(
                f"SELECT {_RESERVATION_COLUMNS} FROM reservations "
                "WHERE id = ? AND org = ?",
                (str(reservation_id), org),
            ).fetchone()
            return None if row is None else _reservation(row)

        return await self._db.run(_get)

    async def close(
        self,
        *,
        org: str,
        reservation_id: UUID,
        dealer_id: str,
        status: Status,
        at: datetime,
    ) -> Reservation | None:
        def _close(connection: sqlite3.Connection) -> Reservation | None:
            with write_transaction(connection):
                row = connection.execute(
                    "UPDATE reservations SET status = ?, updated_at = ?, "
                    "closed_at = ?, closed_by = ? "
                    "WHERE id = ? AND org = ? AND status = 'CREATED' AND dealer_id = ? "
                    f"RETURNING {_RESERVATION_COLUMNS}",
                    (
                        status.value,
                        at.isoformat(),
                        at.isoformat(),
                        dealer_id,
                        str(reservation_id),
                        org,
                        dealer_id,
                    ),
                ).fetchone()
            return None if row is None else _reservation(row)

        return await self._db.run(_close)


class SqliteDeviceCatalog:
    """The embedded device catalog, behind the device directory port."""

    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database

    async def find(self, org: str, identifier: str) -> Device | None:
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

        return await self._db.run(_find)

    async def save_devices(
        self, batches: Iterable[Sequence[Device]], *, at: datetime
    ) -> int:
        """Upsert every device under one write lock: all of them, or none."""
        updated_at = at.isoformat()

        def _save(connection: sqlite3.Connection) -> int:
            saved = 0
            with write_transaction(connection):
                for batch in batches:
                    connection.executemany(
                        _UPSERT_DEVICE, (_device_row(d, updated_at) for d in batch)
                    )
                    saved += len(batch)
            return saved

        return await self._db.run(_save)


def _device_row(device: Device, updated_at: str) -> tuple[str | None, ...]:
    return (
        device.org,
        device.identifier,
        device.reference,
        device.mac,
        device.kind.value,
        updated_at,
    )


def _reservation(row: Any) -> Reservation:
    return Reservation(
        id=UUID(row[0]),
        org=row[1],
        device_id=row[2],
        dealer_id=row[3],
        is_sim=bool(row[4]),
        status=Status(row[5]),
        created_at=datetime.fromisoformat(row[6]),
        updated_at=datetime.fromisoformat(row[7]),
        closed_at=None if row[8] is None else datetime.fromisoformat(row[8]),
        closed_by=row[9],
    )
