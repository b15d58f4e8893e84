"""The seed's examples, request and response, against a running server."""

from __future__ import annotations

import uuid

import httpx

CREATE = "/v1/orgs/yoigo/reservation"


def test_the_contract_create_example_returns_a_reservation_id(
    api: httpx.Client,
) -> None:
    response = api.post(
        CREATE,
        json={"device_id": "DEVICE123456", "dealer_id": "DEALER001", "is_sim": True},
    )

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert set(response.json()) == {"reservation_id"}
    assert uuid.UUID(response.json()["reservation_id"]).version == 4
