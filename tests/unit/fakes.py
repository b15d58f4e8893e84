"""In-memory stand-ins for the ports, for unit tests of the use cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from masstock.domain.device import Device, DeviceKind
from masstock.domain.errors import DealerLimitReached, StorageUnavailable
from masstock.domain.events import SYSTEM_ACTOR, EventKind, ReservationEvent
from masstock.domain.reservation import CloseReason, Reservation, Status
from masstock.service.ports import Change, KeyCompletion, StoredResponse

# The contract's SIM card, and a handset, in the catalog of yoigo.
SIM = Device(
    org="yoigo",
    identifier="DEVICE123456",
    reference="REF123456",
    mac="00:1A:2B:3C:4D:5E",
    kind=DeviceKind.SIM,
)
HANDSET = Device(
    org="yoigo",
    identifier="356938035643809",
    reference="REF-IPHONE-17",
    mac=None,
    kind=DeviceKind.DEVICE,
)


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 12, 3, 9, 30, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class FakeDeviceDirectory:
    """A catalog held in a dict; ``down`` makes every lookup fail."""

    def __init__(self, *devices: Device) -> None:
        self.devices = {(d.org, d.identifier): d for d in devices}
        self.down = False

    async def find(
        self, org: str, identifier: str, *, is_sim: bool | None = None
    ) -> Device | None:
        if self.down:
            raise StorageUnavailable
        return self.devices.get((org, identifier))


class FakeReservationStore:
    """Reservations in a dict, keeping the databases' rules: one active hold per
    device, expired holds closed when a new one takes the device, a cap on a
    dealer's active holds when asked, history."""

    def __init__(self) -> None:
        self.rows: dict[UUID, Reservation] = {}
        self.events: list[ReservationEvent] = []
        self.answers: dict[tuple[str, str, str], StoredResponse] = {}
        self.down = False

    async def add(
        self,
        reservation: Reservation,
        *,
        request_id: str | None,
        completion: KeyCompletion | None = None,
        dealer_limit: int | None = None,
    ) -> Reservation:
        self._check_up()
        holder = next(
            (
                row
                for row in self.rows.values()
                if row.is_active
                and (row.org, row.device_id) == (reservation.org, reservation.device_id)
            ),
            None,
        )
        if holder is not None and not holder.is_expired_at(reservation.created_at):
            return holder
        if dealer_limit is not None and self._active_of_dealer(reservation) >= (
            dealer_limit
        ):
            raise DealerLimitReached(reservation.dealer_id, dealer_limit)
        if holder is not None:
            self._write(holder.expired(), EventKind.EXPIRED, SYSTEM_ACTOR, request_id)
        self.rows[reservation.id] = reservation
        self._record(
            reservation,
            EventKind.CREATED,
            reservation.dealer_id,
            request_id,
            at=reservation.created_at,
        )
        self._complete(completion, reservation)
        return reservation

    async def get(self, org: str, reservation_id: UUID) -> Reservation | None:
        self._check_up()
        row = self.rows.get(reservation_id)
        return row if row is not None and row.org == org else None

    async def close(
        self,
        change: Change,
        *,
        status: Status,
        reason: CloseReason,
        completion: KeyCompletion | None = None,
    ) -> Reservation | None:
        row = self._active_hold(change)
        if row is None:
            return None
        closed = row.closed(
            status=status, reason=reason, by=change.dealer_id, at=change.at
        )
        kind = (
            EventKind.CANCELLED if status is Status.CANCELLED else EventKind.FINALIZED
        )
        self._write(closed, kind, change.dealer_id, change.request_id)
        self._complete(completion, closed)
        return closed

    async def extend(
        self,
        change: Change,
        *,
        until: datetime,
        completion: KeyCompletion | None = None,
    ) -> Reservation | None:
        row = self._active_hold(change)
        if row is None:
            return None
        extended = row.extended(until=until, at=change.at)
        self._write(extended, EventKind.EXTENDED, change.dealer_id, change.request_id)
        self._complete(completion, extended)
        return extended

    async def expire_due(self, *, now: datetime, limit: int) -> dict[str, int]:
        self._check_up()
        due = sorted(
            (row for row in self.rows.values() if row.is_expired_at(now)),
            key=lambda row: row.expires_at or now,
        )[:limit]
        expired: dict[str, int] = {}
        for row in due:
            self._write(row.expired(), EventKind.EXPIRED, SYSTEM_ACTOR, None)
            expired[row.org] = expired.get(row.org, 0) + 1
        return expired

    async def history(self, org: str, reservation_id: UUID) -> list[ReservationEvent]:
        self._check_up()
        return [
            e
            for e in self.events
            if e.reservation_id == reservation_id and e.org == org
        ]

    def _complete(self, completion: KeyCompletion | None, result: Reservation) -> None:
        if completion is not None:
            key = (completion.org, completion.caller, completion.key)
            self.answers[key] = completion.render(result)
            completion.written = True

    def _active_of_dealer(self, reservation: Reservation) -> int:
        return sum(
            1
            for row in self.rows.values()
            if (row.org, row.dealer_id) == (reservation.org, reservation.dealer_id)
            and row.is_active
            and not row.is_expired_at(reservation.created_at)
        )

    def _active_hold(self, change: Change) -> Reservation | None:
        self._check_up()
        row = self.rows.get(change.reservation_id)
        if (
            row is None
            or row.org != change.org
            or row.dealer_id != change.dealer_id
            or not row.is_active
            or row.is_expired_at(change.at)
        ):
            return None
        return row

    def _write(
        self,
        row: Reservation,
        kind: EventKind,
        actor: str,
        request_id: str | None,
    ) -> None:
        self.rows[row.id] = row
        self._record(row, kind, actor, request_id, at=row.updated_at)

    def _record(
        self,
        row: Reservation,
        kind: EventKind,
        actor: str,
        request_id: str | None,
        *,
        at: datetime,
    ) -> None:
        carries_expiry = kind in (EventKind.CREATED, EventKind.EXTENDED)
        self.events.append(
            ReservationEvent(
                reservation_id=row.id,
                org=row.org,
                kind=kind,
                actor=actor,
                at=at,
                request_id=request_id,
                expires_at=row.expires_at if carries_expiry else None,
            )
        )

    def _check_up(self) -> None:
        if self.down:
            raise StorageUnavailable
