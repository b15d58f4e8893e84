"""The seed's examples, request and response, against a running server."""

from __future__ import annotations

import uuid

import httpx

CREATE = "/v1/orgs/yoigo/reservation"
CONTRACT_BODY = {"device_id": "DEVICE123456", "dealer_id": "DEALER001", "is_sim": True}
JSON = {"Content-Type": "application/json", "Accept": "application/json"}


def _create(api: httpx.Client, body: dict[str, object] = CONTRACT_BODY) -> str:
    response = api.post(CREATE, json=body, headers=JSON)
    assert response.status_code == 200, response.text
    reservation_id: str = response.json()["reservation_id"]
    return reservation_id


def test_the_contract_create_example_returns_a_reservation_id(
    api: httpx.Client,
) -> None:
    response = api.post(CREATE, json=CONTRACT_BODY, headers=JSON)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert set(response.json()) == {"reservation_id"}
    assert (
        str(uuid.UUID(response.json()["reservation_id"]))
        == (response.json()["reservation_id"])
    )


def test_a_missing_dealer_gives_the_contract_validation_error(
    api: httpx.Client,
) -> None:
    response = api.post(
        CREATE, json={"device_id": "DEVICE123456", "is_sim": True}, headers=JSON
    )

    assert response.status_code == 400
    assert response.json() == {
        "code": "VALIDATION_ERROR",
        "message": "dealer_id is required",
        "details": None,
    }


def test_an_unknown_device_gives_the_contract_not_found(api: httpx.Client) -> None:
    response = api.post(
        CREATE,
        json={"device_id": "DEVICE123", "dealer_id": "DEALER001", "is_sim": True},
        headers=JSON,
    )

    assert response.status_code == 404
    assert response.json() == {
        "code": "NOT_FOUND",
        "message": "device_id not found",
        "details": None,
    }


def test_a_held_device_gives_the_contract_conflict_naming_the_holder(
    api: httpx.Client,
) -> None:
    holder = _create(api)

    response = api.post(
        CREATE,
        json={"device_id": "DEVICE123456", "dealer_id": "DEALER002", "is_sim": True},
        headers=JSON,
    )

    assert response.status_code == 409
    assert response.json() == {
        "code": "RESERVATION_CONFLICT",
        "message": (
            "Reservation already exists for device DEVICE123456 with status "
            "CREATED, created by dealer DEALER001"
        ),
        "reservation_id": holder,
        "device_id": "DEVICE123456",
        "dealer_id": "DEALER001",
        "status": "CREATED",
    }


def test_the_contract_cancel_example_succeeds_for_the_dealer_who_reserved(
    api: httpx.Client,
) -> None:
    reservation_id = _create(api)

    response = api.post(
        f"/v1/orgs/yoigo/reservation/{reservation_id}/cancellation",
        json={"dealer": "DEALER001"},
        headers=JSON,
    )

    assert response.status_code == 200
    assert response.content == b""


def test_another_dealer_gets_the_contract_dealer_mismatch(api: httpx.Client) -> None:
    reservation_id = _create(api)

    response = api.post(
        f"/v1/orgs/yoigo/reservation/{reservation_id}/cancellation",
        json={"dealer": "DEALER002"},
        headers=JSON,
    )

    assert response.status_code == 400
    assert response.json() == {
        "code": "DEALER_MISMATCH",
        "message": "Dealer DEALER002 cannot cancel reservation created by dealer "
        "DEALER001",
        "details": None,
    }


def test_the_contract_reservation_id_is_not_found(api: httpx.Client) -> None:
    response = api.post(
        "/v1/orgs/yoigo/reservation/a1b2c3d4-e5f6-7890-abcd-ef1234567890/cancellation",
        json={"dealer": "DEALER001"},
        headers=JSON,
    )

    assert response.status_code == 404
    assert response.json() == {
        "code": "RESERVATION_NOT_FOUND",
        "message": "Reservation with ID a1b2c3d4-e5f6-7890-abcd-ef1234567890 not found",
        "details": None,
    }


def test_the_contract_device_lookup_example(api: httpx.Client) -> None:
    response = api.get(
        "/v1/orgs/yoigo/device",
        params={"identifier": "DEVICE123456"},
        headers={"Accept": "application/json"},
    )

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"reference": "REF123456", "mac": "00:1A:2B:3C:4D:5E"}


def test_an_unknown_device_lookup_gives_the_contract_device_not_found(
    api: httpx.Client,
) -> None:
    response = api.get("/v1/orgs/yoigo/device", params={"identifier": "DEVICE999999"})

    assert response.status_code == 404
    assert response.json() == {
        "code": "DEVICE_NOT_FOUND",
        "message": "Device with identifier DEVICE999999 not found",
        "details": None,
    }
