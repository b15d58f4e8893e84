"""Holding a device for a dealer, and everything that can happen to that hold."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

import structlog

from masstock.domain.errors import (
    DealerLimitReached,
    ReservationConflict,
    ReservationNotFound,
    StorageUnavailable,
    UnknownDevice,
    ValidationFailed,
)
from masstock.domain.events import SYSTEM_ACTOR, EventKind, ReservationEvent
from masstock.domain.reservation import CloseReason, Reservation, Status
from masstock.service.ports import (
    Change,
    Clock,
    DeviceDirectory,
    KeyCompletion,
    Refusal,
    ReservationMetrics,
    ReservationStore,
)

log = structlog.get_logger(__name__)

# A conditional change can miss a hold that is still active only if the hold
# changed between our write and our read, and a hold never becomes active
# again, so one more try settles it.  The bound keeps a bug from looping.
_CHANGE_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class Holding:
    """How long holds last, and how many a dealer may keep at once.

    ``ttl`` by default (None: forever), at most ``max_ttl``; at most
    ``dealer_limit`` active holds per dealer in an org (None: no cap).
    """

    ttl: timedelta | None = timedelta(hours=72)
    max_ttl: timedelta = timedelta(days=30)
    dealer_limit: int | None = None


class _Uncounted:
    """Metrics for when nobody counts: tools and tests that need none."""

    def changed(self, org: str, kind: EventKind, count: int = 1) -> None:
        pass

    def refused(self, org: str, reason: Refusal) -> None:
        pass


class Reservations:
    """The reservation use cases, over a store and a device directory."""

    def __init__(
        self,
        *,
        store: ReservationStore,
        devices: DeviceDirectory,
        clock: Clock,
        holding: Holding | None = None,
        metrics: ReservationMetrics | None = None,
    ) -> None:
        self._store = store
        self._devices = devices
        self._clock = clock
        self._holding = holding or Holding()
        self._metrics = metrics or _Uncounted()

    async def reserve(
        self,
        *,
        org: str,
        device_id: str,
        dealer_id: str,
        is_sim: bool,
        request_id: str | None = None,
        completion: KeyCompletion | None = None,
    ) -> Reservation:
        """Hold ``device_id`` for ``dealer_id``, or say who holds it already."""
        device = await self._devices.find(org, device_id, is_sim=is_sim)
        if device is None:
            raise UnknownDevice
        device.check_kind(is_sim=is_sim)

        reservation = Reservation.hold(
            org=org,
            device_id=device_id,
            dealer_id=dealer_id,
            is_sim=is_sim,
            at=self._clock(),
            ttl=self._holding.ttl,
        )
        try:
            holder = await self._store.add(
                reservation,
                request_id=request_id,
                completion=completion,
                dealer_limit=self._holding.dealer_limit,
            )
        except DealerLimitReached:
            self._metrics.refused(org, "dealer_limit")
            log.info(
                "reservation refused, dealer limit reached",
                org=org,
                device_id=device_id,
                dealer_id=dealer_id,
                limit=self._holding.dealer_limit,
            )
            raise

        if holder.id != reservation.id:
            self._metrics.refused(org, "device_held")
            log.info(
                "reservation refused, device held",
                org=org,
                device_id=device_id,
                dealer_id=dealer_id,
                holder_id=str(holder.id),
            )
            raise ReservationConflict(holder)

        self._metrics.changed(org, EventKind.CREATED)
        log.info(
            "reservation created",
            org=org,
            device_id=device_id,
            dealer_id=dealer_id,
            reservation_id=str(reservation.id),
        )
        return reservation

    async def get(self, *, org: str, reservation_id: str) -> Reservation:
        """The reservation as it stands now."""
        with _reading():
            return await self._current(org, _parse_id(reservation_id))

    async def history(self, *, org: str, reservation_id: str) -> list[ReservationEvent]:
        """Every change of the reservation, oldest first."""
        rid = _parse_id(reservation_id)
        with _reading():
            current = await self._current(org, rid)
            events = await self._store.history(org, rid)

        # An expiry is a change even before anything writes it down: the
        # history shows it as the sweeper will record it.
        unwritten = current.close_reason is CloseReason.EXPIRED and all(
            event.kind is not EventKind.EXPIRED for event in events
        )
        if unwritten and current.closed_at is not None:
            events.append(
                ReservationEvent(
                    reservation_id=rid,
                    org=org,
                    kind=EventKind.EXPIRED,
                    actor=SYSTEM_ACTOR,
                    at=current.closed_at,
                )
            )
        return events

    async def cancel(
        self,
        *,
        org: str,
        reservation_id: str,
        dealer_id: str,
        request_id: str | None = None,
        completion: KeyCompletion | None = None,
    ) -> Reservation:
        """Cancel a reservation as the dealer who made it; repeating is harmless."""
        return await self._close(
            self._change(
                org=org,
                reservation_id=reservation_id,
                dealer_id=dealer_id,
                request_id=request_id,
            ),
            status=Status.CANCELLED,
            reason=CloseReason.CANCELLED_BY_DEALER,
            check=Reservation.check_cancellable_by,
            completion=completion,
        )

    async def finalize(
        self,
        *,
        org: str,
        reservation_id: str,
        dealer_id: str,
        request_id: str | None = None,
        completion: KeyCompletion | None = None,
    ) -> Reservation:
        """Record the sale of a held device, as the dealer who held it."""
        return await self._close(
            self._change(
                org=org,
                reservation_id=reservation_id,
                dealer_id=dealer_id,
                request_id=request_id,
            ),
            status=Status.FINALIZED,
            reason=CloseReason.FINALIZED_BY_DEALER,
            check=Reservation.check_finalizable_by,
            completion=completion,
        )

    async def extend(
        self,
        *,
        org: str,
        reservation_id: str,
        dealer_id: str,
        ttl_seconds: int | None = None,
        request_id: str | None = None,
        completion: KeyCompletion | None = None,
    ) -> Reservation:
        """Hold the device for ``ttl_seconds`` (or the default) from now on."""
        ttl = self._extension(ttl_seconds)
        change = self._change(
            org=org,
            reservation_id=reservation_id,
            dealer_id=dealer_id,
            request_id=request_id,
        )
        for _ in range(_CHANGE_ATTEMPTS):
            extended = await self._store.extend(
                change, until=change.at + ttl, completion=completion
            )
            if extended is not None:
                self._metrics.changed(org, EventKind.EXTENDED)
                log.info(
                    "reservation extended",
                    org=org,
                    reservation_id=reservation_id,
                    expires_at=extended.expires_at,
                )
                return extended

            current = await self._current(org, change.reservation_id)
            current.check_extendable_by(dealer_id)

        raise _unsettled()

    async def expire_due(self, *, limit: int = 500) -> int:
        """Write down the expiry of holds whose time ran out; how many there were."""
        total = 0
        while True:
            expired = await self._store.expire_due(now=self._clock(), limit=limit)
            for org, count in expired.items():
                self._metrics.changed(org, EventKind.EXPIRED, count)
            written = sum(expired.values())
            total += written
            if written < limit:
                break

        if total:
            log.info("reservations expired", count=total)
        return total

    async def _close(
        self,
        change: Change,
        *,
        status: Status,
        reason: CloseReason,
        check: Callable[[Reservation, str], None],
        completion: KeyCompletion | None,
    ) -> Reservation:
        for _ in range(_CHANGE_ATTEMPTS):
            closed = await self._store.close(
                change, status=status, reason=reason, completion=completion
            )
            if closed is not None:
                self._metrics.changed(change.org, EventKind(status.value))
                log.info(
                    "reservation closed",
                    org=change.org,
                    reservation_id=str(change.reservation_id),
                    dealer_id=change.dealer_id,
                    status=status.value,
                )
                return closed

            current = await self._current(change.org, change.reservation_id)
            check(current, change.dealer_id)
            if current.status is status:
                return current

        raise _unsettled()

    def _change(
        self, *, org: str, reservation_id: str, dealer_id: str, request_id: str | None
    ) -> Change:
        return Change(
            org=org,
            reservation_id=_parse_id(reservation_id),
            dealer_id=dealer_id,
            at=self._clock(),
            request_id=request_id,
        )

    async def _current(self, org: str, reservation_id: UUID) -> Reservation:
        reservation = await self._store.get(org, reservation_id)
        if reservation is None:
            raise ReservationNotFound(str(reservation_id))
        return reservation.as_of(self._clock())

    def _extension(self, ttl_seconds: int | None) -> timedelta:
        if ttl_seconds is None:
            return self._holding.ttl or self._holding.max_ttl
        limit = int(self._holding.max_ttl.total_seconds())
        if not 1 <= ttl_seconds <= limit:
            raise ValidationFailed(f"ttl_seconds must be between 1 and {limit}")
        return timedelta(seconds=ttl_seconds)


def _parse_id(reservation_id: str) -> UUID:
    try:
        return UUID(reservation_id)
    except ValueError:
        raise ReservationNotFound(reservation_id) from None


@contextmanager
def _reading() -> Iterator[None]:
    """Say that reading failed, rather than the default of persisting."""
    try:
        yield
    except StorageUnavailable as exc:
        raise StorageUnavailable(
            "Unable to read reservation data",
            "The reservation could not be read from the database. "
            "Please try again later.",
        ) from exc


def _unsettled() -> StorageUnavailable:
    return StorageUnavailable(
        "Unable to persist reservation data",
        "The reservation changed while it was being updated. Please try again.",
    )
