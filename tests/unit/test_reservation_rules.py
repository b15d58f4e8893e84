"""The reservation's own rules, with no I/O."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from masstock.domain.errors import DealerMismatch, ReservationNotCancellable
from masstock.domain.reservation import CloseReason, Reservation, Status

NOON = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def _hold(dealer_id: str = "DEALER001") -> Reservation:
    return Reservation.hold(
        org="yoigo",
        device_id="356938035643809",
        dealer_id=dealer_id,
        is_sim=False,
        at=NOON,
    )


def test_a_new_hold_is_active_and_unclosed() -> None:
    reservation = _hold()

    assert reservation.status is Status.CREATED
    assert reservation.is_active
    assert reservation.closed_at is None
    assert reservation.closed_by is None
    assert reservation.created_at == reservation.updated_at == NOON


def test_every_hold_gets_its_own_id() -> None:
    assert _hold().id != _hold().id


def test_the_dealer_who_made_a_hold_may_cancel_it() -> None:
    _hold("DEALER001").check_cancellable_by("DEALER001")


def test_another_dealer_may_not_cancel_a_hold() -> None:
    with pytest.raises(DealerMismatch) as caught:
        _hold("DEALER001").check_cancellable_by("DEALER002")

    assert caught.value.message == (
        "Dealer DEALER002 cannot cancel reservation created by dealer DEALER001"
    )


def test_a_finalized_reservation_cannot_be_cancelled() -> None:
    finalized = _hold().closed(
        status=Status.FINALIZED,
        reason=CloseReason.FINALIZED_BY_DEALER,
        by="DEALER001",
        at=NOON,
    )

    with pytest.raises(ReservationNotCancellable):
        finalized.check_cancellable_by("DEALER001")


def test_another_dealer_hears_of_the_mismatch_before_the_state() -> None:
    finalized = _hold().closed(
        status=Status.FINALIZED,
        reason=CloseReason.FINALIZED_BY_DEALER,
        by="DEALER001",
        at=NOON,
    )

    with pytest.raises(DealerMismatch):
        finalized.check_cancellable_by("DEALER002")


def test_closing_records_who_and_when() -> None:
    later = datetime(2026, 12, 3, 12, 5, tzinfo=UTC)

    cancelled = _hold().closed(
        status=Status.CANCELLED,
        reason=CloseReason.CANCELLED_BY_DEALER,
        by="DEALER001",
        at=later,
    )

    assert cancelled.status is Status.CANCELLED
    assert not cancelled.is_active
    assert cancelled.closed_by == "DEALER001"
    assert cancelled.closed_at == cancelled.updated_at == later
    assert cancelled.created_at == NOON
