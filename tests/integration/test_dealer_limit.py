"""A cap on each dealer's active holds, kept by the stores on both backends."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from masstock.adapters.postgres import PostgresDatabase, PostgresReservationStore
from masstock.domain.errors import DealerLimitReached
from masstock.domain.reservation import CloseReason, Reservation, Status
from masstock.service.ports import Change
from tests.integration.conftest import Stores

NOON = datetime(2026, 12, 4, 12, 0, 0, 123456, tzinfo=UTC)
# IMEIs of the handsets on a yoigo shop's shelf.
HANDSETS = [f"3569380356438{n:02}" for n in range(20)]


def _hold(
    device_id: str,
    *,
    dealer_id: str = "DEALER001",
    org: str = "yoigo",
    at: datetime = NOON,
) -> Reservation:
    return Reservation.hold(
        org=org,
        device_id=device_id,
        dealer_id=dealer_id,
        is_sim=False,
        at=at,
        ttl=timedelta(hours=1),
    )


async def _fill(stores: Stores, count: int) -> list[Reservation]:
    """DEALER001 holds the first ``count`` handsets."""
    held = [_hold(device_id) for device_id in HANDSETS[:count]]
    for reservation in held:
        await stores.reservations.add(reservation, request_id=None, dealer_limit=count)
    return held


def _change(reservation: Reservation) -> Change:
    return Change(
        org=reservation.org,
        reservation_id=reservation.id,
        dealer_id=reservation.dealer_id,
        at=NOON + timedelta(minutes=5),
    )


async def test_a_dealer_at_the_cap_is_refused_and_nothing_is_written(
    stores: Stores,
) -> None:
    await _fill(stores, 2)
    third = _hold(HANDSETS[2], at=NOON + timedelta(minutes=1))

    with pytest.raises(DealerLimitReached) as caught:
        await stores.reservations.add(third, request_id=None, dealer_limit=2)

    assert caught.value.limit == 2
    assert await stores.reservations.get("yoigo", third.id) is None
    assert await stores.reservations.history("yoigo", third.id) == []


async def test_a_dealer_below_the_cap_holds_another_device(stores: Stores) -> None:
    await _fill(stores, 2)
    third = _hold(HANDSETS[2], at=NOON + timedelta(minutes=1))

    holder = await stores.reservations.add(third, request_id=None, dealer_limit=3)

    assert holder == third


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (Status.CANCELLED, CloseReason.CANCELLED_BY_DEALER),
        (Status.FINALIZED, CloseReason.FINALIZED_BY_DEALER),
    ],
)
async def test_a_closed_hold_frees_a_place_under_the_cap(
    stores: Stores, status: Status, reason: CloseReason
) -> None:
    first, _ = await _fill(stores, 2)
    await stores.reservations.close(_change(first), status=status, reason=reason)
    third = _hold(HANDSETS[2], at=NOON + timedelta(minutes=10))

    holder = await stores.reservations.add(third, request_id=None, dealer_limit=2)

    assert holder == third


async def test_a_hold_whose_time_ran_out_frees_a_place_before_the_sweeper_runs(
    stores: Stores,
) -> None:
    await _fill(stores, 2)
    after_expiry = _hold(HANDSETS[2], at=NOON + timedelta(hours=1))

    holder = await stores.reservations.add(
        after_expiry, request_id=None, dealer_limit=2
    )

    assert holder == after_expiry


async def test_other_dealers_and_other_orgs_do_not_count(stores: Stores) -> None:
    await stores.reservations.add(
        _hold(HANDSETS[0], dealer_id="DEALER002"), request_id=None
    )
    await stores.reservations.add(
        _hold("SN-ROUTER-0001", org="masmovil"), request_id=None
    )
    mine = _hold(HANDSETS[1])

    holder = await stores.reservations.add(mine, request_id=None, dealer_limit=1)

    assert holder == mine


async def test_a_device_held_by_another_dealer_names_its_holder_even_at_the_cap(
    stores: Stores,
) -> None:
    await _fill(stores, 1)
    other = _hold(HANDSETS[5], dealer_id="DEALER002")
    await stores.reservations.add(other, request_id=None)

    holder = await stores.reservations.add(
        _hold(HANDSETS[5]), request_id=None, dealer_limit=1
    )

    assert holder == other


async def test_a_device_whose_hold_ran_out_is_not_taken_by_a_dealer_at_the_cap(
    stores: Stores,
) -> None:
    stale = _hold(HANDSETS[5], dealer_id="DEALER002")
    await stores.reservations.add(stale, request_id=None)
    later = NOON + timedelta(hours=2)
    await stores.reservations.add(
        _hold(HANDSETS[0], at=later), request_id=None, dealer_limit=1
    )

    with pytest.raises(DealerLimitReached):
        await stores.reservations.add(
            _hold(HANDSETS[5], at=later), request_id=None, dealer_limit=1
        )

    assert await stores.reservations.get("yoigo", stale.id) == stale


async def test_simultaneous_creates_of_one_dealer_stop_at_the_cap(
    stores: Stores,
) -> None:
    contenders = [_hold(device_id) for device_id in HANDSETS]

    outcomes = await asyncio.gather(
        *(
            stores.reservations.add(c, request_id=None, dealer_limit=5)
            for c in contenders
        ),
        return_exceptions=True,
    )

    held = [o for o in outcomes if isinstance(o, Reservation)]
    refused = [o for o in outcomes if isinstance(o, DealerLimitReached)]
    assert len(held) == 5
    assert len(refused) == 15


async def test_twenty_creates_from_separate_connections_leave_exactly_five_holds(
    postgres_url: str,
) -> None:
    replicas = [
        PostgresDatabase(postgres_url, pool_size=1, timeout=10.0) for _ in HANDSETS
    ]
    await asyncio.gather(*(replica.open() for replica in replicas))
    try:
        outcomes = await asyncio.gather(
            *(
                PostgresReservationStore(replica).add(
                    _hold(device_id), request_id=None, dealer_limit=5
                )
                for replica, device_id in zip(replicas, HANDSETS, strict=True)
            ),
            return_exceptions=True,
        )
    finally:
        await asyncio.gather(*(replica.close() for replica in replicas))

    refused = [o for o in outcomes if isinstance(o, DealerLimitReached)]
    assert len(refused) == 15
    assert await _active_holds(postgres_url, "DEALER001") == 5


async def _active_holds(postgres_url: str, dealer_id: str) -> int:
    connection = await asyncpg.connect(postgres_url)
    try:
        count: int = await connection.fetchval(
            "SELECT count(*) FROM reservations "
            "WHERE dealer_id = $1 AND status = 'CREATED'",
            dealer_id,
        )
    finally:
        await connection.close()
    return count
