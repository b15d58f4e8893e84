"""The whole life of a hold on each backend, under a clock the test moves."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from masstock.domain.device import Device, DeviceKind
from masstock.domain.errors import (
    DealerMismatch,
    ReservationConflict,
    ReservationNotCancellable,
    ReservationNotExtendable,
    ReservationNotFinalizable,
    ValidationFailed,
)
from masstock.domain.events import EventKind
from masstock.domain.reservation import CloseReason, Status
from masstock.service.reservations import Holding, Reservations
from tests.integration.conftest import Stores
from tests.unit.fakes import FakeClock, FakeDeviceDirectory

IMEI = "356938035643809"
HANDSET = Device(
    org="yoigo",
    identifier=IMEI,
    reference="REF-IPHONE-17",
    mac=None,
    kind=DeviceKind.DEVICE,
)
HOUR = 3600


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def reservations(stores: Stores, clock: FakeClock) -> Reservations:
    return Reservations(
        store=stores.reservations,
        devices=FakeDeviceDirectory(HANDSET),
        clock=clock,
        holding=Holding(ttl=timedelta(hours=72), max_ttl=timedelta(days=7)),
    )


async def _hold(reservations: Reservations, dealer_id: str = "DEALER001") -> str:
    reservation = await reservations.reserve(
        org="yoigo", device_id=IMEI, dealer_id=dealer_id, is_sim=False
    )
    return str(reservation.id)


async def test_a_new_hold_reads_back_with_its_expiry(
    reservations: Reservations, clock: FakeClock
) -> None:
    reservation_id = await _hold(reservations)

    reservation = await reservations.get(org="yoigo", reservation_id=reservation_id)

    assert reservation.status is Status.CREATED
    assert reservation.created_at == clock.now
    assert reservation.expires_at == clock.now + timedelta(hours=72)
    assert reservation.close_reason is None


async def test_finalizing_closes_the_hold_for_good(
    reservations: Reservations, clock: FakeClock
) -> None:
    reservation_id = await _hold(reservations)
    clock.advance(HOUR)

    await reservations.finalize(
        org="yoigo", reservation_id=reservation_id, dealer_id="DEALER001"
    )
    reservation = await reservations.get(org="yoigo", reservation_id=reservation_id)

    assert reservation.status is Status.FINALIZED
    assert reservation.close_reason is CloseReason.FINALIZED_BY_DEALER
    assert reservation.closed_by == "DEALER001"
    assert reservation.closed_at == clock.now
    with pytest.raises(ReservationNotCancellable):
        await reservations.cancel(
            org="yoigo", reservation_id=reservation_id, dealer_id="DEALER001"
        )


async def test_finalizing_twice_changes_nothing(
    reservations: Reservations, clock: FakeClock
) -> None:
    reservation_id = await _hold(reservations)
    first = await reservations.finalize(
        org="yoigo", reservation_id=reservation_id, dealer_id="DEALER001"
    )
    clock.advance(HOUR)

    second = await reservations.finalize(
        org="yoigo", reservation_id=reservation_id, dealer_id="DEALER001"
    )

    assert second == first
    history = await reservations.history(org="yoigo", reservation_id=reservation_id)
    assert [event.kind for event in history] == [EventKind.CREATED, EventKind.FINALIZED]


async def test_another_dealer_cannot_finalize(reservations: Reservations) -> None:
    reservation_id = await _hold(reservations)

    with pytest.raises(DealerMismatch) as caught:
        await reservations.finalize(
            org="yoigo", reservation_id=reservation_id, dealer_id="DEALER002"
        )

    assert caught.value.message == (
        "Dealer DEALER002 cannot finalize reservation created by dealer DEALER001"
    )


async def test_a_cancelled_hold_cannot_be_finalized(reservations: Reservations) -> None:
    reservation_id = await _hold(reservations)
    await reservations.cancel(
        org="yoigo", reservation_id=reservation_id, dealer_id="DEALER001"
    )

    with pytest.raises(ReservationNotFinalizable):
        await reservations.finalize(
            org="yoigo", reservation_id=reservation_id, dealer_id="DEALER001"
        )


async def test_a_hold_past_its_expiry_reads_as_expired_and_stops_blocking(
    reservations: Reservations, clock: FakeClock
) -> None:
    old = await _hold(reservations, "DEALER001")
    clock.advance(72 * HOUR)

    expired = await reservations.get(org="yoigo", reservation_id=old)
    new = await _hold(reservations, "DEALER002")

    assert expired.status is Status.CANCELLED
    assert expired.close_reason is CloseReason.EXPIRED
    assert expired.closed_at == expired.expires_at == clock.now
    assert expired.closed_by is None
    assert await reservations.get(org="yoigo", reservation_id=old) == expired
    history = await reservations.history(org="yoigo", reservation_id=old)
    assert [event.kind for event in history] == [EventKind.CREATED, EventKind.EXPIRED]
    assert (await reservations.get(org="yoigo", reservation_id=new)).is_active


async def test_a_hold_just_before_its_expiry_still_blocks(
    reservations: Reservations, clock: FakeClock
) -> None:
    await _hold(reservations, "DEALER001")
    clock.advance(72 * HOUR - 1)

    with pytest.raises(ReservationConflict):
        await _hold(reservations, "DEALER002")


async def test_an_expired_hold_cannot_be_finalized_or_extended(
    reservations: Reservations, clock: FakeClock
) -> None:
    reservation_id = await _hold(reservations)
    clock.advance(73 * HOUR)

    with pytest.raises(ReservationNotFinalizable):
        await reservations.finalize(
            org="yoigo", reservation_id=reservation_id, dealer_id="DEALER001"
        )
    with pytest.raises(ReservationNotExtendable):
        await reservations.extend(
            org="yoigo", reservation_id=reservation_id, dealer_id="DEALER001"
        )
    cancelled = await reservations.cancel(
        org="yoigo", reservation_id=reservation_id, dealer_id="DEALER001"
    )
    assert cancelled.close_reason is CloseReason.EXPIRED


async def test_extending_moves_the_expiry_from_now(
    reservations: Reservations, clock: FakeClock
) -> None:
    reservation_id = await _hold(reservations)
    clock.advance(70 * HOUR)

    extended = await reservations.extend(
        org="yoigo",
        reservation_id=reservation_id,
        dealer_id="DEALER001",
        ttl_seconds=10 * HOUR,
    )
    clock.advance(5 * HOUR)

    assert extended.expires_at == clock.now + timedelta(hours=5)
    assert (
        await reservations.get(org="yoigo", reservation_id=reservation_id)
    ).is_active
    history = await reservations.history(org="yoigo", reservation_id=reservation_id)
    assert [event.kind for event in history] == [EventKind.CREATED, EventKind.EXTENDED]
    assert history[1].expires_at == extended.expires_at


@pytest.mark.parametrize("ttl_seconds", [0, -5, 7 * 24 * HOUR + 1])
async def test_an_extension_out_of_bounds_is_refused(
    reservations: Reservations, ttl_seconds: int
) -> None:
    reservation_id = await _hold(reservations)

    with pytest.raises(ValidationFailed) as caught:
        await reservations.extend(
            org="yoigo",
            reservation_id=reservation_id,
            dealer_id="DEALER001",
            ttl_seconds=ttl_seconds,
        )

    assert caught.value.message == "ttl_seconds must be between 1 and 604800"


async def test_another_dealer_cannot_extend(reservations: Reservations) -> None:
    reservation_id = await _hold(reservations)

    with pytest.raises(DealerMismatch):
        await reservations.extend(
            org="yoigo", reservation_id=reservation_id, dealer_id="DEALER002"
        )


async def test_the_sweeper_writes_down_each_expiry_once(
    reservations: Reservations, clock: FakeClock
) -> None:
    reservation_id = await _hold(reservations)
    clock.advance(80 * HOUR)

    counts = await asyncio.gather(*(reservations.expire_due(limit=1) for _ in range(4)))
    again = await reservations.expire_due()

    assert sorted(counts) == [0, 0, 0, 1]
    assert again == 0
    history = await reservations.history(org="yoigo", reservation_id=reservation_id)
    assert [event.kind for event in history] == [EventKind.CREATED, EventKind.EXPIRED]
    assert history[1].at == clock.now - timedelta(hours=8)


async def test_history_records_each_change_with_its_actor_and_request(
    reservations: Reservations, clock: FakeClock
) -> None:
    created = await reservations.reserve(
        org="yoigo",
        device_id=IMEI,
        dealer_id="DEALER001",
        is_sim=False,
        request_id="req-create",
    )
    clock.advance(HOUR)
    await reservations.extend(
        org="yoigo",
        reservation_id=str(created.id),
        dealer_id="DEALER001",
        request_id="req-extend",
    )
    clock.advance(HOUR)
    await reservations.cancel(
        org="yoigo",
        reservation_id=str(created.id),
        dealer_id="DEALER001",
        request_id="req-cancel",
    )

    history = await reservations.history(org="yoigo", reservation_id=str(created.id))

    assert [(e.kind, e.actor, e.request_id) for e in history] == [
        (EventKind.CREATED, "DEALER001", "req-create"),
        (EventKind.EXTENDED, "DEALER001", "req-extend"),
        (EventKind.CANCELLED, "DEALER001", "req-cancel"),
    ]
    assert [e.at for e in history] == [
        clock.now - timedelta(hours=2),
        clock.now - timedelta(hours=1),
        clock.now,
    ]


async def test_without_a_ttl_a_hold_never_expires(
    stores: Stores, clock: FakeClock
) -> None:
    forever = Reservations(
        store=stores.reservations,
        devices=FakeDeviceDirectory(HANDSET),
        clock=clock,
        holding=Holding(ttl=None),
    )
    reservation_id = await _hold(forever)
    clock.advance(10_000 * HOUR)

    reservation = await forever.get(org="yoigo", reservation_id=reservation_id)

    assert reservation.expires_at is None
    assert reservation.is_active
    assert await forever.expire_due() == 0
