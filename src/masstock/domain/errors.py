"""The errors the service can answer with, each with its contract code.

The HTTP status of each lives in one place, ``masstock.api.errors``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from masstock.domain.reservation import Reservation


class MasstockError(Exception):
    """An outcome the caller is told about, with a stable code."""

    code = "INTERNAL_ERROR"

    def __init__(self, message: str, details: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class ValidationFailed(MasstockError):
    """The request is malformed or breaks a rule of its fields."""

    code = "VALIDATION_ERROR"


class OrganizationNotFound(MasstockError):
    """The org is not registered with this service."""

    code = "ORGANIZATION_NOT_FOUND"

    def __init__(self, org: str) -> None:
        super().__init__(f"Organization {org} not found")


class UnknownDevice(MasstockError):
    """A reservation names a device that the inventory does not know."""

    code = "NOT_FOUND"

    def __init__(self) -> None:
        super().__init__("device_id not found")


class DeviceNotFound(MasstockError):
    """A device lookup found nothing under that identifier."""

    code = "DEVICE_NOT_FOUND"

    def __init__(self, identifier: str) -> None:
        super().__init__(f"Device with identifier {identifier} not found")


class ReservationNotFound(MasstockError):
    """No reservation with that id exists in the org."""

    code = "RESERVATION_NOT_FOUND"

    def __init__(self, reservation_id: str) -> None:
        super().__init__(f"Reservation with ID {reservation_id} not found")


class ReservationConflict(MasstockError):
    """The device is already held; ``holder`` is the reservation holding it."""

    code = "RESERVATION_CONFLICT"

    def __init__(self, holder: Reservation) -> None:
        super().__init__(
            f"Reservation already exists for device {holder.device_id} with status "
            f"{holder.status}, created by dealer {holder.dealer_id}"
        )
        self.holder = holder


class DealerMismatch(MasstockError):
    """A dealer acted on a reservation that another dealer made."""

    code = "DEALER_MISMATCH"

    def __init__(self, *, dealer_id: str, owner_id: str, action: str) -> None:
        super().__init__(
            f"Dealer {dealer_id} cannot {action} reservation created by dealer "
            f"{owner_id}"
        )


class ReservationNotCancellable(MasstockError):
    """The reservation reached a state that cancelling cannot leave."""

    code = "RESERVATION_NOT_CANCELLABLE"

    def __init__(self, reservation_id: str, status: str) -> None:
        super().__init__(
            f"Reservation with ID {reservation_id} is {status} and cannot be cancelled"
        )


class ReservationNotFinalizable(MasstockError):
    """The reservation was cancelled (or expired); no sale can finalize it."""

    code = "RESERVATION_NOT_FINALIZABLE"

    def __init__(self, reservation_id: str, status: str) -> None:
        super().__init__(
            f"Reservation with ID {reservation_id} is {status} and cannot be finalized"
        )


class ReservationNotExtendable(MasstockError):
    """Only an active reservation can be held for longer."""

    code = "RESERVATION_NOT_EXTENDABLE"

    def __init__(self, reservation_id: str, status: str) -> None:
        super().__init__(
            f"Reservation with ID {reservation_id} is {status} and cannot be extended"
        )


class InventoryUnavailable(MasstockError):
    """The inventory system could not answer in time; nothing was changed.

    ``retry_after`` is how many seconds a caller should wait before trying
    again (the circuit breaker's remaining cool-down, or a default).
    """

    code = "INVENTORY_UNAVAILABLE"

    def __init__(self, *, retry_after: int) -> None:
        super().__init__(
            "The inventory system is unavailable",
            "The device could not be checked. Please try again later.",
        )
        self.retry_after = retry_after


class InventoryBadResponse(MasstockError):
    """The inventory system answered with something unusable; nothing was changed."""

    code = "INVENTORY_BAD_RESPONSE"

    def __init__(self) -> None:
        super().__init__(
            "The inventory system gave an answer that could not be used",
            "The device could not be checked. Please try again later.",
        )


class IdempotencyKeyReused(MasstockError):
    """An idempotency key came back with another request than its first."""

    code = "IDEMPOTENCY_KEY_REUSED"

    def __init__(self) -> None:
        super().__init__(
            "Idempotency-Key was already used for a different request",
            "Send a new key for a new request.",
        )


class IdempotencyKeyInUse(MasstockError):
    """The first request with this idempotency key has not finished yet."""

    code = "IDEMPOTENCY_KEY_IN_USE"

    def __init__(self) -> None:
        super().__init__(
            "A request with this Idempotency-Key is still in progress",
            "Retry once it has finished.",
        )


class StorageUnavailable(MasstockError):
    """The database could not be reached or refused the work; nothing changed."""

    code = "DATABASE_ERROR"

    def __init__(
        self,
        message: str = "Unable to persist reservation data",
        details: str | None = (
            "The reservation could not be saved to the database. "
            "Please try again later."
        ),
    ) -> None:
        super().__init__(message, details)


class Unauthorized(MasstockError):
    """The request carries no usable credentials; nothing was done.

    ``presented`` tells whether a token came at all: an answer to a request
    with none names no error (RFC 6750, section 3.1).
    """

    code = "UNAUTHORIZED"

    def __init__(self, message: str, *, presented: bool = True) -> None:
        super().__init__(message)
        self.presented = presented


class Forbidden(MasstockError):
    """The caller is known but may not do this; nothing was done.

    ``scope`` names the missing scope when that is the reason.
    """

    code = "FORBIDDEN"

    def __init__(self, message: str, *, scope: str | None = None) -> None:
        super().__init__(message)
        self.scope = scope


class AuthUnavailable(MasstockError):
    """The issuer's signing keys could not be fetched to check a token."""

    code = "AUTH_UNAVAILABLE"

    def __init__(self) -> None:
        super().__init__(
            "Unable to check the bearer token",
            "The issuer's signing keys could not be fetched. Please try again later.",
        )


class DealerLimitReached(MasstockError):
    """The dealer already holds as many devices as a dealer may."""

    code = "DEALER_LIMIT_REACHED"

    def __init__(self, dealer_id: str, limit: int) -> None:
        super().__init__(
            f"Dealer {dealer_id} already holds {limit} active reservations",
            "Cancel or finalize a reservation before creating another.",
        )
        self.limit = limit


class RateLimited(MasstockError):
    """The caller sent more requests than its limit allows; this one was not run."""

    code = "RATE_LIMITED"

    def __init__(self, *, retry_after: int) -> None:
        super().__init__("Too many requests", f"Retry after {retry_after} seconds.")
        self.retry_after = retry_after
