"""Reservations and their history in PostgreSQL.

Each change is one statement: a data-modifying CTE writes the reservation and
appends its history event together, in autocommit, so that the common path is
one round trip.  Only taking over an expired hold needs a transaction, and so
does a create under a cap on the holds of a dealer (see ``_add_capped``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from datetime import datetime
from uuid import UUID

import asyncpg
import structlog

from masstock.adapters.batching import BatchedLookups
from masstock.adapters.postgres.database import PostgresDatabase
from masstock.domain.errors import DealerLimitReached, StorageUnavailable
from masstock.domain.events import SYSTEM_ACTOR, EventKind, ReservationEvent
from masstock.domain.reservation import CloseReason, Reservation, Status
from masstock.service.ports import Change, KeyCompletion

log = structlog.get_logger(__name__)

# Under READ COMMITTED the insert can lose to a holder that the next read
# no longer finds (cancelled in between); each try is cheap and the race rare.
_ADD_ATTEMPTS = 5

# One sweeper at a time across every replica: the others skip their turn.
SWEEPER_LOCK_KEY = 0x6D617374  # "mast"

_COLUMNS = (
    "id, org, device_id, dealer_id, is_sim, status, created_at, updated_at, "
    "expires_at, closed_at, closed_by, close_reason"
)
_EVENT_COLUMNS = "reservation_id, org, kind, actor, at, request_id, expires_at"

ADD_RESERVATION = f"""
WITH held AS (
    INSERT INTO reservations (id, org, device_id, dealer_id, is_sim, status,
                              created_at, updated_at, expires_at)
    VALUES ($1, $2, $3, $4, $5, 'CREATED', $6, $6, $7)
    ON CONFLICT (org, device_id) WHERE status = 'CREATED' DO NOTHING
    RETURNING id, org, dealer_id, created_at, expires_at
), recorded AS (
    INSERT INTO reservation_events ({_EVENT_COLUMNS})
    SELECT id, org, 'CREATED', dealer_id, created_at, $8, expires_at FROM held
)
SELECT id FROM held
"""
_HOLDER = (
    f"SELECT {_COLUMNS} FROM reservations "
    "WHERE org = $1 AND device_id = $2 AND status = 'CREATED'"
)
# Creates for one dealer queue here, whichever replica runs them, so that each
# counts the holds of those before it.
_LOCK_DEALER = "SELECT pg_advisory_xact_lock($1)"
# Counting stops at the cap: a dealer over it costs no more than one at it.
# The partial index of active holds by dealer serves it.
_ACTIVE_OF_DEALER = """
SELECT count(*) FROM (
    SELECT 1 FROM reservations
    WHERE org = $1 AND dealer_id = $2 AND status = 'CREATED'
      AND (expires_at IS NULL OR expires_at > $3)
    LIMIT $4
) AS active
"""
_BY_ID = f"SELECT {_COLUMNS} FROM reservations WHERE id = $1 AND org = $2"
_BY_IDS = f"SELECT {_COLUMNS} FROM reservations WHERE id = ANY($1::uuid[])"
# Reads by id share round trips under load, as device lookups do.
_READ_SHARE_OF_POOL = 4
_MAX_BATCH = 64

# An expired hold closes at the moment it expired, whenever that is written
# down, so that it reads the same before and after.
_EXPIRED = (
    "status = 'CANCELLED', close_reason = 'EXPIRED', closed_by = NULL, "
    "closed_at = r.expires_at, updated_at = r.expires_at"
)
_RECORD_EXPIRED = f"""
INSERT INTO reservation_events ({_EVENT_COLUMNS})
SELECT id, org, 'EXPIRED', '{SYSTEM_ACTOR}', expires_at, $3, NULL FROM closed
"""
_EXPIRE_HOLDER = f"""
WITH closed AS (
    UPDATE reservations r SET {_EXPIRED}
    WHERE r.id = $1 AND r.status = 'CREATED' AND r.expires_at <= $2
    RETURNING r.id, r.org, r.expires_at
), recorded AS ({_RECORD_EXPIRED})
SELECT count(*) FROM closed
"""
_EXPIRE_DUE = f"""
WITH due AS (
    SELECT id FROM reservations
    WHERE status = 'CREATED' AND expires_at <= $1
    ORDER BY expires_at LIMIT $2
    FOR UPDATE SKIP LOCKED
), closed AS (
    UPDATE reservations r SET {_EXPIRED}
    FROM due WHERE r.id = due.id AND r.status = 'CREATED'
    RETURNING r.id, r.org, r.expires_at
), recorded AS ({_RECORD_EXPIRED.replace("$3", "NULL")})
SELECT org, count(*) AS expired FROM closed GROUP BY org
"""

_ACTIVE_HOLD_OF_DEALER = (
    "WHERE id = $1 AND org = $2 AND dealer_id = $3 AND status = 'CREATED' "
    "AND (expires_at IS NULL OR expires_at > $4)"
)
# The event's kind is the new status's name: CANCELLED or FINALIZED.
_CLOSE = f"""
WITH changed AS (
    UPDATE reservations
    SET status = $6, close_reason = $7, closed_by = $3, closed_at = $4, updated_at = $4
    {_ACTIVE_HOLD_OF_DEALER}
    RETURNING {_COLUMNS}
), recorded AS (
    INSERT INTO reservation_events ({_EVENT_COLUMNS})
    SELECT id, org, $6, $3, $4, $5, NULL FROM changed
)
SELECT {_COLUMNS} FROM changed
"""
_EXTEND = f"""
WITH changed AS (
    UPDATE reservations SET expires_at = $6, updated_at = $4
    {_ACTIVE_HOLD_OF_DEALER}
    RETURNING {_COLUMNS}
), recorded AS (
    INSERT INTO reservation_events ({_EVENT_COLUMNS})
    SELECT id, org, 'EXTENDED', $3, $4, $5, expires_at FROM changed
)
SELECT {_COLUMNS} FROM changed
"""
_HISTORY = (
    f"SELECT {_EVENT_COLUMNS} FROM reservation_events "
    "WHERE reservation_id = $1 AND org = $2 ORDER BY id"
)


class PostgresReservationStore:
    """Reservations in PostgreSQL, where a partial unique index allows one hold."""

    def __init__(self, database: PostgresDatabase) -> None:
        self._db = database
        self._reads: BatchedLookups[tuple[str, UUID], Reservation] = BatchedLookups(
            self._get_many,
            in_flight=max(1, database.pool_size // _READ_SHARE_OF_POOL),
            max_batch=_MAX_BATCH,
        )

    async def add(
        self,
        reservation: Reservation,
        *,
        request_id: str | None,
        completion: KeyCompletion | None = None,
        dealer_limit: int | None = None,
    ) -> Reservation:
        if dealer_limit is not None:
            return await self._add_capped(
                reservation,
                request_id=request_id,
                completion=completion,
                limit=dealer_limit,
            )

        async with self._db.connection() as connection:
            for _ in range(_ADD_ATTEMPTS):
                async with _maybe_transaction(connection, completion):
                    if await _insert(connection, reservation, request_id=request_id):
                        await _complete(connection, completion, reservation)
                        return reservation

                row = await connection.fetchrow(
                    _HOLDER, reservation.org, reservation.device_id
                )
                if row is None:
                    continue
                holder = reservation_from_row(row)
                if not holder.is_expired_at(reservation.created_at):
                    return holder

                async with connection.transaction():
                    await connection.fetchval(
                        _EXPIRE_HOLDER, holder.id, reservation.created_at, request_id
                    )
                    if await _insert(connection, reservation, request_id=request_id):
                        await _complete(connection, completion, reservation)
                        return reservation

        raise _unsettled(reservation)

    async def _add_capped(
        self,
        reservation: Reservation,
        *,
        request_id: str | None,
        completion: KeyCompletion | None,
        limit: int,
    ) -> Reservation:
        """``add`` for a dealer that may hold at most ``limit`` devices at once."""
        async with self._db.connection() as connection:
            for _ in range(_ADD_ATTEMPTS):
                async with connection.transaction():
                    holder = await _add_under_dealer_lock(
                        connection,
                        reservation,
                        request_id=request_id,
                        completion=completion,
                        limit=limit,
                    )
                if holder is not None:
                    return holder

        raise _unsettled(reservation)

    async def get(self, org: str, reservation_id: UUID) -> Reservation | None:
        return await self._reads.get((org, reservation_id))

    async def _get_many(
        self, keys: Sequence[tuple[str, UUID]]
    ) -> dict[tuple[str, UUID], Reservation]:
        async with self._db.connection() as connection:
            if len(keys) == 1:
                org, reservation_id = keys[0]
                row = await connection.fetchrow(_BY_ID, reservation_id, org)
                rows = [] if row is None else [row]
            else:
                rows = await connection.fetch(_BY_IDS, [rid for _, rid in keys])
        found = (reservation_from_row(row) for row in rows)
        return {(reservation.org, reservation.id): reservation for reservation in found}

    async def close(
        self,
        change: Change,
        *,
        status: Status,
        reason: CloseReason,
        completion: KeyCompletion | None = None,
    ) -> Reservation | None:
        async with (
            self._db.connection() as connection,
            _maybe_transaction(connection, completion),
        ):
            row = await connection.fetchrow(
                _CLOSE, *_where(change), status.value, reason.value
            )
            closed = None if row is None else reservation_from_row(row)
            if closed is not None:
                await _complete(connection, completion, closed)
        return closed

    async def extend(
        self,
        change: Change,
        *,
        until: datetime,
        completion: KeyCompletion | None = None,
    ) -> Reservation | None:
        async with (
            self._db.connection() as connection,
            _maybe_transaction(connection, completion),
        ):
            row = await connection.fetchrow(_EXTEND, *_where(change), until)
            extended = None if row is None else reservation_from_row(row)
            if extended is not None:
                await _complete(connection, completion, extended)
        return extended

    async def expire_due(self, *, now: datetime, limit: int) -> dict[str, int]:
        async with self._db.connection() as connection, connection.transaction():
            if not await connection.fetchval(
                "SELECT pg_try_advisory_xact_lock($1)", SWEEPER_LOCK_KEY
            ):
                return {}
            rows = await connection.fetch(_EXPIRE_DUE, now, limit)
        return {row["org"]: row["expired"] for row in rows}

    async def history(self, org: str, reservation_id: UUID) -> list[ReservationEvent]:
        async with self._db.connection() as connection:
            rows = await connection.fetch(_HISTORY, reservation_id, org)
        return [
            ReservationEvent(
                reservation_id=row["reservation_id"],
                org=row["org"],
                kind=EventKind(row["kind"]),
                actor=row["actor"],
                at=row["at"],
                request_id=row["request_id"],
                expires_at=row["expires_at"],
            )
            for row in rows
        ]


async def _insert(
    connection: asyncpg.Connection,
    reservation: Reservation,
    *,
    request_id: str | None,
) -> bool:
    inserted = await connection.fetchval(
        ADD_RESERVATION,
        reservation.id,
        reservation.org,
        reservation.device_id,
        reservation.dealer_id,
        reservation.is_sim,
        reservation.created_at,
        reservation.expires_at,
        request_id,
    )
    return inserted is not None


async def _add_under_dealer_lock(
    connection: asyncpg.Connection,
    reservation: Reservation,
    *,
    request_id: str | None,
    completion: KeyCompletion | None,
    limit: int,
) -> Reservation | None:
    """One try at ``add`` under the cap, inside the caller's transaction: the
    holder, or None when the device changed hands meanwhile.

    The lock on the dealer comes first and the count is a statement of its
    own: under READ COMMITTED each statement sees what committed before it
    began, so the count sees every hold of the dealer's earlier creates, and
    the dealer's next create counts only once this one has committed.
    """
    at = reservation.created_at
    await connection.execute(_LOCK_DEALER, _dealer_lock_key(reservation))
    active = await connection.fetchval(
        _ACTIVE_OF_DEALER, reservation.org, reservation.dealer_id, at, limit
    )
    if active >= limit:
        holder = await _holder(connection, reservation)
        if holder is not None and not holder.is_expired_at(at):
            return holder
        raise DealerLimitReached(reservation.dealer_id, limit)

    if await _insert(connection, reservation, request_id=request_id):
        await _complete(connection, completion, reservation)
        return reservation

    holder = await _holder(connection, reservation)
    if holder is None or not holder.is_expired_at(at):
        return holder
    await connection.fetchval(_EXPIRE_HOLDER, holder.id, at, request_id)
    if await _insert(connection, reservation, request_id=request_id):
        await _complete(connection, completion, reservation)
        return reservation
    return None


async def _holder(
    connection: asyncpg.Connection, reservation: Reservation
) -> Reservation | None:
    row = await connection.fetchrow(_HOLDER, reservation.org, reservation.device_id)
    return None if row is None else reservation_from_row(row)


def _dealer_lock_key(reservation: Reservation) -> int:
    """The advisory lock of the reservation's dealer in its org, in any process."""
    digest = hashlib.blake2b(
        f"{reservation.org}/{reservation.dealer_id}".encode(), digest_size=8
    ).digest()
    return int.from_bytes(digest, "big", signed=True)


