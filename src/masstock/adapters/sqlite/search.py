"""Searching reservations in SQLite, newest first, by keyset.

Times are fixed-width UTC text (see ``to_text``), so comparing the text
compares the times, and the indexes on ``(org, dealer_id | device_id |
nothing, created_at, id)`` serve both the filter and the order.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from masstock.adapters.sqlite.database import (
    SqliteDatabase,
    to_text,
)
from masstock.adapters.sqlite.reservations import reservation_from_row
from masstock.domain.reservation import Reservation, Status
from masstock.domain.search import Position, SearchFilters

_SELECT = (
    "SELECT id, org, device_id, dealer_id, is_sim, status, created_at, "
    "updated_at, expires_at, closed_at, closed_by, close_reason "
    "FROM reservations WHERE org = :org"
)
_ORDER = " ORDER BY created_at DESC, id DESC LIMIT :limit"
# What each status means at :now, as ``Reservation.as_of`` reads it.
_STATUS = {
    Status.CREATED: "status = 'CREATED' AND (expires_at IS NULL OR expires_at > :now)",
    Status.CANCELLED: (
        "(status = 'CANCELLED' OR (status = 'CREATED' AND expires_at <= :now))"
    ),
    Status.FINALIZED: "status = 'FINALIZED'",
}
# (created_at, id) < (:at, :id), spelt so that created_at bounds the index range.
_AFTER = "created_at <= :at AND (created_at < :at OR id < :id)"


class SqliteReservationSearch:
    """Reservation search over the embedded database."""

    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database

    async def search(
        self,
        filters: SearchFilters,
        *,
        after: Position | None,
        limit: int,
        now: datetime,
    ) -> list[Reservation]:
        query, values = statement(filters, after=after, limit=limit, now=now)

        def _search(connection: sqlite3.Connection) -> list[Reservation]:
            return [
                reservation_from_row(row) for row in connection.execute(query, values)
            ]

        return await self._db.read(_search)


def statement(
    filters: SearchFilters,
    *,
    after: Position | None,
    limit: int,
    now: datetime,
) -> tuple[str, dict[str, object]]:
    """The search's SQL and its values: fixed fragments, every value a parameter."""
    conditions = [_SELECT]
    if filters.dealer_id is not None:
        conditions.append("dealer_id = :dealer_id")
    if filters.device_id is not None:
        conditions.append("device_id = :device_id")
    if filters.status is not None:
        conditions.append(_STATUS[filters.status])
    if filters.created_after is not None:
        conditions.append("created_at >= :created_after")
    if filters.created_before is not None:
        conditions.append("created_at < :created_before")
    if after is not None:
        conditions.append(_AFTER)

    values: dict[str, object] = {
        "org": filters.org,
        "dealer_id": filters.dealer_id,
        "device_id": filters.device_id,
        "now": to_text(now),
        "created_after": _maybe_text(filters.created_after),
        "created_before": _maybe_text(filters.created_before),
        "at": None if after is None else to_text(after.created_at),
        "id": None if after is None else str(after.reservation_id),
        "limit": limit,
    }
    return " AND ".join(conditions) + _ORDER, values


def _maybe_text(moment: datetime | None) -> str | None:
    return None if moment is None else to_text(moment)
