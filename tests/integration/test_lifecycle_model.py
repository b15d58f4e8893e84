"""Random walks of creates, cancellations, finalizations, extensions, sweeps and
time, checked step by step against a small model of the rules, on each backend."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from masstock.adapters.postgres import PostgresDatabase, PostgresReservationStore
from masstock.adapters.sqlite import SqliteDatabase, SqliteReservationStore
from masstock.domain.device import Device, DeviceKind
from masstock.domain.errors import (
    DealerMismatch,
    MasstockError,
    ReservationConflict,
    ReservationNotCancellable,
    ReservationNotExtendable,
    ReservationNotFinalizable,
)
from masstock.domain.events import EventKind
from masstock.domain.reservation import CloseReason, Status
from masstock.service.ports import ReservationStore
from masstock.service.reservations import Holding, Reservations
from tests.conftest import empty_postgres
from tests.unit.fakes import FakeClock, FakeDeviceDirectory, FakeReservationStore

T = TypeVar("T")

DEVICES = ("356938035643809", "490154203237518")
DEALERS = ("DEALER001", "DEALER002")
TTL = timedelta(hours=1)


@dataclass
class ModelHold:
    """What the rules say one reservation is, and the history it should have."""

    id: str
    device_id: str
    dealer_id: str
    expires_at: datetime
    status: Status = Status.CREATED
    reason: CloseReason | None = None
    closed_at: datetime | None = None
    events: list[EventKind] = field(default_factory=lambda: [EventKind.CREATED])

    def expired_by(self, now: datetime) -> bool:
        return self.status is Status.CREATED and self.expires_at <= now

    def seen_at(
        self, now: datetime
    ) -> tuple[Status, CloseReason | None, datetime | None]:
        if self.expired_by(now):
            return Status.CANCELLED, CloseReason.EXPIRED, self.expires_at
        return self.status, self.reason, self.closed_at

    def write_expiry(self) -> None:
        self.status, self.reason, self.closed_at = (
            Status.CANCELLED,
            CloseReason.EXPIRED,
            self.expires_at,
        )
        self.events.append(EventKind.EXPIRED)


def _machine(
    open_store: Callable[[], Coroutine[Any, Any, tuple[ReservationStore, Any]]],
) -> type[RuleBasedStateMachine]:
    class LifecycleMachine(RuleBasedStateMachine):
        holds = Bundle("holds")

        def __init__(self) -> None:
            super().__init__()
            self.loop = asyncio.new_event_loop()
            store, self.closer = self.run(open_store())
            self.clock = FakeClock()
            self.reservations = Reservations(
                store=store,
                devices=FakeDeviceDirectory(
                    *(
                        Device(
                            org="yoigo",
                            identifier=device_id,
                            reference="REF-HANDSET",
                            mac=None,
                            kind=DeviceKind.DEVICE,
                        )
                        for device_id in DEVICES
                    )
                ),
                clock=self.clock,
                holding=Holding(ttl=TTL, max_ttl=timedelta(hours=10)),
            )
            self.model: dict[str, ModelHold] = {}

        def run(self, work: Coroutine[Any, Any, T]) -> T:
            return self.loop.run_until_complete(work)

        def teardown(self) -> None:
            self.run(self.closer())
            self.loop.close()

        def outcome(self, work: Coroutine[Any, Any, T]) -> T | MasstockError:
            try:
                return self.run(work)
            except MasstockError as exc:
                return exc

        @rule(
            target=holds,
            device_id=st.sampled_from(DEVICES),
            dealer_id=st.sampled_from(DEALERS),
        )
        def reserve(self, device_id: str, dealer_id: str) -> str:
            now = self.clock.now
            result = self.outcome(
                self.reservations.reserve(
                    org="yoigo", device_id=device_id, dealer_id=dealer_id, is_sim=False
                )
            )
            holders = [
                h
                for h in self.model.values()
                if h.device_id == device_id and h.status is Status.CREATED
            ]
            active = [h for h in holders if not h.expired_by(now)]
            if active:
                assert isinstance(result, ReservationConflict)
                assert str(result.holder.id) == active[0].id
                return active[0].id

            assert not isinstance(result, MasstockError), result
            for expired in holders:
                expired.write_expiry()
            hold = ModelHold(
                id=str(result.id),
                device_id=device_id,
                dealer_id=dealer_id,
                expires_at=now + TTL,
            )
            self.model[hold.id] = hold
            return hold.id

        @rule(reservation_id=holds, dealer_id=st.sampled_from(DEALERS))
        def cancel(self, reservation_id: str, dealer_id: str) -> None:
            self.close(reservation_id, dealer_id, Status.CANCELLED)

        @rule(reservation_id=holds, dealer_id=st.sampled_from(DEALERS))
        def finalize(self, reservation_id: str, dealer_id: str) -> None:
            self.close(reservation_id, dealer_id, Status.FINALIZED)

        def close(self, reservation_id: str, dealer_id: str, status: Status) -> None:
            hold = self.model[reservation_id]
            now = self.clock.now
            action = (
                self.reservations.cancel
                if status is Status.CANCELLED
                else self.reservations.finalize
            )
            result = self.outcome(
                action(org="yoigo", reservation_id=reservation_id, dealer_id=dealer_id)
            )
            seen, _, _ = hold.seen_at(now)
            refused = (
                ReservationNotCancellable
                if status is Status.CANCELLED
                else ReservationNotFinalizable
            )
            if dealer_id != hold.dealer_id:
                assert isinstance(result, DealerMismatch)
            elif seen not in (Status.CREATED, status):
                assert isinstance(result, refused)
            else:
                assert not isinstance(result, MasstockError), result
                if seen is Status.CREATED:
                    hold.status, hold.closed_at = status, now
                    hold.reason = (
                        CloseReason.CANCELLED_BY_DEALER
                        if status is Status.CANCELLED
                        else CloseReason.FINALIZED_BY_DEALER
                    )
                    hold.events.append(EventKind(status.value))

        @rule(
            reservation_id=holds,
            dealer_id=st.sampled_from(DEALERS),
            minutes=st.integers(min_value=1, max_value=180),
        )
        def extend(self, reservation_id: str, dealer_id: str, minutes: int) -> None:
            hold = self.model[reservation_id]
            now = self.clock.now
            result = self.outcome(
                self.reservations.extend(
                    org="yoigo",
                    reservation_id=reservation_id,
                    dealer_id=dealer_id,
                    ttl_seconds=minutes * 60,
                )
            )
            seen, _, _ = hold.seen_at(now)
            if dealer_id != hold.dealer_id:
                assert isinstance(result, DealerMismatch)
            elif seen is not Status.CREATED:
                assert isinstance(result, ReservationNotExtendable)
            else:
                assert not isinstance(result, MasstockError), result
                hold.expires_at = now + timedelta(minutes=minutes)
                hold.events.append(EventKind.EXTENDED)

        @rule(minutes=st.integers(min_value=0, max_value=150))
        def wait(self, minutes: int) -> None:
            self.clock.advance(minutes * 60)

        @rule()
        def sweep(self) -> None:
            now = self.clock.now
            due = [h for h in self.model.values() if h.expired_by(now)]

            expired = self.run(self.reservations.expire_due(limit=3))

            assert expired == len(due)
            for hold in due:
                hold.write_expiry()

        @invariant()
        def every_hold_reads_as_the_model_says(self) -> None:
            now = self.clock.now
            for hold in self.model.values():
                stored = self.run(
                    self.reservations.get(org="yoigo", reservation_id=hold.id)
                )
                assert (stored.status, stored.close_reason, stored.closed_at) == (
                    hold.seen_at(now)
                )
                assert stored.expires_at == hold.expires_at

        @invariant()
        def each_device_has_at_most_one_active_hold(self) -> None:
            now = self.clock.now
            for device_id in DEVICES:
                active = [
                    h
                    for h in self.model.values()
                    if h.device_id == device_id and h.seen_at(now)[0] is Status.CREATED
                ]
                assert len(active) <= 1

        @invariant()
        def history_has_each_change_once(self) -> None:
            now = self.clock.now
            for hold in self.model.values():
                events = self.run(
                    self.reservations.history(org="yoigo", reservation_id=hold.id)
                )
                unwritten = [EventKind.EXPIRED] if hold.expired_by(now) else []
                assert [event.kind for event in events] == hold.events + unwritten

    return LifecycleMachine


async def _memory() -> tuple[ReservationStore, Any]:
    async def _close() -> None:
        return None

    return FakeReservationStore(), _close


def _sqlite(
    url: str,
) -> Callable[[], Coroutine[Any, Any, tuple[ReservationStore, Any]]]:
    async def _open() -> tuple[ReservationStore, Any]:
        database = SqliteDatabase(url.removeprefix("sqlite:///"))

        def _empty(connection: Any) -> None:
            connection.execute("DELETE FROM reservations")
            connection.execute("DELETE FROM reservation_events")

        await database.run(_empty)
        return SqliteReservationStore(database), database.close

    return _open


def _postgres(
    url: str,
) -> Callable[[], Coroutine[Any, Any, tuple[ReservationStore, Any]]]:
    async def _open() -> tuple[ReservationStore, Any]:
        await empty_postgres(url)
        database = PostgresDatabase(url, pool_size=2, timeout=5.0)
        await database.open()
        return PostgresReservationStore(database), database.close

    return _open


@pytest.mark.parametrize("backend", ["memory", "sqlite", "postgres"])
def test_the_stores_follow_the_rules_of_the_model(
    backend: str, request: pytest.FixtureRequest
) -> None:
    if backend == "memory":
        open_store = _memory
    elif backend == "sqlite":
        open_store = _sqlite(request.getfixturevalue("sqlite_url"))
    else:
        open_store = _postgres(request.getfixturevalue("postgres_url"))

    run_state_machine_as_test(
        _machine(open_store),
        settings=settings(
            max_examples=25,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
