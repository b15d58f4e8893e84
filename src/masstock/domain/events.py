"""The history of a reservation: one event per change, in order."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

# The actor of changes that no dealer made, such as an expiry.
SYSTEM_ACTOR = "system"


class EventKind(StrEnum):
    CREATED = "CREATED"
    CANCELLED = "CANCELLED"
    FINALIZED = "FINALIZED"
    EXPIRED = "EXPIRED"
    EXTENDED = "EXTENDED"


@dataclass(frozen=True, slots=True, kw_only=True)
class ReservationEvent:
    """One change of one reservation: what, who, when, and for which request."""

    reservation_id: UUID
    org: str
    kind: EventKind
    actor: str
    at: datetime
    request_id: str | None = None
    expires_at: datetime | None = None