def _unsettled(reservation: Reservation) -> StorageUnavailable:
    log.warning(
        "device changed hands too often to settle",
        org=reservation.org,
        device_id=reservation.device_id,
    )
    return StorageUnavailable()


def _maybe_transaction(
    connection: asyncpg.Connection, completion: KeyCompletion | None
) -> AbstractAsyncContextManager[object]:
    """A transaction when an answer must commit with the change, else autocommit."""
    if completion is None:
        return nullcontext()
    transaction: AbstractAsyncContextManager[object] = connection.transaction()
    return transaction


async def _complete(
    connection: asyncpg.Connection,
    completion: KeyCompletion | None,
    result: Reservation,
) -> None:
    if completion is None:
        return
    stored = completion.render(result)
    await connection.execute(
        "UPDATE idempotency_keys SET status_code = $1, media_type = $2, body = $3 "
        "WHERE org = $4 AND caller = $5 AND key = $6",
        stored.status,
        stored.media_type,
        stored.body,
        completion.org,
        completion.caller,
        completion.key,
    )
    completion.written = True


def _where(change: Change) -> tuple[object, ...]:
    return (
        change.reservation_id,
        change.org,
        change.dealer_id,
        change.at,
        change.request_id,
    )


def reservation_from_row(row: asyncpg.Record) -> Reservation:
    """A reservation from a row of its columns, in the order of ``_COLUMNS``."""
    return Reservation(
        id=row["id"],
        org=row["org"],
        device_id=row["device_id"],
        dealer_id=row["dealer_id"],
        is_sim=row["is_sim"],
        status=Status(row["status"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        expires_at=row["expires_at"],
        closed_at=row["closed_at"],
        closed_by=row["closed_by"],
        close_reason=None
        if row["close_reason"] is None
        else CloseReason(row["close_reason"]),
    )
