"""The reserve and cancel use cases, over in-memory ports."""

from __future__ import annotations

import uuid

import pytest

from masstock.domain.errors import (
    DealerMismatch,
    ReservationConflict,
    ReservationNotCancellable,
    ReservationNotFound,
    StorageUnavailable,
    UnknownDevice,
    ValidationFailed,
)
from masstock.domain.reservation import Status
from masstock.service.reservations import Reservations
from tests.unit.fakes import (
    HANDSET,
    SIM,
    FakeClock,
    FakeDeviceDirectory,
    FakeReservationStore,
)


@pytest.fixture
def store() -> FakeReservationStore:
    return FakeReservationStore()


@pytest.fixture
def devices() -> FakeDeviceDirectory:
    return FakeDeviceDirectory(SIM, HANDSET)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def reservations(
    store: FakeReservationStore, devices: FakeDeviceDirectory, clock: FakeClock
) -> Reservations:
    return Reservations(store=store, devices=devices, clock=clock)


async def test_reserving_a_known_device_stores_an_active_hold(
    reservations: Reservations, store: FakeReservationStore, clock: FakeClock
) -> None:
    reservation = await reservations.reserve(
        org="yoigo", device_id="DEVICE123456", dealer_id="DEALER001", is_sim=True
    )

    assert store.rows[reservation.id] == reservation
    assert reservation.status is Status.CREATED
    assert reservation.dealer_id == "DEALER001"
    assert reservation.created_at == clock.now


async def test_reserving_a_held_device_names_the_holder(
    reservations: Reservations,
) -> None:
    first = await reservations.reserve(
        org="yoigo", device_id="DEVICE123456", dealer_id="DEALER001", is_sim=True
    )

    with pytest.raises(ReservationConflict) as caught:
        await reservations.reserve(
            org="yoigo", device_id="DEVICE123456", dealer_id="DEALER002", is_sim=True
        )

    assert caught.value.holder == first
    assert caught.value.message == (
        "Reservation already exists for device DEVICE123456 with status CREATED, "
        "created by dealer DEALER001"
    )


async def test_the_holder_reserving_again_is_also_a_conflict(
    reservations: Reservations,
) -> None:
    await reservations.reserve(
        org="yoigo", device_id="DEVICE123456", dealer_id="DEALER001", is_sim=True
    )

    with pytest.raises(ReservationConflict):
        await reservations.reserve(
            org="yoigo", device_id="DEVICE123456", dealer_id="DEALER001", is_sim=True
        )


async def test_an_unknown_device_cannot_be_reserved(
    reservations: Reservations, store: FakeReservationStore
) -> None:
    with pytest.raises(UnknownDevice) as caught:
        await reservations.reserve(
            org="yoigo", device_id="NO-SUCH-DEVICE", dealer_id="DEALER001", is_sim=False
        )

    assert caught.value.message == "device_id not found"
    assert store.rows == {}


async def test_a_device_of_another_org_is_unknown(
    reservations: Reservations,
) -> None:
    with pytest.raises(UnknownDevice):
        await reservations.reserve(
            org="masmovil", device_id="DEVICE123456", dealer_id="DEALER001", is_sim=True
        )


