"""Listing an org's reservations, newest first, a page at a time."""

from __future__ import annotations

from dataclasses import dataclass

from masstock.domain.reservation import Reservation
from masstock.domain.search import Position, SearchQuery, encode_cursor, parse_search
from masstock.service.ports import Clock, ReservationSearch


@dataclass(frozen=True, slots=True)
class Page:
    """Some reservations, and the cursor of the next page (None on the last)."""

    items: list[Reservation]
    next_cursor: str | None


class SearchReservations:
    """The search use case, over a search port and a clock."""

    def __init__(self, *, search: ReservationSearch, clock: Clock) -> None:
        self._search = search
        self._clock = clock

    async def page(self, org: str, query: SearchQuery) -> Page:
        """One page of ``org``'s reservations matching ``query``, as they stand now."""
        search = parse_search(org, query)
        now = self._clock()

        # One row more than the page holds tells whether another page follows.
        found = await self._search.search(
            search.filters, after=search.after, limit=search.limit + 1, now=now
        )
        items = [reservation.as_of(now) for reservation in found[: search.limit]]
        if len(found) <= search.limit:
            return Page(items=items, next_cursor=None)
        return Page(
            items=items,
            next_cursor=encode_cursor(Position.of(items[-1]), search.filters),
        )
