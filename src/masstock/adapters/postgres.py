"""The production store: PostgreSQL through an asyncpg pool.

One statement is one whole change here, so statements run in autocommit:
an explicit transaction would only add round trips.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from uuid import UUID

import asyncpg
import structlog

from masstock.domain.device import Device, DeviceKind
from masstock.domain.errors import StorageUnavailable
from masstock.domain.reservation import Reservation, Status

log = structlog.get_logger(__name__)

# Failures of the database or of the way to it, as opposed to bugs in our SQL:
# connection loss, admin shutdown, too many clients, a read-only standby,
# serialization failures and deadlocks.  Everything else is left to surface
# as an internal error.
_UNAVAILABLE = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.OperatorInterventionError,
    asyncpg.InsufficientResourcesError,
    asyncpg.ReadOnlySQLTransactionError,
    asyncpg.TransactionRollbackError,
)

# Under READ COMMITTED the insert can lose to a holder that the next read
# no longer finds (cancelled in between); each try is cheap and the race rare.
_ADD_ATTEMPTS = 5

_RESERVATION_COLUMNS = (
    "id, org, device_id, dealer_id, is_sim, status, "
    "created_at, updated_at, closed_at, closed_by"
)

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


async def _keep_session(connection: asyncpg.Connection) -> None:
    # Nothing we do leaves session state behind, so skip asyncpg's reset round
    # trip on release; only a transaction cut short by cancellation needs undoing.
    if connection.is_in_transaction():
        await connection.execute("ROLLBACK")


class PostgresDatabase:
    """A pool of connections to one PostgreSQL database."""

    def __init__(self, url: str, *, pool_size: int, timeout: float) -> None:
        self._url = url
        self._pool_size = pool_size
        self._timeout = timeout
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(
                self._url,
                min_size=1,
                max_size=self._pool_size,
                timeout=self._timeout,
                command_timeout=self._timeout,
                reset=_keep_session,
                server_settings={"application_name": "masstock"},
            )
        except _UNAVAILABLE as exc:
            log.warning("database unavailable", error=repr(exc))
            raise StorageUnavailable from exc

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection; the database's failures become StorageUnavailable."""
        if self._pool is None:
            raise RuntimeError("PostgresDatabase.open() was not awaited")
        try:
            async with self._pool.acquire(timeout=self._timeout) as connection:
                yield connection
        except _UNAVAILABLE as exc:
            log.warning("database unavailable", error=repr(exc))
            raise StorageUnavailable from exc


class PostgresReservationStore:
    """Reservations in PostgreSQL, where a partial unique index allows one hold."""

    def __init__(self, database: PostgresDatabase) -> None:
        self._db = database

    async def add(self, reservation: Reservation) -> Reservation:
        async with self._db.connection() as connection:
            for _ in range(_ADD_ATTEMPTS):
                inserted = await connection.fetchval(
                    "INSERT INTO reservations (id, org, device_id, dealer_id, is_sim, "
                    "status, created_at, updated_at) "
                    "VALUES ($1, $2, $3, $4, $5, $6, $7, $7) "
                    "ON CONFLICT (org, device_id) WHERE status = 'CREATED' "
                    "DO NOTHING RETURNING id",
                    reservation.id,
                    reservation.org,
                    reservation.device_id,
                    reservation.dealer_id,
                    reservation.is_sim,
                    reservation.status.value,
                    reservation.created_at,
                )
                if inserted is not None:
                    return reservation

                holder = await connection.fetchrow(
                    f"SELECT {_RESERVATION_COLUMNS} FROM reservations "
                    "WHERE org = $1 AND device_id = $2 AND status = 'CREATED'",
                    reservation.org,
                    reservation.device_id,
                )
                if holder is not None:
                    return _reservation(holder)

        log.warning(
            "device changed hands too often to settle",
            org=reservation.org,
            device_id=reservation.device_id,
        )
        raise StorageUnavailable

    async def get(self, org: str, reservation_id: UUID) -> Reservation | None:
        async with self._db.connection() as connection:
            row = await connection.fetchrow(
                f"SELECT {_RESERVATION_COLUMNS} FROM reservations "
                "WHERE id = $1 AND org = $2",
                reservation_id,
                org,
            )
        return None if row is None else _reservation(row)

    async def close(
        self,
        *,
        org: str,
        reservation_id: UUID,
        dealer_id: str,
        status: Status,
        at: datetime,
    ) -> Reservation | None:
        async with self._db.connection() as connection:
            row = await connection.fetchrow(
                "UPDATE reservations SET status = $1, updated_at = $2, "
                "closed_at = $2, closed_by = $3 "
                "WHERE id = $4 AND org = $5 AND status = 'CREATED' AND dealer_id = $3 "
                f"RETURNING {_RESERVATION_COLUMNS}",
                status.value,
                at,
                dealer_id,
                reservation_id,
                org,
            )
        return None if row is None else _reservation(row)


class PostgresDeviceCatalog:
    """The device catalog in PostgreSQL, behind the device directory port."""

    def __init__(self, database: PostgresDatabase) -> None:
        self._db = database

    async def find(self, org: str, identifier: str) -> Device | None:
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


def _reservation(row: asyncpg.Record) -> Reservation:
    return Reservation(
        id=row["id"],
        org=row["org"],
        device_id=row["device_id"],
        dealer_id=row["dealer_id"],
        is_sim=row["is_sim"],
        status=Status(row["status"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        closed_at=row["closed_at"],
        closed_by=row["closed_by"],
    )
