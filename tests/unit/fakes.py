"""In-memory stand-ins for the ports, for unit tests of the use cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from masstock.domain.device import Device
from masstock.domain.errors import StorageUnavailable
from masstock.domain.reservation import Reservation, Status


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

    async def find(self, org: str, identifier: str) -> Device | None:
        if self.down:
            raise StorageUnavailable
        return self.devices.get((org, identifier))


class FakeReservationStore:
    """Reservations in a dict, keeping the one-active-hold rule like the databases."""

    def __init__(self) -> None:
        self.rows: dict[UUID, Reservation] = {}
        self.down = False

    async def add(self, reservation: Reservation) -> Reservation:
        self._check_up()
        for row in self.rows.values():
            if (
                row.is_active
                and row.org == reservation.org
                and row.device_id == reservation.device_id
            ):
                return row
        self.rows[reservation.id] = reservation
        return reservation

    async def get(self, org: str, reservation_id: UUID) -> Reservation | None:
        self._check_up()
        row = self.rows.get(reservation_id)
        return row if row is not None and row.org == org else None

    async def close(
        self,
        *,
        org: str,
        reservation_id: UUID,
        dealer_id: str,
        status: Status,
        at: datetime,
    ) -> Reservation | None:
        self._check_up()
        row = await self.get(org, reservation_id)
        if row is None or not row.is_active or row.dealer_id != dealer_id:
            return None
        closed = row.closed(status=status, by=dealer_id, at=at)
        self.rows[reservation_id] = closed
        return closed

    def _check_up(self) -> None:
        if self.down:
            raise StorageUnavailable
