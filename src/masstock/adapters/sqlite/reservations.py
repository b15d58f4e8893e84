"""Reservations and their history in SQLite.

Each change is one unit of a group commit (see ``SqliteDatabase.write``),
with its history event in the same unit; the partial unique index keeps one
hold per device, and a unit sees every change of the units before it.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any
from uuid import UUID

from masstock.adapters.sqlite.database import (
    SqliteDatabase,
    from_text,
    maybe_time,
    to_text,
)
from masstock.domain.errors import DealerLimitReached
from masstock.domain.events import SYSTEM_ACTOR, EventKind, ReservationEvent
from masstock.domain.reservation import CloseReason, Reservation, Status
from masstock.service.ports import Change, KeyCompletion

_COLUMNS = (
    "id, org, device_id, dealer_id, is_sim, status, created_at, updated_at, "
    "expires_at, closed_at, closed_by, close_reason"
)
_INSERT = (
    "INSERT INTO reservations (id, org, device_id, dealer_id, is_sim, status, "
    "created_at, updated_at, expires_at) "
    "VALUES (?, ?, ?, ?, ?, 'CREATED', ?, ?, ?) "
    "ON CONFLICT (org, device_id) WHERE status = 'CREATED' DO NOTHING RETURNING id"
)
_HOLDER = (
    f"SELECT {_COLUMNS} FROM reservations "
    "WHERE org = ? AND device_id = ? AND status = 'CREATED'"
)
# Counting stops at the cap: a dealer over it costs no more than one at it.
_ACTIVE_OF_DEALER = (
    "SELECT count(*) FROM (SELECT 1 FROM reservations "
    "WHERE org = ? AND dealer_id = ? AND status = 'CREATED' "
    "AND (expires_at IS NULL OR expires_at > ?) LIMIT ?)"
)
_BY_ID = f"SELECT {_COLUMNS} FROM reservations WHERE id = ? AND org = ?"
# An expired hold closes at the moment it expired, whenever that is written
# down, so that it reads the same before and after.
_EXPIRE = (
    "UPDATE reservations SET status = 'CANCELLED', close_reason = 'EXPIRED', "
    "closed_by = NULL, closed_at = expires_at, updated_at = expires_at "
    "WHERE id = ? AND status = 'CREATED'"
)
_ACTIVE_HOLD_OF_DEALER = (
    "WHERE id = ? AND org = ? AND dealer_id = ? AND status = 'CREATED' "
    "AND (expires_at IS NULL OR expires_at > ?)"
)
_CLOSE = (
    "UPDATE reservations SET status = ?, close_reason = ?, closed_by = ?, "
    f"closed_at = ?, updated_at = ? {_ACTIVE_HOLD_OF_DEALER} RETURNING {_COLUMNS}"
)
_EXTEND = (
    "UPDATE reservations SET expires_at = ?, updated_at = ? "
    f"{_ACTIVE_HOLD_OF_DEALER} RETURNING {_COLUMNS}"
)
_DUE = (
    "SELECT id, org, expires_at FROM reservations "
    "WHERE status = 'CREATED' AND expires_at <= ? ORDER BY expires_at LIMIT ?"
)
_INSERT_EVENT = (
    "INSERT INTO reservation_events "
    "(reservation_id, org, kind, actor, at, request_id, expires_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_HISTORY = (
    "SELECT reservation_id, org, kind, actor, at, request_id, expires_at "
    "FROM reservation_events WHERE reservation_id = ? AND org = ? ORDER BY id"
)

_CLOSE_EVENTS = {
    Status.CANCELLED: EventKind.CANCELLED,
    Status.FINALIZED: EventKind.FINALIZED,
}


class SqliteReservationStore:
    """Reservations in SQLite, where a partial unique index allows one hold."""

    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database

    async def add(
        self,
        reservation: Reservation,
        *,
        request_id: str | None,
        completion: KeyCompletion | None = None,
        dealer_limit: int | None = None,
    ) -> Reservation:
        # One writer at a time: nothing can come between the count and the
        # insert, in this process or another.
        def _add(connection: sqlite3.Connection) -> Reservation:
            if dealer_limit is not None:
                _check_dealer_limit(connection, reservation, limit=dealer_limit)

            if _insert(connection, reservation, request_id=request_id):
                _complete(connection, completion, reservation)
                return reservation

            holder = reservation_from_row(
                connection.execute(
                    _HOLDER, (reservation.org, reservation.device_id)
                ).fetchone()
            )
            if not holder.is_expired_at(reservation.created_at):
                return holder

            _expire(connection, holder, request_id=request_id)
            _insert(connection, reservation, request_id=request_id)
            _complete(connection, completion, reservation)
            return reservation

        return await self._db.write(_add)

    async def get(self, org: str, reservation_id: UUID) -> Reservation | None:
        def _get(connection: sqlite3.Connection) -> Reservation | None:
            row = connection.execute(_BY_ID, (str(reservation_id), org)).fetchone()
            return None if row is None else reservation_from_row(row)

        return await self._db.read(_get)

    async def close(
        self,
        change: Change,
        *,
        status: Status,
        reason: CloseReason,
        completion: KeyCompletion | None = None,
    ) -> Reservation | None:
        at = to_text(change.at)
        values = (status.value, reason.value, change.dealer_id, at, at)

        def _close(connection: sqlite3.Connection) -> Reservation | None:
            row = connection.execute(_CLOSE, values + _where(change)).fetchone()
            if row is None:
                return None
            closed = reservation_from_row(row)
            _record(
                connection,
                closed,
                kind=_CLOSE_EVENTS[status],
                actor=change.dealer_id,
                at=change.at,
                request_id=change.request_id,
            )
            _complete(connection, completion, closed)
            return closed

        return await self._db.write(_close)

    async def extend(
        self,
        change: Change,
        *,
        until: datetime,
        completion: KeyCompletion | None = None,
    ) -> Reservation | None:
        values = (to_text(until), to_text(change.at))

        def _extend(connection: sqlite3.Connection) -> Reservation | None:
            row = connection.execute(_EXTEND, values + _where(change)).fetchone()
            if row is None:
                return None
            extended = reservation_from_row(row)
            _record(
                connection,
                extended,
                kind=EventKind.EXTENDED,
                actor=change.dealer_id,
                at=change.at,
                request_id=change.request_id,
            )
            _complete(connection, completion, extended)
            return extended

        return await self._db.write(_extend)

    async def expire_due(self, *, now: datetime, limit: int) -> dict[str, int]:
        def _expire_due(connection: sqlite3.Connection) -> dict[str, int]:
            due = connection.execute(_DUE, (to_text(now), limit)).fetchall()
            expired: dict[str, int] = {}
            for reservation_id, org, expires_at in due:
                expired[org] = expired.get(org, 0) + 1
                connection.execute(_EXPIRE, (reservation_id,))
                connection.execute(
                    _INSERT_EVENT,
                    (
                        reservation_id,
                        org,
                        "EXPIRED",
                        SYSTEM_ACTOR,
                        expires_at,
                        None,
                        None,
                    ),
                )
            return expired

        return await self._db.write(_expire_due)

    async def history(self, org: str, reservation_id: UUID) -> list[ReservationEvent]:
        def _history(connection: sqlite3.Connection) -> list[ReservationEvent]:
            rows = connection.execute(_HISTORY, (str(reservation_id), org)).fetchall()
            return [
                ReservationEvent(
                    reservation_id=UUID(row[0]),
                    org=row[1],
                    kind=EventKind(row[2]),
                    actor=row[3],
                    at=from_text(row[4]),
                    request_id=row[5],
                    expires_at=maybe_time(row[6]),
                )
                for row in rows
            ]

        return await self._db.read(_history)


def _check_dealer_limit(
    connection: sqlite3.Connection, reservation: Reservation, *, limit: int
) -> None:
    """Raise DealerLimitReached if the dealer is at ``limit`` and the device free."""
    at = to_text(reservation.created_at)
    (active,) = connection.execute(
        _ACTIVE_OF_DEALER, (reservation.org, reservation.dealer_id, at, limit)
    ).fetchone()
    if active < limit:
        return

    row = connection.execute(
        _HOLDER, (reservation.org, reservation.device_id)
    ).fetchone()
    if row is None or reservation_from_row(row).is_expired_at(reservation.created_at):
        raise DealerLimitReached(reservation.dealer_id, limit)


def _insert(
    connection: sqlite3.Connection,
    reservation: Reservation,
    *,
    request_id: str | None,
) -> bool:
    created_at = to_text(reservation.created_at)
    expires_at = (
        None if reservation.expires_at is None else to_text(reservation.expires_at)
    )
    inserted = connection.execute(
        _INSERT,
        (
            str(reservation.id),
            reservation.org,
            reservation.device_id,
            reservation.dealer_id,
            reservation.is_sim,
            created_at,
            created_at,
            expires_at,
        ),
    ).fetchone()
    if inserted is None:
        return False
    _record(
        connection,
        reservation,
        kind=EventKind.CREATED,
        actor=reservation.dealer_id,
        at=reservation.created_at,
        request_id=request_id,
    )
    return True


def _expire(
    connection: sqlite3.Connection, holder: Reservation, *, request_id: str | None
) -> None:
    connection.execute(_EXPIRE, (str(holder.id),))
    expired = holder.expired()
    _record(
        connection,
        expired,
        kind=EventKind.EXPIRED,
        actor=SYSTEM_ACTOR,
        at=expired.updated_at,
        request_id=request_id,
    )


def _record(
    connection: sqlite3.Connection,
    reservation: Reservation,
    *,
    kind: EventKind,
    actor: str,
    at: datetime,
    request_id: str | None,
) -> None:
    expires_at = (
        None if reservation.expires_at is None else to_text(reservation.expires_at)
    )
    connection.execute(
        _INSERT_EVENT,
        (
            str(reservation.id),
            reservation.org,
            kind.value,
            actor,
            to_text(at),
            request_id,
            expires_at if kind in (EventKind.CREATED, EventKind.EXTENDED) else None,
        ),
    )


def _complete(
    connection: sqlite3.Connection,
    completion: KeyCompletion | None,
    result: Reservation,
) -> None:
    if completion is None:
        return
    stored = completion.render(result)
    connection.execute(
        "UPDATE idempotency_keys SET status_code = ?, media_type = ?, body = ? "
        "WHERE org = ? AND caller = ? AND key = ?",
        (
            stored.status,
            stored.media_type,
            stored.body,
            completion.org,
            completion.caller,
            completion.key,
        ),
    )
    completion.written = True


def _where(change: Change) -> tuple[str, ...]:
    return (
        str(change.reservation_id),
        change.org,
        change.dealer_id,
        to_text(change.at),
    )


def reservation_from_row(row: Any) -> Reservation:
    """A reservation from a row of its columns, in the order of ``_COLUMNS``."""
    return Reservation(
        id=UUID(row[0]),
        org=row[1],
        device_id=row[2],
        dealer_id=row[3],
        is_sim=bool(row[4]),
        status=Status(row[5]),
        created_at=from_text(row[6]),
        updated_at=from_text(row[7]),
        expires_at=maybe_time(row[8]),
        closed_at=maybe_time(row[9]),
        closed_by=row[10],
        close_reason=None if row[11] is None else CloseReason(row[11]),
    )
