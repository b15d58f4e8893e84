"""The reservation stores keep one active hold per device, on both backends."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from masstock.domain.reservation import CloseReason, Reservation, Status
from masstock.service.ports import Change
from tests.integration.conftest import Stores

NOON = datetime(2026, 12, 3, 12, 0, 0, 123456, tzinfo=UTC)


def _hold(
    device_id: str = "356938035643809", dealer_id: str = "DEALER001", org: str = "yoigo"
) -> Reservation:
    return Reservation.hold(
        org=org, device_id=device_id, dealer_id=dealer_id, is_sim=False, at=NOON
    )


async def test_a_stored_reservation_reads_back_whole(stores: Stores) -> None:
    reservation = _hold()

    holder = await stores.reservations.add(reservation, request_id=None)
    read = await stores.reservations.get("yoigo", reservation.id)

    assert holder == reservation
    assert read == reservation


async def test_a_second_hold_on_a_device_gets_the_first_back(stores: Stores) -> None:
    first = _hold(dealer_id="DEALER001")
    await stores.reservations.add(first, request_id=None)

    holder = await stores.reservations.add(
        _hold(dealer_id="DEALER002"), request_id=None
    )

    assert holder == first


async def test_the_same_device_may_be_held_in_two_orgs(stores: Stores) -> None:
    in_yoigo = _hold(org="yoigo")
    in_masmovil = _hold(org="masmovil")

    assert await stores.reservations.add(in_yoigo, request_id=None) == in_yoigo
    assert await stores.reservations.add(in_masmovil, request_id=None) == in_masmovil


async def test_a_reservation_is_invisible_from_another_org(stores: Stores) -> None:
    reservation = _hold(org="yoigo")
    await stores.reservations.add(reservation, request_id=None)

    assert await stores.reservations.get("masmovil", reservation.id) is None


async def test_closing_by_the_owner_ends_the_hold_and_frees_the_device(
    stores: Stores,
) -> None:
    first = _hold()
    await stores.reservations.add(first, request_id=None)
    later = NOON + timedelta(minutes=5)

    closed = await stores.reservations.close(
        Change(org="yoigo", reservation_id=first.id, dealer_id="DEALER001", at=later),
        status=Status.CANCELLED,
        reason=CloseReason.CANCELLED_BY_DEALER,
    )
    second = _hold(dealer_id="DEALER002")
    holder = await stores.reservations.add(second, request_id=None)

    assert closed == first.closed(
        status=Status.CANCELLED,
        reason=CloseReason.CANCELLED_BY_DEALER,
        by="DEALER001",
        at=later,
    )
    assert await stores.reservations.get("yoigo", first.id) == closed
    assert holder == second


async def test_closing_matches_only_an_active_hold_of_that_dealer_and_org(
    stores: Stores,
) -> None:
    reservation = _hold()
    await stores.reservations.add(reservation, request_id=None)

    by_other_dealer = await stores.reservations.close(
        Change(
            org="yoigo", reservation_id=reservation.id, dealer_id="DEALER002", at=NOON
        ),
        status=Status.CANCELLED,
        reason=CloseReason.CANCELLED_BY_DEALER,
    )
    in_other_org = await stores.reservations.close(
        Change(
            org="masmovil",
            reservation_id=reservation.id,
            dealer_id="DEALER001",
            at=NOON,
        ),
        status=Status.CANCELLED,
        reason=CloseReason.CANCELLED_BY_DEALER,
    )

    assert by_other_dealer is None
    assert in_other_org is None
    assert await stores.reservations.get("yoigo", reservation.id) == reservation


async def test_closing_an_already_closed_reservation_matches_nothing(
    stores: Stores,
) -> None:
    reservation = _hold()
    await stores.reservations.add(reservation, request_id=None)
    await stores.reservations.close(
        Change(
            org="yoigo", reservation_id=reservation.id, dealer_id="DEALER001", at=NOON
        ),
        status=Status.CANCELLED,
        reason=CloseReason.CANCELLED_BY_DEALER,
    )

    again = await stores.reservations.close(
        Change(
            org="yoigo",
            reservation_id=reservation.id,
            dealer_id="DEALER001",
            at=NOON + timedelta(hours=1),
        ),
        status=Status.CANCELLED,
        reason=CloseReason.CANCELLED_BY_DEALER,
    )

    assert again is None


async def test_of_many_simultaneous_holds_on_one_device_exactly_one_wins(
    stores: Stores,
) -> None:
    contenders = [_hold(dealer_id=f"DEALER{n:03}") for n in range(64)]

    holders = await asyncio.gather(
        *(stores.reservations.add(c, request_id=None) for c in contenders)
    )

    winners = {holder.id for holder in holders}
    assert len(winners) == 1
    assert winners.pop() in {c.id for c in contenders}
