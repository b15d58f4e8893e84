"""A reservation: one dealer's hold on one device, and how it may end."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from uuid import UUID, uuid4

from masstock.domain.errors import DealerMismatch, ReservationNotCancellable


class Status(StrEnum):
    CREATED = "CREATED"
    CANCELLED = "CANCELLED"
    FINALIZED = "FINALIZED"


@dataclass(frozen=True, slots=True, kw_only=True)
class Reservation:
    id: UUID
    org: str
    device_id: str
    dealer_id: str
    is_sim: bool
    status: Status
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None = None
    closed_by: str | None = None

    @classmethod
    def hold(
        cls, *, org: str, device_id: str, dealer_id: str, is_sim: bool, at: datetime
    ) -> Reservation:
        """A new, active reservation of ``device_id`` by ``dealer_id``."""
        return cls(
            id=uuid4(),
            org=org,
            device_id=device_id,
            dealer_id=dealer_id,
            is_sim=is_sim,
            status=Status.CREATED,
            created_at=at,
            updated_at=at,
        )

    @property
    def is_active(self) -> bool:
        return self.status is Status.CREATED

    def check_cancellable_by(self, dealer_id: str) -> None:
        """Raise unless ``dealer_id`` may cancel this (or it is already cancelled)."""
        if dealer_id != self.dealer_id:
            raise DealerMismatch(
                dealer_id=dealer_id, owner_id=self.dealer_id, action="cancel"
            )
        if self.status is Status.FINALIZED:
            raise ReservationNotCancellable(str(self.id), self.status)

    def closed(self, *, status: Status, by: str, at: datetime) -> Reservation:
        """This reservation, ended in ``status`` by ``by`` at ``at``."""
        return replace(self, status=status, updated_at=at, closed_at=at, closed_by=by)
