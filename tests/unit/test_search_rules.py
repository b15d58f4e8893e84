"""What a search may ask for, what it is told when it asks wrong, and cursors."""

from __future__ import annotations

import base64
import json
from dataclasses import astuple
from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID

import pytest

from masstock.domain.errors import ValidationFailed
from masstock.domain.reservation import Reservation, Status
from masstock.domain.search import (
    DEFAULT_LIMIT,
    Position,
    SearchFilters,
    SearchQuery,
    decode_cursor,
    encode_cursor,
    parse_search,
)
from masstock.service.search import SearchReservations

NOON = datetime(2026, 12, 3, 12, 0, 0, 123456, tzinfo=UTC)
RESERVATION_ID = UUID("a1b2c3d4-e5f6-7890-abcd-ef1234567890")
DEALER_FILTERS = SearchFilters(org="yoigo", dealer_id="DEALER001")
STATUS_RULE = "status must be one of CREATED, CANCELLED, FINALIZED"
TIME_RULE = "must be an ISO 8601 date-time with a time zone"
CHARSET = "may contain only letters, digits and the characters . _ : -"


def _message(query: SearchQuery, org: str = "yoigo") -> str:
    with pytest.raises(ValidationFailed) as raised:
        parse_search(org, query)
    return raised.value.message


def _token(payload: object) -> str:
    raw = json.dumps(payload).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_a_search_with_no_parameters_lists_the_org_fifty_at_a_time() -> None:
    search = parse_search("yoigo", SearchQuery())

    assert search.filters == SearchFilters(org="yoigo")
    assert search.limit == DEFAULT_LIMIT == 50
    assert search.after is None


def test_every_filter_is_read_and_times_are_taken_to_utc() -> None:
    query = SearchQuery(
        dealer_id="DEALER001",
        device_id="356938035643809",
        status="CANCELLED",
        created_after="2026-12-03T13:00:00+01:00",
        created_before="2026-12-04T12:00:00.5Z",
        limit="500",
    )

    search = parse_search("yoigo", query)

    assert search.filters == SearchFilters(
        org="yoigo",
        dealer_id="DEALER001",
        device_id="356938035643809",
        status=Status.CANCELLED,
        created_after=datetime(2026, 12, 3, 12, tzinfo=UTC),
        created_before=datetime(2026, 12, 4, 12, 0, 0, 500000, tzinfo=UTC),
    )
    assert search.limit == 500


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("status", "ACTIVE", STATUS_RULE),
        ("status", "created", STATUS_RULE),
        ("status", "", STATUS_RULE),
        ("limit", "0", "limit must be between 1 and 500"),
        ("limit", "501", "limit must be between 1 and 500"),
        ("limit", "-1", "limit must be between 1 and 500"),
        ("limit", "9" * 5000, "limit must be between 1 and 500"),
        ("limit", "ten", "limit must be an integer"),
        ("limit", "2.5", "limit must be an integer"),
        ("limit", " 5", "limit must be an integer"),
        ("limit", "1_0", "limit must be an integer"),
        ("limit", "", "limit must be an integer"),
        ("dealer_id", "", "dealer_id must not be blank"),
        ("dealer_id", "DEALER 001", f"dealer_id {CHARSET}"),
        ("device_id", "9" * 65, "device_id must be at most 64 characters"),
        ("device_id", "../etc/passwd", f"device_id {CHARSET}"),
        ("created_after", "2026-12-03", f"created_after {TIME_RULE}"),
        ("created_after", "2026-12-03T12:00:00", f"created_after {TIME_RULE}"),
        ("created_after", "yesterday", f"created_after {TIME_RULE}"),
        ("created_before", "2026-13-03T12:00Z", f"created_before {TIME_RULE}"),
        ("created_before", "0001-01-01T00:00+01:00", f"created_before {TIME_RULE}"),
        (
            "created_before",
            "2026-12-03T12:00Z" + " " * 60,
            f"created_before {TIME_RULE}",
        ),
        ("cursor", "not a cursor", "cursor is not valid"),
    ],
)
def test_a_bad_parameter_is_refused_naming_it(
    field: str, value: str, message: str
) -> None:
    query = SearchQuery(**{field: value})

    assert _message(query) == message


def test_an_offset_whose_plus_became_a_space_is_refused_with_a_hint() -> None:
    query = SearchQuery(created_after="2026-12-03T12:00:00 01:00")

    with pytest.raises(ValidationFailed) as raised:
        parse_search("yoigo", query)

    assert raised.value.message == f"created_after {TIME_RULE}"
    assert raised.value.details is not None
    assert "%2B" in raised.value.details


def test_the_filters_are_checked_before_the_limit_and_the_cursor() -> None:
    query = SearchQuery(status="ACTIVE", limit="0", cursor="?")

    assert _message(query).startswith("status ")


def test_a_cursor_brings_back_the_position_it_was_made_from() -> None:
    position = Position(NOON, RESERVATION_ID)

    cursor = encode_cursor(position, DEALER_FILTERS)

    assert decode_cursor(cursor, DEALER_FILTERS) == position
    assert cursor.isascii()
    assert set(cursor) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    )


def test_a_cursor_keeps_the_microseconds_of_a_time_in_another_zone() -> None:
    madrid = NOON.astimezone(timezone(timedelta(hours=1)))

    cursor = encode_cursor(Position(madrid, RESERVATION_ID), DEALER_FILTERS)

    assert decode_cursor(cursor, DEALER_FILTERS) == Position(NOON, RESERVATION_ID)


