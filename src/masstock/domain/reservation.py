"""A reservation: one dealer's hold on one device, and how it may end.

A hold past its ``expires_at`` is over even before anything writes that down:
every read goes through ``as_of``, which shows such a hold as cancelled by
expiry, so no read and no rule ever treats it as active.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID, uuid4

from masstock.domain.errors import (
    DealerMismatch,
    ReservationNotCancellable,
    ReservationNotExtendable,
    ReservationNotFinalizable,
)


class Status(StrEnum):
    CREATED = "CREATED"
    CANCELLED = "CANCELLED"
    FINALIZED = "FINALIZED"


class CloseReason(StrEnum):
    CANCELLED_BY_DEALER = "CANCELLED_BY_DEALER"
    EXPIRED = "EXPIRED"
    FINALIZED_BY_DEALER = "FINALIZED_BY_DEALER"


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
    expires_at: datetime | None = None
    closed_at: datetime | None = None
    closed_by: str | None = None
    close_reason: CloseReason | None = None

    @classmethod
    def hold(
        cls,
        *,
        org: str,
        device_id: str,
        dealer_id: str,
        is_sim: bool,
        at: datetime,
        ttl: timedelta | None = None,
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
            expires_at=None if ttl is None else at + ttl,
        )

    @property
    def is_active(self) -> bool:
        """Still holding the device, as last written (see ``as_of``)."""
        return self.status is Status.CREATED

    def is_expired_at(self, now: datetime) -> bool:
        """Written as active, but its time ran out at or before ``now``."""
        return (
            self.status is Status.CREATED
            and self.expires_at is not None
            and self.expires_at <= now
        )

    def as_of(self, now: datetime) -> Reservation:
        """This reservation as it stands at ``now``: expired if its time ran out."""
        return self.expired() if self.is_expired_at(now) else self

    def expired(self) -> Reservation:
        """This hold, closed by its expiry at ``expires_at``."""
        at = self.expires_at or self.updated_at
        return replace(
            self,
            status=Status.CANCELLED,
            updated_at=at,
            closed_at=at,
            closed_by=None,
            close_reason=CloseReason.EXPIRED,
        )

    def check_cancellable_by(self, dealer_id: str) -> None:
        """Raise unless ``dealer_id`` may cancel this (or it is already cancelled)."""
        self._check_dealer(dealer_id, action="cancel")
        if self.status is Status.FINALIZED:
            raise ReservationNotCancellable(str(self.id), self.status)

    def check_finalizable_by(self, dealer_id: str) -> None:
        """Raise unless ``dealer_id`` may finalize this (or it is already final)."""
        self._check_dealer(dealer_id, action="finalize")
        if self.status is Status.CANCELLED:
            raise ReservationNotFinalizable(str(self.id), self.status)

    def check_extendable_by(self, dealer_id: str) -> None:
        """Raise unless ``dealer_id`` may extend this: theirs, and still active."""
        self._check_dealer(dealer_id, action="extend")
        if self.status is not Status.CREATED:
            raise ReservationNotExtendable(str(self.id), self.status)

    def closed(
        self, *, status: Status, reason: CloseReason, by: str, at: datetime
    ) -> Reservation:
        """This reservation, ended in ``status`` by ``by`` at ``at``."""
        return replace(
            self,
            status=status,
            updated_at=at,
            closed_at=at,
            closed_by=by,
            close_reason=reason,
        )

    def extended(self, *, until: datetime, at: datetime) -> Reservation:
        """This hold, now lasting until ``until``."""
        return replace(self, expires_at=until, updated_at=at)

    def _check_dealer(self, dealer_id: str, *, action: str) -> None:
        if dealer_id != self.dealer_id:
            raise DealerMismatch(
                dealer_id=dealer_id, owner_id=self.dealer_id, action=action
            )
