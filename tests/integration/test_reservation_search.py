"""Searching reservations on both backends: filters, order, pages and expiry."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import pytest

from masstock.adapters.postgres import (
    PostgresDatabase,
    PostgresReservationSearch,
    PostgresReservationStore,
)
from masstock.adapters.postgres.search import statement
from masstock.adapters.sqlite import (
    SqliteDatabase,
    SqliteReservationSearch,
    SqliteReservationStore,
)
from masstock.domain.reservation import CloseReason, Reservation, Status
from masstock.domain.search import Position, SearchFilters, SearchQuery, parse_search
from masstock.service.ports import Change
from masstock.service.search import SearchReservations

NOON = datetime(2026, 12, 3, 12, 0, 0, 123456, tzinfo=UTC)
NOW = NOON + timedelta(hours=1)
HANDSET = "356938035643809"


@dataclass
class Backend:
    store: SqliteReservationStore | PostgresReservationStore
    search: SearchReservations

    async def hold(
        self,
        *,
        at: datetime,
        device_id: str = HANDSET,
        dealer_id: str = "DEALER001",
        org: str = "yoigo",
        ttl: timedelta | None = None,
    ) -> Reservation:
        reservation = Reservation.hold(
            org=org,
            device_id=device_id,
            dealer_id=dealer_id,
            is_sim=False,
            at=at,
            ttl=ttl,
        )
        stored = await self.store.add(reservation, request_id=None)
        assert stored == reservation
        return reservation

    async def close(self, reservation: Reservation, *, status: Status) -> None:
        change = Change(
            org=reservation.org,
            reservation_id=reservation.id,
            dealer_id=reservation.dealer_id,
            at=reservation.created_at + timedelta(seconds=1),
        )
        reason = (
            CloseReason.FINALIZED_BY_DEALER
            if status is Status.FINALIZED
            else CloseReason.CANCELLED_BY_DEALER
        )
        assert await self.store.close(change, status=status, reason=reason)

    async def everything(
        self, org: str = "yoigo", *, limit: int = 4, **filters: str
    ) -> list[Reservation]:
        """Every page of a search, followed cursor by cursor, in order."""
        found: list[Reservation] = []
        cursor = None
        while True:
            query = SearchQuery(limit=str(limit), cursor=cursor, **filters)
            page = await self.search.page(org, query)
            assert len(page.items) <= limit
            found.extend(page.items)
            if page.next_cursor is None:
                return found
            assert len(page.items) == limit
            cursor = page.next_cursor


@pytest.fixture
async def backend(database_url: str) -> AsyncIterator[Backend]:
    """A store to write with and a search to read with, on one database."""
    if database_url.startswith("sqlite:"):
        sqlite = SqliteDatabase(database_url.removeprefix("sqlite:///"))
        await sqlite.open()
        search = SearchReservations(search=SqliteReservationSearch(sqlite), clock=_now)
        yield Backend(SqliteReservationStore(sqlite), search)
        await sqlite.close()
        return

    postgres = PostgresDatabase(database_url, pool_size=2, timeout=5.0)
    await postgres.open()
    search = SearchReservations(search=PostgresReservationSearch(postgres), clock=_now)
    yield Backend(PostgresReservationStore(postgres), search)
    await postgres.close()


def _now() -> datetime:
    return NOW


def _newest_first(reservations: list[Reservation]) -> list[Reservation]:
    return sorted(reservations, key=lambda r: (r.created_at, r.id), reverse=True)


def _device(n: int) -> str:
    return f"35693803564{n:04d}"


async def test_a_dealer_sees_its_reservations_newest_first_and_no_one_elses(
    backend: Backend,
) -> None:
    mine = [
        await backend.hold(at=NOON + timedelta(minutes=n), device_id=_device(n))
        for n in range(3)
    ]
    await backend.hold(at=NOON, device_id=_device(9), dealer_id="DEALER002")

    page = await backend.search.page("yoigo", SearchQuery(dealer_id="DEALER001"))

    assert page.items == list(reversed(mine))
    assert page.next_cursor is None


async def test_a_page_holds_at_most_limit_items_and_says_if_more_follow(
    backend: Backend,
) -> None:
    for n in range(3):
        await backend.hold(at=NOON + timedelta(minutes=n), device_id=_device(n))

    two = await backend.search.page("yoigo", SearchQuery(limit="2"))
    three = await backend.search.page("yoigo", SearchQuery(limit="3"))

    assert len(two.items) == 2
    assert two.next_cursor is not None
    assert len(three.items) == 3
    assert three.next_cursor is None


async def test_reservations_made_at_the_same_instant_are_paged_by_id(
    backend: Backend,
) -> None:
    same_instant = [await backend.hold(at=NOON, device_id=_device(n)) for n in range(7)]

    found = await backend.everything(limit=2)

    assert found == _newest_first(same_instant)


async def test_paging_while_holds_are_added_shows_each_reservation_once(
    backend: Backend,
) -> None:
    before = [
        await backend.hold(at=NOON + timedelta(seconds=n // 2), device_id=_device(n))
        for n in range(10)
    ]
    query = SearchQuery(dealer_id="DEALER001", limit="3")
    seen: list[Reservation] = []

    page = await backend.search.page("yoigo", query)
    for n in range(10, 20):
        seen.extend(page.items)
        if page.next_cursor is None:
            break
        await backend.hold(at=NOW + timedelta(seconds=n), device_id=_device(n))
        await backend.hold(at=NOON, device_id=_device(n + 100))
        page = await backend.search.page(
            "yoigo",
            SearchQuery(dealer_id="DEALER001", limit="3", cursor=page.next_cursor),
        )

    original = {r.id for r in before}
    assert [r.id for r in seen if r.id in original] == [
        r.id for r in _newest_first(before)
    ]
    assert len({r.id for r in seen}) == len(seen)


async def test_a_hold_past_its_expiry_is_listed_as_expired_not_as_created(
    backend: Backend,
) -> None:
    expired = await backend.hold(at=NOON, device_id=_device(1), ttl=NOW - NOON)
    active = await backend.hold(
        at=NOON, device_id=_device(2), ttl=NOW - NOON + timedelta(microseconds=1)
    )
    forever = await backend.hold(at=NOON, device_id=_device(3))

    created = await backend.everything(status="CREATED")
    cancelled = await backend.everything(status="CANCELLED")
    listed = await backend.everything()

    assert {r.id for r in created} == {active.id, forever.id}
    assert cancelled == [expired.expired()]
    assert cancelled[0].status is Status.CANCELLED
    assert cancelled[0].close_reason is CloseReason.EXPIRED
    assert cancelled[0].closed_at == NOW
    assert expired.expired() in listed


async def test_another_orgs_reservations_are_never_listed(backend: Backend) -> None:
    ours = await backend.hold(at=NOON, org="yoigo")
    await backend.hold(at=NOON, org="masmovil")

    listed = await backend.everything("yoigo", dealer_id="DEALER001")
    elsewhere = await backend.everything("pepephone")

    assert listed == [ours]
    assert elsewhere == []


FILTERS: list[dict[str, str]] = [
    {},
    {"dealer_id": "DEALER001"},
    {"dealer_id": "DEALER404"},
    {"device_id": HANDSET},
    {"device_id": HANDSET, "dealer_id": "DEALER002"},
    {"status": "CREATED"},
    {"status": "CANCELLED"},
    {"status": "FINALIZED"},
    {"dealer_id": "DEALER002", "status": "CREATED"},
    {"created_after": "2026-12-03T12:02:00.123456Z"},
    {"created_before": "2026-12-03T13:05:00.123456+01:00"},
    {
        "created_after": "2026-12-03T12:01:00.123456Z",
        "created_before": "2026-12-03T12:07:00.123456Z",
        "dealer_id": "DEALER001",
    },
]


async def _a_mixed_history(backend: Backend) -> list[Reservation]:
    """Thirty holds over ten minutes, three to a minute, as they stand at NOW.

    Two dealers take turns; every seventh is in masmovil.  Of every five, one
    is cancelled and one finalized (all on the same handset, one after the
    other), one holds forever, and two hold until just before, exactly at or
    just after NOW.
    """
    written: list[Reservation] = []
    for n in range(30):
        at = NOON + timedelta(minutes=n // 3)
        dealer_id = f"DEALER00{1 + n % 2}"
        org = "masmovil" if n % 7 == 6 else "yoigo"
        if n % 5 in (0, 1):
            closed = await backend.hold(at=at, dealer_id=dealer_id, org=org)
            status = Status.CANCELLED if n % 5 == 0 else Status.FINALIZED
            await backend.close(closed, status=status)
            written.append(closed)
            continue
        ttl = None if n % 5 == 2 else NOW - at + timedelta(minutes=n % 3 - 1)
        written.append(
            await backend.hold(
                at=at, device_id=_device(n), dealer_id=dealer_id, org=org, ttl=ttl
            )
        )
    stored = [await backend.store.get(r.org, r.id) for r in written]
    return [r.as_of(NOW) for r in stored if r is not None]


async def test_every_filter_lists_exactly_what_the_rules_say_on_every_page(
    backend: Backend,
) -> None:
    history = _newest_first(await _a_mixed_history(backend))

    for raw in FILTERS:
        filters = parse_search("yoigo", SearchQuery(**raw)).filters

        found = await backend.everything(limit=4, **raw)

        assert found == [r for r in history if filters.matches(r, NOW)], raw


# A dealer-heavy table: 2,000 dealers of one org, one hold in ten still active.
_LOAD = """
INSERT INTO reservations (id, org, device_id, dealer_id, is_sim, status,
                          created_at, updated_at, expires_at,
                          closed_at, closed_by, close_reason)
