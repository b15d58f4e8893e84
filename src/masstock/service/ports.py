"""What the use cases need from the outside world, and nothing more."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Protocol
from uuid import UUID

from masstock.domain.device import Device
from masstock.domain.reservation import Reservation, Status

Clock = Callable[[], datetime]


class DeviceDirectory(Protocol):
    """Where the truth about devices lives: the catalog, or the inventory system."""

    async def find(self, org: str, identifier: str) -> Device | None:
        """The device known under ``identifier`` in ``org``, if any."""
        ...


class DeviceCatalog(Protocol):
    """The embedded catalog's write side: devices loaded in bulk, all or none."""

    async def save_devices(
        self, batches: Iterable[Sequence[Device]], *, at: datetime
    ) -> int:
        """Insert or update every device of ``batches`` in one transaction.

        Existing devices (same org and identifier) take the new reference, mac
        and kind, and ``at`` as their update time.  When ``batches`` raises,
        nothing is saved and the error propagates.  Returns the devices written.
        """
        ...


class ReservationStore(Protocol):
    """Durable reservations, with at most one active hold per (org, device)."""

    async def add(self, reservation: Reservation) -> Reservation:
        """Store ``reservation`` unless its device is held; return the holder.

        The holder is ``reservation`` itself when it was stored, else the
        active reservation that holds the device.
        """
        ...

    async def get(self, org: str, reservation_id: UUID) -> Reservation | None:
        """The reservation with that id in ``org``, if any."""
        ...

    async def close(
        self,
        *,
        org: str,
        reservation_id: UUID,
        dealer_id: str,
        status: Status,
        at: datetime,
    ) -> Reservation | None:
        """End an active reservation made by ``dealer_id``; None if none matches."""
        ...