def test_a_search_with_a_cursor_resumes_after_its_position() -> None:
    position = Position(NOON, RESERVATION_ID)
    cursor = encode_cursor(position, DEALER_FILTERS)

    search = parse_search("yoigo", SearchQuery(dealer_id="DEALER001", cursor=cursor))

    assert search.after == position


@pytest.mark.parametrize(
    "other",
    [
        SearchFilters(org="yoigo", dealer_id="DEALER002"),
        SearchFilters(org="yoigo"),
        SearchFilters(org="masmovil", dealer_id="DEALER001"),
        SearchFilters(org="yoigo", dealer_id="DEALER001", status=Status.CREATED),
        SearchFilters(org="yoigo", dealer_id="DEALER001", created_before=NOON),
    ],
)
def test_a_cursor_made_for_other_filters_is_refused(other: SearchFilters) -> None:
    cursor = encode_cursor(Position(NOON, RESERVATION_ID), DEALER_FILTERS)

    with pytest.raises(ValidationFailed) as raised:
        decode_cursor(cursor, other)

    assert raised.value.message == "cursor is not valid"
    assert raised.value.details is not None


def test_the_same_instant_in_two_zones_is_the_same_filter() -> None:
    in_utc = SearchFilters(org="yoigo", created_after=NOON)
    in_madrid = SearchFilters(
        org="yoigo", created_after=NOON.astimezone(timezone(timedelta(hours=1)))
    )

    assert in_utc.fingerprint() == in_madrid.fingerprint()


def test_a_different_limit_keeps_a_cursor_usable() -> None:
    cursor = encode_cursor(Position(NOON, RESERVATION_ID), DEALER_FILTERS)

    search = parse_search(
        "yoigo", SearchQuery(dealer_id="DEALER001", limit="7", cursor=cursor)
    )

    assert search.after == Position(NOON, RESERVATION_ID)


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "====",
        "eyJ2IjoxfQ",  # {"v":1}: no position at all
        "A" * 300,
        "bm90IGpzb24",  # "not json"
        "/+/+",
        _token([1, 2]),
        _token({"v": 2, "at": NOON.isoformat(), "id": str(RESERVATION_ID), "f": ""}),
        _token({"v": 1, "at": 7, "id": str(RESERVATION_ID), "f": ""}),
        _token({"v": 1, "at": NOON.isoformat(), "id": 7, "f": ""}),
        _token({"v": 1, "at": NOON.isoformat(), "id": "DEALER001", "f": ""}),
        _token({"v": 1, "at": "2026-12-03T12:00:00", "id": str(RESERVATION_ID)}),
        _token({"v": 1, "at": "noon", "id": str(RESERVATION_ID), "f": ""}),
    ],
)
def test_a_malformed_cursor_is_refused(cursor: str) -> None:
    with pytest.raises(ValidationFailed) as raised:
        decode_cursor(cursor, DEALER_FILTERS)

    assert raised.value.message == "cursor is not valid"


def _hold(*, at: datetime = NOON, ttl: timedelta | None = None) -> Reservation:
    return Reservation.hold(
        org="yoigo",
        device_id="356938035643809",
        dealer_id="DEALER001",
        is_sim=False,
        at=at,
        ttl=ttl,
    )


@pytest.mark.parametrize(
    ("ttl", "now", "status"),
    [
        (None, NOON + timedelta(days=400), Status.CREATED),
        (timedelta(hours=72), NOON + timedelta(hours=71), Status.CREATED),
        (timedelta(hours=72), NOON + timedelta(hours=72), Status.CANCELLED),
        (timedelta(hours=72), NOON + timedelta(hours=73), Status.CANCELLED),
    ],
)
def test_the_status_filter_sees_a_hold_as_it_stands_at_that_moment(
    ttl: timedelta | None, now: datetime, status: Status
) -> None:
    hold = _hold(ttl=ttl)

    matching = [
        s for s in Status if SearchFilters(org="yoigo", status=s).matches(hold, now)
    ]

    assert matching == [status]


def test_a_creation_window_includes_its_start_and_excludes_its_end() -> None:
    window = SearchFilters(
        org="yoigo", created_after=NOON, created_before=NOON + timedelta(hours=1)
    )

    assert window.matches(_hold(at=NOON), NOON)
    assert window.matches(_hold(at=NOON + timedelta(minutes=59)), NOON)
    assert not window.matches(_hold(at=NOON + timedelta(hours=1)), NOON)
    assert not window.matches(_hold(at=NOON - timedelta(microseconds=1)), NOON)


class _InMemorySearch:
    """The search port over a list, by the rules of ``SearchFilters.matches``."""

    def __init__(self, reservations: list[Reservation]) -> None:
        self.reservations = reservations

    async def search(
        self,
        filters: SearchFilters,
        *,
        after: Position | None,
        limit: int,
        now: datetime,
    ) -> list[Reservation]:
        newest_first = sorted(
            self.reservations, key=lambda r: (r.created_at, r.id), reverse=True
        )
        return [
            r
            for r in newest_first
            if filters.matches(r, now)
            and (after is None or (r.created_at, r.id) < astuple(after))
        ][:limit]


async def test_the_last_page_has_no_cursor_and_shows_holds_as_they_stand() -> None:
    expired = _hold(ttl=timedelta(hours=72))
    later = _hold(at=NOON + timedelta(hours=1))
    searches = SearchReservations(
        search=_InMemorySearch([expired, later]),
        clock=lambda: NOON + timedelta(days=4),
    )

    first = await searches.page("yoigo", SearchQuery(limit="1"))
    last = await searches.page(
        "yoigo", SearchQuery(limit="1", cursor=first.next_cursor)
    )

    assert first.items == [later]
    assert first.next_cursor is not None
    assert last.items == [expired.expired()]
    assert last.next_cursor is None
