"""Every validation rule and error code, against a running server."""

from __future__ import annotations

import uuid

import httpx
import pytest

CREATE = "/v1/orgs/yoigo/reservation"
HANDSET = "356938035643809"
VALID = {"device_id": HANDSET, "dealer_id": "DEALER001", "is_sim": False}
CHARSET = "may contain only letters, digits and the characters . _ : -"


def _cancel_path(reservation_id: str, org: str = "yoigo") -> str:
    return f"/v1/orgs/{org}/reservation/{reservation_id}/cancellation"


def _reserve(api: httpx.Client, **changes: object) -> httpx.Response:
    return api.post(CREATE, json={**VALID, **changes})


def _assert_error(
    response: httpx.Response, status: int, code: str, message: str
) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"code": code, "message": message, "details": None}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"dealer_id": "DEALER001", "is_sim": False}, "device_id is required"),
        ({"device_id": HANDSET, "is_sim": False}, "dealer_id is required"),
        ({"device_id": HANDSET, "dealer_id": "DEALER001"}, "is_sim is required"),
        ({**VALID, "dealer_id": None}, "dealer_id is required"),
        ({**VALID, "device_id": 356938035643809}, "device_id must be a string"),
        ({**VALID, "dealer_id": ["DEALER001"]}, "dealer_id must be a string"),
        ({**VALID, "is_sim": "false"}, "is_sim must be a boolean"),
        ({**VALID, "is_sim": 0}, "is_sim must be a boolean"),
        ({**VALID, "dealer_id": ""}, "dealer_id must not be blank"),
        ({**VALID, "dealer_id": "   "}, "dealer_id must not be blank"),
        ({**VALID, "device_id": "9" * 65}, "device_id must be at most 64 characters"),
        ({**VALID, "dealer_id": "DEALER 001"}, f"dealer_id {CHARSET}"),
        ({**VALID, "device_id": "../etc/passwd"}, f"device_id {CHARSET}"),
        ({**VALID, "device_id": "35693803564380\u0000"}, f"device_id {CHARSET}"),
        ({}, "device_id is required"),
    ],
)
def test_a_bad_create_body_is_refused_naming_the_field(
    api: httpx.Client, body: dict[str, object], message: str
) -> None:
    response = api.post(CREATE, json=body)

    _assert_error(response, 400, "VALIDATION_ERROR", message)
    assert _reserve(api).status_code == 200


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"device_id": "356938035643809",', "request body is not valid JSON"),
        (b"device_id=356938035643809", "request body is not valid JSON"),
        (b"", "request body is required"),
        (b"[]", "request body must be a JSON object"),
        (b'"DEALER001"', "request body must be a JSON object"),
        (b"null", "request body must be a JSON object"),
        (b"\xff\xfe{}", "request body is not valid JSON"),
        (b"[" * 5000 + b"]" * 5000, "request body is nested too deeply"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_refused(
    api: httpx.Client, content: bytes, message: str
) -> None:
    response = api.post(
        CREATE, content=content, headers={"Content-Type": "application/json"}
    )

    _assert_error(response, 400, "VALIDATION_ERROR", message)


def test_unknown_fields_are_ignored(api: httpx.Client) -> None:
    response = _reserve(api, customer="Ana", channel="kiosk")

    assert response.status_code == 200


def test_a_body_over_64_kib_is_refused_and_changes_nothing(api: httpx.Client) -> None:
    padded = {**VALID, "padding": "x" * 70_000}

    response = api.post(CREATE, json=padded)

    _assert_error(
        response, 413, "PAYLOAD_TOO_LARGE", "request body must be at most 65536 bytes"
    )
    assert _reserve(api).status_code == 200


def test_a_chunked_body_over_64_kib_is_refused(api: httpx.Client) -> None:
    def chunks() -> object:
        yield b'{"device_id": "356938035643809", "padding": "'
        for _ in range(80):
            yield b"x" * 1024
        yield b'"}'

    response = api.post(CREATE, content=chunks())  # type: ignore[arg-type]

    assert response.status_code == 413
    assert response.json()["code"] == "PAYLOAD_TOO_LARGE"


def test_is_sim_must_match_the_device(api: httpx.Client) -> None:
    response = _reserve(api, is_sim=True)

    _assert_error(
        response,
        400,
        "VALIDATION_ERROR",
        f"is_sim is true but device {HANDSET} is not a SIM card",
    )


def test_a_sim_reserved_as_a_device_is_refused(api: httpx.Client) -> None:
    response = _reserve(api, device_id="DEVICE123456", is_sim=False)

    _assert_error(
        response,
        400,
        "VALIDATION_ERROR",
        "is_sim is false but device DEVICE123456 is a SIM card",
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/orgs/nosuchorg/reservation"),
        ("POST", f"/v1/orgs/nosuchorg/reservation/{uuid.uuid4()}/cancellation"),
        ("GET", "/v1/orgs/nosuchorg/device?identifier=DEVICE123456"),
    ],
)
def test_an_unregistered_org_is_not_found_on_every_path(
    api: httpx.Client, method: str, path: str
) -> None:
    response = api.request(method, path, json={"dealer": "DEALER001"})

    _assert_error(
        response, 404, "ORGANIZATION_NOT_FOUND", "Organization nosuchorg not found"
    )


def test_a_device_of_another_org_cannot_be_reserved(api: httpx.Client) -> None:
    response = api.post(
        "/v1/orgs/masmovil/reservation",
        json={"device_id": "DEVICE123456", "dealer_id": "DEALER001", "is_sim": True},
    )

    _assert_error(response, 404, "NOT_FOUND", "device_id not found")