@pytest.mark.parametrize(
    ("device_id", "is_sim", "message"),
    [
        (
            "356938035643809",
            True,
            "is_sim is true but device 356938035643809 is not a SIM card",
        ),
        (
            "DEVICE123456",
            False,
            "is_sim is false but device DEVICE123456 is a SIM card",
        ),
    ],
)
async def test_is_sim_must_match_the_kind_of_device(
    reservations: Reservations,
    store: FakeReservationStore,
    device_id: str,
    is_sim: bool,
    message: str,
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await reservations.reserve(
            org="yoigo", device_id=device_id, dealer_id="DEALER001", is_sim=is_sim
        )

    assert caught.value.message == message
    assert store.rows == {}


async def test_a_dealer_cancels_their_hold_and_frees_the_device(
    reservations: Reservations, store: FakeReservationStore, clock: FakeClock
) -> None:
    held = await reservations.reserve(
        org="yoigo", device_id="DEVICE123456", dealer_id="DEALER001", is_sim=True
    )
    clock.advance(60)

    cancelled = await reservations.cancel(
        org="yoigo", reservation_id=str(held.id), dealer_id="DEALER001"
    )
    again = await reservations.reserve(
        org="yoigo", device_id="DEVICE123456", dealer_id="DEALER002", is_sim=True
    )

    assert cancelled.status is Status.CANCELLED
    assert cancelled.closed_by == "DEALER001"
    assert cancelled.closed_at == clock.now
    assert store.rows[again.id].is_active


async def test_cancelling_twice_is_harmless_and_changes_nothing(
    reservations: Reservations, clock: FakeClock
) -> None:
    held = await reservations.reserve(
        org="yoigo", device_id="DEVICE123456", dealer_id="DEALER001", is_sim=True
    )
    first = await reservations.cancel(
        org="yoigo", reservation_id=str(held.id), dealer_id="DEALER001"
    )
    clock.advance(60)

    second = await reservations.cancel(
        org="yoigo", reservation_id=str(held.id), dealer_id="DEALER001"
    )

    assert second == first


async def test_another_dealer_cannot_cancel(
    reservations: Reservations, store: FakeReservationStore
) -> None:
    held = await reservations.reserve(
        org="yoigo", device_id="DEVICE123456", dealer_id="DEALER001", is_sim=True
    )

    with pytest.raises(DealerMismatch):
        await reservations.cancel(
            org="yoigo", reservation_id=str(held.id), dealer_id="DEALER002"
        )

    assert store.rows[held.id].is_active


async def test_a_finalized_reservation_is_not_cancellable(
    reservations: Reservations, store: FakeReservationStore, clock: FakeClock
) -> None:
    held = await reservations.reserve(
        org="yoigo", device_id="DEVICE123456", dealer_id="DEALER001", is_sim=True
    )
    await reservations.finalize(
        org="yoigo", reservation_id=str(held.id), dealer_id="DEALER001"
    )

    with pytest.raises(ReservationNotCancellable):
        await reservations.cancel(
            org="yoigo", reservation_id=str(held.id), dealer_id="DEALER001"
        )

    assert store.rows[held.id].status is Status.FINALIZED


@pytest.mark.parametrize(
    "reservation_id",
    [str(uuid.uuid4()), "not-a-uuid", "a1b2c3d4-e5f6-7890-abcd-ef1234567890"],
)
async def test_cancelling_an_unknown_reservation_says_not_found(
    reservations: Reservations, reservation_id: str
) -> None:
    with pytest.raises(ReservationNotFound) as caught:
        await reservations.cancel(
            org="yoigo", reservation_id=reservation_id, dealer_id="DEALER001"
        )

    assert caught.value.message == f"Reservation with ID {reservation_id} not found"


async def test_a_reservation_of_another_org_is_not_found(
    reservations: Reservations, store: FakeReservationStore
) -> None:
    held = await reservations.reserve(
        org="yoigo", device_id="DEVICE123456", dealer_id="DEALER001", is_sim=True
    )

    with pytest.raises(ReservationNotFound):
        await reservations.cancel(
            org="masmovil", reservation_id=str(held.id), dealer_id="DEALER001"
        )

    assert store.rows[held.id].is_active


async def test_a_store_failure_surfaces_as_storage_unavailable(
    reservations: Reservations, store: FakeReservationStore
) -> None:
    store.down = True

    with pytest.raises(StorageUnavailable) as caught:
        await reservations.reserve(
            org="yoigo", device_id="DEVICE123456", dealer_id="DEALER001", is_sim=True
        )

    assert caught.value.code == "DATABASE_ERROR"
    assert caught.value.message == "Unable to persist reservation data"


async def test_a_store_failure_on_a_read_says_the_data_could_not_be_read(
    reservations: Reservations, store: FakeReservationStore
) -> None:
    held = await reservations.reserve(
        org="yoigo", device_id="DEVICE123456", dealer_id="DEALER001", is_sim=True
    )
    store.down = True

    with pytest.raises(StorageUnavailable) as caught:
        await reservations.get(org="yoigo", reservation_id=str(held.id))

    assert caught.value.message == "Unable to read reservation data"
