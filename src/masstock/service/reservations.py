"""Reserving a device for a dealer, and cancelling that hold."""

from __future__ import annotations

from uuid import UUID

import structlog

from masstock.domain.errors import (
    ReservationConflict,
    ReservationNotFound,
    StorageUnavailable,
    UnknownDevice,
)
from masstock.domain.reservation import Reservation, Status
from masstock.service.ports import Clock, DeviceDirectory, ReservationStore

log = structlog.get_logger(__name__)

# A closing update can miss a row that is still active only if it changed
# between our update and our read; rows never return to CREATED, so one
# more try always settles it.  The bound keeps a bug from looping forever.
_CLOSE_ATTEMPTS = 3


class Reservations:
    """The reservation use cases, over a store and a device directory."""

    def __init__(
        self, *, store: ReservationStore, devices: DeviceDirectory, clock: Clock
    ) -> None:
        self._store = store
        self._devices = devices
        self._clock = clock

    async def reserve(
        self, *, org: str, device_id: str, dealer_id: str, is_sim: bool
    ) -> Reservation:
        """Hold ``device_id`` for ``dealer_id``, or say who holds it already."""
        device = await self._devices.find(org, device_id)
        if device is None:
            raise UnknownDevice
        device.check_kind(is_sim=is_sim)

        reservation = Reservation.hold(
            org=org,
            device_id=device_id,
            dealer_id=dealer_id,
            is_sim=is_sim,
            at=self._clock(),
        )
        holder = await self._store.add(reservation)
        if holder.id != reservation.id:
            log.info(
                "reservation refused, device held",
                org=org,
                device_id=device_id,
                dealer_id=dealer_id,
                holder_id=str(holder.id),
            )
            raise ReservationConflict(holder)

        log.info(
            "reservation created",
            org=org,
            device_id=device_id,
            dealer_id=dealer_id,
            reservation_id=str(reservation.id),
        )
        return reservation

    async def cancel(
        self, *, org: str, reservation_id: str, dealer_id: str
    ) -> Reservation:
        """Cancel a reservation as the dealer who made it; repeating is harmless."""
        rid = _parse_id(reservation_id)
        for _ in range(_CLOSE_ATTEMPTS):
            closed = await self._store.close(
                org=org,
                reservation_id=rid,
                dealer_id=dealer_id,
                status=Status.CANCELLED,
                at=self._clock(),
            )
            if closed is not None:
                log.info(
                    "reservation cancelled",
                    org=org,
                    reservation_id=reservation_id,
                    dealer_id=dealer_id,
                )
                return closed

            current = await self._store.get(org, rid)
            if current is None:
                raise ReservationNotFound(reservation_id)
            current.check_cancellable_by(dealer_id)
            if current.status is Status.CANCELLED:
                return current

        raise StorageUnavailable(
            "Unable to persist reservation data",
            "The reservation changed while it was being cancelled. Please try again.",
        )


def _parse_id(reservation_id: str) -> UUID:
    try:
        return UUID(reservation_id)
    except ValueError:
        raise ReservationNotFound(reservation_id) from None