def test_a_device_of_another_org_cannot_be_looked_up(api: httpx.Client) -> None:
    response = api.get("/v1/orgs/masmovil/device", params={"identifier": HANDSET})

    _assert_error(
        response, 404, "DEVICE_NOT_FOUND", f"Device with identifier {HANDSET} not found"
    )


def test_a_reservation_of_another_org_cannot_be_cancelled(api: httpx.Client) -> None:
    reservation_id = _reserve(api).json()["reservation_id"]

    response = api.post(
        _cancel_path(reservation_id, org="masmovil"), json={"dealer": "DEALER001"}
    )

    _assert_error(
        response,
        404,
        "RESERVATION_NOT_FOUND",
        f"Reservation with ID {reservation_id} not found",
    )
    assert _reserve(api, dealer_id="DEALER002").status_code == 409


def test_the_same_device_id_in_two_orgs_is_two_devices(api: httpx.Client) -> None:
    router = api.post(
        "/v1/orgs/masmovil/reservation",
        json={"device_id": "SN-ROUTER-0001", "dealer_id": "DEALER001", "is_sim": False},
    )

    looked_up = api.get(
        "/v1/orgs/masmovil/device", params={"identifier": "SN-ROUTER-0001"}
    )

    assert router.status_code == 200
    assert looked_up.json() == {
        "reference": "REF-ROUTER-AX3000",
        "mac": "A4:91:B1:00:00:01",
    }


def test_a_device_without_a_mac_has_mac_null(api: httpx.Client) -> None:
    response = api.get("/v1/orgs/yoigo/device", params={"identifier": HANDSET})

    assert response.status_code == 200
    assert response.json() == {"reference": "REF-IPHONE-17", "mac": None}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "identifier is required"),
        ("?identifier=", "identifier must not be blank"),
        ("?identifier=" + "9" * 65, "identifier must be at most 64 characters"),
        ("?identifier=DEVICE%20123456", f"identifier {CHARSET}"),
    ],
)
def test_a_bad_identifier_is_refused(
    api: httpx.Client, query: str, message: str
) -> None:
    response = api.get(f"/v1/orgs/yoigo/device{query}")

    _assert_error(response, 400, "VALIDATION_ERROR", message)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "dealer is required"),
        ({"dealer_id": "DEALER001"}, "dealer is required"),
        ({"dealer": 1}, "dealer must be a string"),
        ({"dealer": " "}, "dealer must not be blank"),
        ({"dealer": "D" * 65}, "dealer must be at most 64 characters"),
        ({"dealer": "DEALER;001"}, f"dealer {CHARSET}"),
    ],
)
def test_a_bad_cancel_body_is_refused_and_cancels_nothing(
    api: httpx.Client, body: dict[str, object], message: str
) -> None:
    reservation_id = _reserve(api).json()["reservation_id"]

    response = api.post(_cancel_path(reservation_id), json=body)

    _assert_error(response, 400, "VALIDATION_ERROR", message)
    assert _reserve(api, dealer_id="DEALER002").status_code == 409


@pytest.mark.parametrize("reservation_id", ["not-a-uuid", "12345", str(uuid.uuid4())])
def test_cancelling_an_unknown_reservation_is_not_found(
    api: httpx.Client, reservation_id: str
) -> None:
    response = api.post(_cancel_path(reservation_id), json={"dealer": "DEALER001"})

    _assert_error(
        response,
        404,
        "RESERVATION_NOT_FOUND",
        f"Reservation with ID {reservation_id} not found",
    )


def test_after_a_cancellation_the_device_can_be_reserved_again(
    api: httpx.Client,
) -> None:
    first = _reserve(api).json()["reservation_id"]
    api.post(_cancel_path(first), json={"dealer": "DEALER001"})

    second = _reserve(api, dealer_id="DEALER002")

    assert second.status_code == 200
    assert second.json()["reservation_id"] != first


def test_cancelling_twice_is_200_and_frees_nothing_more(api: httpx.Client) -> None:
    first = _reserve(api).json()["reservation_id"]
    api.post(_cancel_path(first), json={"dealer": "DEALER001"})
    second = _reserve(api, dealer_id="DEALER002").json()["reservation_id"]

    again = api.post(_cancel_path(first), json={"dealer": "DEALER001"})

    assert again.status_code == 200
    conflict = _reserve(api, dealer_id="DEALER003")
    assert conflict.status_code == 409
    assert conflict.json()["reservation_id"] == second


def test_another_dealer_cannot_cancel_a_cancelled_reservation(
    api: httpx.Client,
) -> None:
    first = _reserve(api).json()["reservation_id"]
    api.post(_cancel_path(first), json={"dealer": "DEALER001"})

    response = api.post(_cancel_path(first), json={"dealer": "DEALER002"})

    assert response.status_code == 400
    assert response.json()["code"] == "DEALER_MISMATCH"


def test_a_finalized_reservation_is_not_cancellable(api: httpx.Client) -> None:
    reservation_id = _reserve(api).json()["reservation_id"]
    api.post(
        f"/v1/orgs/yoigo/reservation/{reservation_id}/finalization",
        json={"dealer": "DEALER001"},
    )

    response = api.post(_cancel_path(reservation_id), json={"dealer": "DEALER001"})

    _assert_error(
        response,
        409,
        "RESERVATION_NOT_CANCELLABLE",
        f"Reservation with ID {reservation_id} is FINALIZED and cannot be cancelled",
    )


def test_an_unknown_path_is_a_json_404(api: httpx.Client) -> None:
    response = api.get("/v1/orgs/yoigo/reservations/everything")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json()["code"] == "NOT_FOUND"


def test_a_wrong_method_is_a_json_405(api: httpx.Client) -> None:
    response = api.delete(CREATE)

    assert response.status_code == 405
    assert response.json()["code"] == "METHOD_NOT_ALLOWED"
    assert "POST" in response.headers["allow"]
