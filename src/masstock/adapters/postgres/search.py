"""Searching reservations in PostgreSQL, newest first, by keyset.

Only the conditions a search uses are in its statement, so that the planner
sees ``org = $1 AND dealer_id = $2`` (or ``device_id``, or neither) and walks
the matching ``(org, ..., created_at, id)`` index backwards: no sort, and a
page reads about as many rows as it shows, however deep it is.
"""

from __future__ import annotations

from datetime import datetime

from masstock.adapters.postgres.database import PostgresDatabase
from masstock.adapters.postgres.reservations import reservation_from_row
from masstock.domain.reservation import Reservation, Status
from masstock.domain.search import Position, SearchFilters

_SELECT = (
    "SELECT id, org, device_id, dealer_id, is_sim, status, created_at, "
    "updated_at, expires_at, closed_at, closed_by, close_reason "
    "FROM reservations WHERE org = $1"
)
# What each status means at {now}, as ``Reservation.as_of`` reads it.
_STATUS = {
    Status.CREATED: "status = 'CREATED' AND (expires_at IS NULL OR expires_at > {now})",
    Status.CANCELLED: (
        "(status = 'CANCELLED' OR (status = 'CREATED' AND expires_at <= {now}))"
    ),
    Status.FINALIZED: "status = 'FINALIZED'",
}


class PostgresReservationSearch:
    """Reservation search over the production database."""

    def __init__(self, database: PostgresDatabase) -> None:
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
        async with self._db.connection() as connection:
            rows = await connection.fetch(query, *values)
        return [reservation_from_row(row) for row in rows]


def statement(
    filters: SearchFilters,
    *,
    after: Position | None,
    limit: int,
    now: datetime,
) -> tuple[str, list[object]]:
    """The search's SQL and its values: fixed fragments, every value a parameter."""
    values: list[object] = [filters.org]

    def slot(value: object) -> str:
        values.append(value)
        return f"${len(values)}"

    conditions = [_SELECT]
    if filters.dealer_id is not None:
        conditions.append(f"dealer_id = {slot(filters.dealer_id)}")
    if filters.device_id is not None:
        conditions.append(f"device_id = {slot(filters.device_id)}")
    if filters.status is not None:
        status = _STATUS[filters.status]
        conditions.append(status.format(now=slot(now)) if "{now}" in status else status)
    if filters.created_after is not None:
        conditions.append(f"created_at >= {slot(filters.created_after)}")
    if filters.created_before is not None:
        conditions.append(f"created_at < {slot(filters.created_before)}")
    if after is not None:
        at, reservation_id = slot(after.created_at), slot(after.reservation_id)
        conditions.append(f"(created_at, id) < ({at}, {reservation_id})")
    order = f" ORDER BY created_at DESC, id DESC LIMIT {slot(limit)}"
    return " AND ".join(conditions) + order, values
