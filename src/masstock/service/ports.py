"""What the use cases need from the outside world, and nothing more."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol
from uuid import UUID

from masstock.domain.access import Caller
from masstock.domain.device import Device, DeviceBatch
from masstock.domain.events import EventKind, ReservationEvent
from masstock.domain.reservation import CloseReason, Reservation, Status
from masstock.domain.search import Position, SearchFilters

Clock = Callable[[], datetime]


class DeviceDirectory(Protocol):
    """Where the truth about devices lives: the catalog, or the inventory system."""

    async def find(
        self, org: str, identifier: str, *, is_sim: bool | None = None
    ) -> Device | None:
        """The device known under ``identifier`` in ``org``, if any.

        ``is_sim`` says which kind the caller expects, when it knows: SIM
        cards may live in another system than handsets and routers.
        """
        ...


class DeviceCatalog(Protocol):
    """The embedded catalog's write side: devices loaded in bulk, all or none."""

    async def save_devices(
        self, batches: Iterable[DeviceBatch], *, at: datetime
    ) -> int:
        """Insert or update every device of ``batches`` in one transaction.

        Existing devices (same org and identifier) take the new reference, mac
        and kind, and ``at`` as their update time.  When ``batches`` raises,
        nothing is saved and the error propagates.  Returns the devices written.
        """
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    """A dealer's change to one reservation: whose, by whom, when, for which request."""

    org: str
    reservation_id: UUID
    dealer_id: str
    at: datetime
    request_id: str | None = None


class SchemaProbe(Protocol):
    """Whether the database answers, and which migration it is at."""

    async def schema_revision(self) -> str | None:
        """The revision in force; raises StorageUnavailable if the database is away."""
        ...


class ReservationStore(Protocol):
    """Durable reservations, with at most one active hold per (org, device).

    Every change is written with its event in the reservation's history, in
    the same transaction, and so is the answer of ``completion`` if given.
    Reservations are returned as written: callers see them as they stand now
    through ``Reservation.as_of``.
    """

    async def add(
        self,
        reservation: Reservation,
        *,
        request_id: str | None,
        completion: KeyCompletion | None = None,
        dealer_limit: int | None = None,
    ) -> Reservation:
        """Store ``reservation`` unless its device is held; return the holder.

        The holder is ``reservation`` itself when it was stored, else the
        active reservation that holds the device.  A holder whose time ran out
        by ``reservation.created_at`` is closed as expired first, in the same
        transaction, and does not count.

        With ``dealer_limit``, a dealer that already holds that many active
        reservations in the org (those whose time ran out by
        ``reservation.created_at`` do not count) gets DealerLimitReached and
        nothing changes, under any concurrency; a device held by another still
        answers with its holder.  None: no cap.
        """
        ...

    async def get(self, org: str, reservation_id: UUID) -> Reservation | None:
        """The reservation with that id in ``org``, if any."""
        ...

    async def close(
        self,
        change: Change,
        *,
        status: Status,
        reason: CloseReason,
        completion: KeyCompletion | None = None,
    ) -> Reservation | None:
        """End a hold that ``change.dealer_id`` made and that is active at
        ``change.at``; None if no such hold."""
        ...

    async def extend(
        self,
        change: Change,
        *,
        until: datetime,
        completion: KeyCompletion | None = None,
    ) -> Reservation | None:
        """Move the expiry of an active hold of ``change.dealer_id`` to ``until``;
        None if no such hold."""
        ...

    async def expire_due(self, *, now: datetime, limit: int) -> dict[str, int]:
        """Close up to ``limit`` holds whose time ran out by ``now``; how many
        in each org that had any.

        Safe to run from many processes at once: each hold is closed once.
        """
        ...

    async def history(self, org: str, reservation_id: UUID) -> list[ReservationEvent]:
        """Every change of the reservation, oldest first."""
        ...


class ReservationSearch(Protocol):
    """An org's reservations, found by filters and read a page at a time."""

    async def search(
        self,
        filters: SearchFilters,
        *,
        after: Position | None,
        limit: int,
        now: datetime,
    ) -> list[Reservation]:
        """Up to ``limit`` reservations matching ``filters`` at ``now``, newest first.

        Newest first is ``(created_at, id)`` descending; with ``after``, only
        those strictly past it in that order.  The status filter sees each
        reservation as ``Reservation.as_of(now)`` would; the reservations are
        returned as written.
        """
        ...


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """An answer kept under an idempotency key, to be replayed as it was."""

    status: int
    media_type: str
    body: bytes


@dataclass(slots=True, kw_only=True)
class KeyCompletion:
    """The answer to record under an idempotency key when a change commits.

    A store that makes the change writes ``render(result)`` under the key in
    the same transaction, and sets ``written``.
    """

    org: str
    caller: str
    key: str
    render: Callable[[Reservation], StoredResponse]
    written: bool = False


@dataclass(frozen=True, slots=True)
class Claim:
    """What claiming a key found: ``stored`` to replay, or a reason to refuse."""

    outcome: str  # "claimed", "replay", "reused", "in_use"
    stored: StoredResponse | None = None


class IdempotencyKeys(Protocol):
    """Idempotency keys and the answers kept under them, per org and caller.

    ``caller`` is the subject of the request's credentials ("" when nobody
    signs in): the same key from two callers is two keys.
    """

    async def claim(  # noqa: PLR0913 (three names of a key, three times)
        self,
        *,
        org: str,
        caller: str,
        key: str,
        fingerprint: str,
        now: datetime,
        expires_at: datetime,
        stale_before: datetime,
    ) -> Claim:
        """Take ``key`` for a first request, or say why not.

        An unfinished claim made before ``stale_before`` is taken over: its
        request died without an answer and without a change.
        """
        ...

    async def complete(
        self, *, org: str, caller: str, key: str, stored: StoredResponse
    ) -> None:
        """Keep ``stored`` as the answer under ``key`` (nothing else changed)."""
        ...

    async def release(self, *, org: str, caller: str, key: str) -> None:
        """Drop an unfinished claim: its request changed nothing."""
        ...

    async def purge(self, *, now: datetime) -> int:
        """Forget the keys whose time is up; how many."""
        ...


class TokenVerifier(Protocol):
    """Bearer tokens checked against the issuer's keys."""

    async def verify(self, token: str) -> Caller:
        """The caller the token speaks for; raises Unauthorized if it is not good.

        A token signed with a key the issuer does not publish (an unknown
        ``kid``) is not good either; when the published keys cannot be fetched
        and none known fits, raises AuthUnavailable.
        """
        ...


class RateLimiter(Protocol):
    """Requests counted per caller, over a window shared by every replica."""

    async def hit(self, caller: str) -> int | None:
        """Count one request of ``caller``: None if allowed, else seconds to wait.

        When the limiter's own store is away, the request is allowed and the
        failure logged: an abuse limit never takes the service down with it.
        """
        ...


# Why a create was refused with 409: the device is held, or the dealer holds
# as many as it may.
Refusal = Literal["device_held", "dealer_limit"]


class ReservationMetrics(Protocol):
    """What happens to holds, counted per org for the operators' dashboards."""

    def changed(self, org: str, kind: EventKind, count: int = 1) -> None:
        """``count`` reservations of ``org`` went through a change of ``kind``."""
        ...

    def refused(self, org: str, reason: Refusal) -> None:
        """A create in ``org`` was refused for ``reason``."""
        ...
