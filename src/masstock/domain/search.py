"""Searching an org's reservations: which filters mean what, and page cursors.

Pages are newest first, ordered by ``(created_at, id)`` descending, and walked
by keyset: a cursor names the last item shown, so rows written between two
pages never shift the next one.  A cursor also carries a fingerprint of the
filters it was issued for; used with other filters it is refused rather than
quietly answering a different question.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from masstock.domain.errors import ValidationFailed
from masstock.domain.identifiers import check_identifier
from masstock.domain.reservation import Reservation, Status

DEFAULT_LIMIT = 50
MAX_LIMIT = 500

# Longer than any cursor we issue, and than any time we accept: refused unread.
_MAX_CURSOR_LENGTH = 256
_MAX_TIME_LENGTH = 64
_INTEGER = re.compile(r"-?[0-9]+")
_URL_SAFE = re.compile(r"[A-Za-z0-9_-]+")
_STATUSES = ", ".join(status.value for status in Status)
_CURSOR_VERSION = 1
_PLUS_HINT = "A + in a URL query reads as a space; send an offset's + as %2B."


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchQuery:
    """A search as asked: each parameter as received, none checked yet."""

    dealer_id: str | None = None
    device_id: str | None = None
    status: str | None = None
    created_after: str | None = None
    created_before: str | None = None
    limit: str | None = None
    cursor: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchFilters:
    """Which reservations of ``org`` a search wants; None matches anything.

    ``created_after`` is inclusive and ``created_before`` exclusive, so that
    consecutive windows cover time with no gap and no overlap.  ``status`` is
    the status as of the moment of the search (see ``Reservation.as_of``).
    """

    org: str
    dealer_id: str | None = None
    device_id: str | None = None
    status: Status | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None

    def matches(self, reservation: Reservation, now: datetime) -> bool:
        """Whether ``reservation``, as it stands at ``now``, is one of these."""
        current = reservation.as_of(now)
        return (
            current.org == self.org
            and self.dealer_id in (None, current.dealer_id)
            and self.device_id in (None, current.device_id)
            and self.status in (None, current.status)
            and (self.created_after is None or current.created_at >= self.created_after)
            and (
                self.created_before is None or current.created_at < self.created_before
            )
        )

    def fingerprint(self) -> str:
        """A short digest of these filters, the same in every process."""
        canonical = json.dumps(
            [
                self.org,
                self.dealer_id,
                self.device_id,
                None if self.status is None else self.status.value,
                _utc_text(self.created_after),
                _utc_text(self.created_before),
            ],
            separators=(",", ":"),
        )
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Position:
    """Where a page ended: its last item's creation time and id."""

    created_at: datetime
    reservation_id: UUID

    @classmethod
    def of(cls, reservation: Reservation) -> Position:
        """The position just past ``reservation`` in newest-first order."""
        return cls(reservation.created_at, reservation.id)


@dataclass(frozen=True, slots=True, kw_only=True)
class Search:
    """A checked search: what to match, how many, and after which item."""

    filters: SearchFilters
    limit: int
    after: Position | None = None


def parse_search(org: str, query: SearchQuery) -> Search:
    """Check every parameter of ``query``; the first bad one is named."""
    filters = SearchFilters(
        org=org,
        dealer_id=_optional_identifier("dealer_id", query.dealer_id),
        device_id=_optional_identifier("device_id", query.device_id),
        status=parse_status(query.status),
        created_after=parse_time("created_after", query.created_after),
        created_before=parse_time("created_before", query.created_before),
    )
    limit = parse_limit(query.limit)
    after = None if query.cursor is None else decode_cursor(query.cursor, filters)
    return Search(filters=filters, limit=limit, after=after)


def parse_status(text: str | None) -> Status | None:
    """The status asked for, if any."""
    if text is None:
        return None
    try:
        return Status(text)
    except ValueError:
        raise ValidationFailed(f"status must be one of {_STATUSES}") from None


def parse_time(field: str, text: str | None) -> datetime | None:
    """An ISO 8601 date-time with an offset or ``Z``, in UTC; None if absent."""
    if text is None:
        return None
    message = f"{field} must be an ISO 8601 date-time with a time zone"
    if len(text) > _MAX_TIME_LENGTH:
        raise ValidationFailed(message)
    # An unescaped "+" in a query string arrives as a space: say so.
    hint = _PLUS_HINT if " " in text else None
    try:
        moment = datetime.fromisoformat(text)
        utc = moment.astimezone(UTC) if moment.tzinfo is not None else None
    except (ValueError, OverflowError):
        raise ValidationFailed(message, hint) from None
    if utc is None:
        raise ValidationFailed(message, hint)
    return utc


def parse_limit(text: str | None) -> int:
    """How many items a page holds: ``DEFAULT_LIMIT`` unless asked otherwise."""
    if text is None:
        return DEFAULT_LIMIT
    if not _INTEGER.fullmatch(text):
        raise ValidationFailed("limit must be an integer")
    out_of_range = ValidationFailed(f"limit must be between 1 and {MAX_LIMIT}")
    try:
        limit = int(text)
    except ValueError:
        # More digits than Python converts: far out of range either way.
        raise out_of_range from None
    if not 1 <= limit <= MAX_LIMIT:
        raise out_of_range
    return limit


def encode_cursor(position: Position, filters: SearchFilters) -> str:
    """An opaque, URL-safe token for the page after ``position``."""
    payload = {
        "v": _CURSOR_VERSION,
        "at": _utc_text(position.created_at),
        "id": str(position.reservation_id),
        "f": filters.fingerprint(),
    }
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(text: str, filters: SearchFilters) -> Position:
    """The position in ``text``, if it is a cursor issued for ``filters``."""
    invalid = ValidationFailed("cursor is not valid")
    if len(text) > _MAX_CURSOR_LENGTH or not _URL_SAFE.fullmatch(text):
        raise invalid
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError):
        raise invalid from None
    if not isinstance(payload, dict) or payload.get("v") != _CURSOR_VERSION:
        raise invalid
    at, reservation_id, fingerprint = (payload.get(k) for k in ("at", "id", "f"))
    if not (
        isinstance(at, str)
        and isinstance(reservation_id, str)
        and isinstance(fingerprint, str)
    ):
        raise invalid
    try:
        created_at = datetime.fromisoformat(at)
        position = Position(created_at.astimezone(UTC), UUID(reservation_id))
    except (ValueError, OverflowError):
        raise invalid from None
    if created_at.tzinfo is None:
        raise invalid
    if fingerprint != filters.fingerprint():
        raise ValidationFailed(
            "cursor is not valid",
            "The cursor belongs to a search with other filters; repeat those "
            "filters, or start again without a cursor.",
        )
    return position


def _optional_identifier(field: str, value: str | None) -> str | None:
    return None if value is None else check_identifier(field, value)


def _utc_text(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="microseconds")
