"""A cap on the active holds of each dealer, over in-memory ports."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest

from masstock.domain.device import Device, DeviceKind
from masstock.domain.errors import DealerLimitReached, ReservationConflict
from masstock.domain.reservation import Reservation
from masstock.service.reservations import Holding, Reservations
from masstock.settings import load_settings
from tests.unit.fakes import FakeClock, FakeDeviceDirectory, FakeReservationStore

# Handsets in stock at a yoigo shop, and one router of masmovil's.
HANDSETS = [f"35693803564380{n}" for n in range(5)]
ROUTER = "SN-ROUTER-0001"


def _devices() -> FakeDeviceDirectory:
    handsets = [
        Device(
            org="yoigo",
            identifier=identifier,
            reference="REF-IPHONE-17",
            mac=None,
            kind=DeviceKind.DEVICE,
        )
        for identifier in HANDSETS
    ]
    router = Device(
        org="masmovil",
        identifier=ROUTER,
        reference="REF-ROUTER-AX3000",
        mac="A4:91:B1:00:00:01",
        kind=DeviceKind.DEVICE,
    )
    return FakeDeviceDirectory(*handsets, router)


@pytest.fixture
def store() -> FakeReservationStore:
    return FakeReservationStore()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _reservations(
    store: FakeReservationStore, clock: FakeClock, *, limit: int | None
) -> Reservations:
    return Reservations(
        store=store,
        devices=_devices(),
        clock=clock,
        holding=Holding(ttl=timedelta(hours=1), dealer_limit=limit),
    )


async def _hold(
    reservations: Reservations,
    device_id: str,
    *,
    dealer_id: str = "DEALER001",
    org: str = "yoigo",
) -> Reservation:
    return await reservations.reserve(
        org=org, device_id=device_id, dealer_id=dealer_id, is_sim=False
    )


async def test_a_dealer_below_the_cap_reserves(
    store: FakeReservationStore, clock: FakeClock
) -> None:
    reservations = _reservations(store, clock, limit=2)
    await _hold(reservations, HANDSETS[0])

    second = await _hold(reservations, HANDSETS[1])

    assert store.rows[second.id] == second


async def test_a_dealer_at_the_cap_is_refused_and_nothing_is_stored(
    store: FakeReservationStore, clock: FakeClock
) -> None:
    reservations = _reservations(store, clock, limit=2)
    await _hold(reservations, HANDSETS[0])
    await _hold(reservations, HANDSETS[1])

    with pytest.raises(DealerLimitReached) as caught:
        await _hold(reservations, HANDSETS[2])

    assert caught.value.limit == 2
    assert (
        caught.value.message == "Dealer DEALER001 already holds 2 active reservations"
    )
    assert len(store.rows) == 2
    assert all(row.device_id != HANDSETS[2] for row in store.rows.values())


async def test_a_cancelled_hold_frees_a_place_under_the_cap(
    store: FakeReservationStore, clock: FakeClock
) -> None:
    reservations = _reservations(store, clock, limit=1)
    first = await _hold(reservations, HANDSETS[0])
    await reservations.cancel(
        org="yoigo", reservation_id=str(first.id), dealer_id="DEALER001"
    )

    second = await _hold(reservations, HANDSETS[1])

    assert store.rows[second.id] == second


async def test_a_finalized_hold_frees_a_place_under_the_cap(
    store: FakeReservationStore, clock: FakeClock
) -> None:
    reservations = _reservations(store, clock, limit=1)
    first = await _hold(reservations, HANDSETS[0])
    await reservations.finalize(
        org="yoigo", reservation_id=str(first.id), dealer_id="DEALER001"
    )

    second = await _hold(reservations, HANDSETS[1])

    assert store.rows[second.id] == second


async def test_a_hold_whose_time_ran_out_does_not_count(
    store: FakeReservationStore, clock: FakeClock
) -> None:
    reservations = _reservations(store, clock, limit=1)
    await _hold(reservations, HANDSETS[0])
    clock.advance(3600)

    second = await _hold(reservations, HANDSETS[1])

    assert store.rows[second.id] == second


async def test_a_device_held_by_another_dealer_is_a_conflict_even_at_the_cap(
    store: FakeReservationStore, clock: FakeClock
) -> None:
    reservations = _reservations(store, clock, limit=1)
    holder = await _hold(reservations, HANDSETS[0], dealer_id="DEALER002")
    await _hold(reservations, HANDSETS[1])

    with pytest.raises(ReservationConflict) as caught:
        await _hold(reservations, HANDSETS[0])

    assert caught.value.holder == holder


async def test_other_dealers_and_other_orgs_do_not_count(
    store: FakeReservationStore, clock: FakeClock
) -> None:
    reservations = _reservations(store, clock, limit=1)
    await _hold(reservations, HANDSETS[0], dealer_id="DEALER002")
    await _hold(reservations, ROUTER, org="masmovil")

    mine = await _hold(reservations, HANDSETS[1])

    assert store.rows[mine.id] == mine


async def test_without_a_cap_a_dealer_holds_any_number(
    store: FakeReservationStore, clock: FakeClock
) -> None:
    reservations = _reservations(store, clock, limit=None)

    for identifier in HANDSETS:
        await _hold(reservations, identifier)

    assert len(store.rows) == len(HANDSETS)


@pytest.mark.parametrize(("setting", "limit"), [("0", None), ("3", 3)])
def test_the_cap_comes_from_the_dealer_max_active_setting(
    monkeypatch: pytest.MonkeyPatch, setting: str, limit: int | None
) -> None:
    for name in os.environ:
        if name.startswith("MASSTOCK_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MASSTOCK_DEALER_MAX_ACTIVE", setting)

    holding = load_settings().holding

    assert holding.dealer_limit == limit
