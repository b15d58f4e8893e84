"""Listing reservations over HTTP, against a running server."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx
import pytest

from masstock.domain.search import Position, SearchFilters, encode_cursor

SEARCH = "/v1/orgs/yoigo/reservations"
HANDSET = "356938035643809"
SIM = "DEVICE123456"
TIME_RULE = "must be an ISO 8601 date-time with a time zone"
CHARSET = "may contain only letters, digits and the characters . _ : -"
VIEW_FIELDS = {
    "reservation_id",
    "device_id",
    "dealer_id",
    "is_sim",
    "status",
    "created_at",
    "updated_at",
    "expires_at",
    "closed_at",
    "closed_by",
    "close_reason",
}


def _reserve(
    api: httpx.Client, device_id: str = HANDSET, dealer_id: str = "DEALER001"
) -> str:
    body = {"device_id": device_id, "dealer_id": dealer_id, "is_sim": device_id == SIM}
    response = api.post("/v1/orgs/yoigo/reservation", json=body)
    assert response.status_code == 200, response.text
    reservation_id: str = response.json()["reservation_id"]
    return reservation_id


def _cancel(api: httpx.Client, reservation_id: str) -> None:
    response = api.post(
        f"/v1/orgs/yoigo/reservation/{reservation_id}/cancellation",
        json={"dealer": "DEALER001"},
    )
    assert response.status_code == 200, response.text


def _search(api: httpx.Client, **params: str) -> dict[str, Any]:
    response = api.get(SEARCH, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    page: dict[str, Any] = response.json()
    return page


def test_a_dealer_lists_what_it_holds(api: httpx.Client) -> None:
    held = _reserve(api, HANDSET, "DEALER001")
    _reserve(api, SIM, "DEALER002")

    page = _search(api, dealer_id="DEALER001", status="CREATED")

    assert page["next_cursor"] is None
    [item] = page["items"]
    assert set(item) == VIEW_FIELDS
    assert item["reservation_id"] == held
    assert item["device_id"] == HANDSET
    assert item["dealer_id"] == "DEALER001"
    assert item["is_sim"] is False
    assert item["status"] == "CREATED"
    assert item["created_at"].endswith("Z")
    assert item["close_reason"] is None


def test_a_dealer_pages_through_its_history_newest_first(api: httpx.Client) -> None:
    made = []
    for _ in range(4):
        made.append(_reserve(api))
        _cancel(api, made[-1])
    made.append(_reserve(api))

    listed: list[str] = []
    params = {"dealer_id": "DEALER001", "limit": "2"}
    while True:
        page = _search(api, **params)
        listed.extend(item["reservation_id"] for item in page["items"])
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]

    assert listed == list(reversed(made))


def test_a_time_window_with_an_escaped_offset_finds_what_it_covers(
    api: httpx.Client,
) -> None:
    held = _reserve(api)

    inside = _search(api, created_after="2000-01-01T01:00:00+01:00")
    outside = _search(api, created_before="2000-01-01T00:00:00Z")

    assert [item["reservation_id"] for item in inside["items"]] == [held]
    assert outside == {"items": [], "next_cursor": None}


def _foreign_cursor() -> str:
    other = SearchFilters(org="yoigo", dealer_id="DEALER002")
    noon = datetime(2026, 12, 3, 12, tzinfo=UTC)
    return encode_cursor(Position(noon, UUID(int=1)), other)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"status": "ACTIVE"}, "status must be one of CREATED, CANCELLED, FINALIZED"),
        ({"limit": "0"}, "limit must be between 1 and 500"),
        ({"limit": "501"}, "limit must be between 1 and 500"),
        ({"limit": "fifty"}, "limit must be an integer"),
        ({"dealer_id": ""}, "dealer_id must not be blank"),
        ({"dealer_id": "DEALER 001"}, f"dealer_id {CHARSET}"),
        ({"device_id": "9" * 65}, "device_id must be at most 64 characters"),
        ({"created_after": "2026-12-03"}, f"created_after {TIME_RULE}"),
        ({"created_before": "2026-12-03T12:00:00"}, f"created_before {TIME_RULE}"),
        ({"cursor": "bm90IGEgY3Vyc29y"}, "cursor is not valid"),
        (
            {"dealer_id": "DEALER001", "cursor": _foreign_cursor()},
            "cursor is not valid",
        ),
    ],
)
def test_a_bad_search_parameter_is_refused_naming_it(
    api: httpx.Client, params: dict[str, str], message: str
) -> None:
    response = api.get(SEARCH, params=params)

    assert response.status_code == 400, response.text
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert response.json()["message"] == message


def test_an_unescaped_plus_in_an_offset_is_refused_with_a_hint(
    api: httpx.Client,
) -> None:
    response = api.get(f"{SEARCH}?created_after=2026-12-03T12:00:00+01:00")

    assert response.status_code == 400
    assert response.json() == {
        "code": "VALIDATION_ERROR",
        "message": f"created_after {TIME_RULE}",
        "details": "A + in a URL query reads as a space; send an offset's + as %2B.",
    }


def test_reservations_of_an_unknown_org_are_not_found(api: httpx.Client) -> None:
    response = api.get("/v1/orgs/nope/reservations")

    assert response.status_code == 404
    assert response.json() == {
        "code": "ORGANIZATION_NOT_FOUND",
        "message": "Organization nope not found",
        "details": None,
    }


def test_another_orgs_reservations_are_not_listed(api: httpx.Client) -> None:
    _reserve(api)

    page = api.get("/v1/orgs/masmovil/reservations").json()

    assert page == {"items": [], "next_cursor": None}