SELECT gen_random_uuid(), 'yoigo', 'DEVICE' || i,
       'DEALER' || lpad((i % $2)::text, 6, '0'), false,
       CASE WHEN i % 10 = 0 THEN 'CREATED' ELSE 'FINALIZED' END,
       at, at, at + interval '72 hours',
       CASE WHEN i % 10 = 0 THEN NULL ELSE at END,
       CASE WHEN i % 10 = 0 THEN NULL ELSE 'DEALER' END,
       CASE WHEN i % 10 = 0 THEN NULL ELSE 'FINALIZED_BY_DEALER' END
FROM generate_series(1, $1) AS i,
     LATERAL (SELECT $3::timestamptz - make_interval(secs => i)) AS t(at)
"""


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


@pytest.mark.postgres
async def test_a_dealers_pages_walk_its_index_backwards_on_postgres(
    postgres_url: str,
) -> None:
    filters = SearchFilters(org="yoigo", dealer_id="DEALER000042")
    deep = Position(NOON - timedelta(days=1), UUID(int=0))
    connection = await asyncpg.connect(postgres_url)
    try:
        await connection.execute(_LOAD, 200_000, 2_000, NOON)
        await connection.execute("ANALYZE reservations")

        plans = [
            await connection.fetchval(f"EXPLAIN (FORMAT JSON) {query}", *values)
            for query, values in (
                statement(filters, after=None, limit=51, now=NOW),
                statement(filters, after=deep, limit=51, now=NOW),
            )
        ]
    finally:
        await connection.execute("TRUNCATE reservations")
        await connection.close()

    for plan in plans:
        nodes = list(_nodes(json.loads(plan)[0]["Plan"]))
        assert [n["Node Type"] for n in nodes] == ["Limit", "Index Scan"], nodes
        assert nodes[1]["Index Name"] == "reservations_by_dealer"
        assert nodes[1]["Scan Direction"] == "Backward"
