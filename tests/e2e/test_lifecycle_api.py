"""Reading, finalizing, extending and expiring holds over HTTP, on both backends."""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.e2e.conftest import run_sql
from tests.e2e.server import ServerProcess

IMEI = "356938035643809"
HOLD = {"device_id": IMEI, "dealer_id": "DEALER001", "is_sim": False}
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


def _reserve(api: httpx.Client, dealer_id: str = "DEALER001") -> str:
    response = api.post(
        "/v1/orgs/yoigo/reservation", json={**HOLD, "dealer_id": dealer_id}
    )
    assert response.status_code == 200, response.text
    reservation_id: str = response.json()["reservation_id"]
    return reservation_id


def _path(reservation_id: str, action: str = "") -> str:
    suffix = f"/{action}" if action else ""
    return f"/v1/orgs/yoigo/reservation/{reservation_id}{suffix}"


def _parse(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))


def _expire_directly(database_url: str, reservation_id: str) -> datetime:
    """Move a hold's times two hours back, so that it expired an hour ago."""
    now = datetime.now(UTC)
    created, expired = now - timedelta(hours=2), now - timedelta(hours=1)
    if database_url.startswith("sqlite:"):
        text = created.isoformat(timespec="microseconds")
        times: tuple[object, ...] = (
            text,
            text,
            expired.isoformat(timespec="microseconds"),
            reservation_id,
        )
    else:
        times = (created, created, expired, uuid.UUID(reservation_id))
    run_sql(
        database_url,
        "UPDATE reservations SET created_at = ?, updated_at = ?, expires_at = ? "
        "WHERE id = ?",
        *times,
    )
    return expired


def test_a_reservation_reads_back_with_every_field(api: httpx.Client) -> None:
    reservation_id = _reserve(api)

    response = api.get(_path(reservation_id))

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
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
    assert body["reservation_id"] == reservation_id
    assert (body["device_id"], body["dealer_id"], body["is_sim"]) == (
        IMEI,
        "DEALER001",
        False,
    )
    assert body["status"] == "CREATED"
    assert TIME.fullmatch(body["created_at"])
    assert body["updated_at"] == body["created_at"]
    assert _parse(body["expires_at"]) - _parse(body["created_at"]) == timedelta(
        hours=72
    )
    assert (body["closed_at"], body["closed_by"], body["close_reason"]) == (
        None,
        None,
        None,
    )


@pytest.mark.parametrize(
    "reservation_id", ["not-a-uuid", "a1b2c3d4-e5f6-7890-abcd-ef1234567890"]
)
def test_reading_an_unknown_reservation_is_not_found(
    api: httpx.Client, reservation_id: str
) -> None:
    for path in (_path(reservation_id), _path(reservation_id, "history")):
        response = api.get(path)

        assert response.status_code == 404
        assert response.json() == {
            "code": "RESERVATION_NOT_FOUND",
            "message": f"Reservation with ID {reservation_id} not found",
            "details": None,
        }


def test_a_reservation_of_another_org_is_not_found(api: httpx.Client) -> None:
    reservation_id = _reserve(api)

    response = api.get(f"/v1/orgs/masmovil/reservation/{reservation_id}")

    assert response.status_code == 404
    assert response.json()["code"] == "RESERVATION_NOT_FOUND"


def test_finalizing_records_the_sale_and_is_repeatable(api: httpx.Client) -> None:
    reservation_id = _reserve(api)

    first = api.post(
        _path(reservation_id, "finalization"), json={"dealer": "DEALER001"}
    )
    again = api.post(
        _path(reservation_id, "finalization"), json={"dealer": "DEALER001"}
    )
    body = api.get(_path(reservation_id)).json()

    assert (first.status_code, first.content) == (200, b"")
    assert again.status_code == 200
    assert body["status"] == "FINALIZED"
    assert body["close_reason"] == "FINALIZED_BY_DEALER"
    assert body["closed_by"] == "DEALER001"
    assert _reserve(api, "DEALER002")


def test_another_dealer_cannot_finalize(api: httpx.Client) -> None:
    reservation_id = _reserve(api)

    response = api.post(
        _path(reservation_id, "finalization"), json={"dealer": "DEALER002"}
    )

    assert response.status_code == 400
    assert response.json() == {
        "code": "DEALER_MISMATCH",
        "message": "Dealer DEALER002 cannot finalize reservation created by dealer "
        "DEALER001",
        "details": None,
    }


def test_a_cancelled_reservation_cannot_be_finalized(api: httpx.Client) -> None:
    reservation_id = _reserve(api)
    api.post(_path(reservation_id, "cancellation"), json={"dealer": "DEALER001"})

    response = api.post(
        _path(reservation_id, "finalization"), json={"dealer": "DEALER001"}
    )

    assert response.status_code == 409
    assert response.json() == {
        "code": "RESERVATION_NOT_FINALIZABLE",
        "message": f"Reservation with ID {reservation_id} is CANCELLED and cannot be "
        "finalized",
        "details": None,
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "dealer is required"),
        (
            {"dealer": "DEALER 001"},
            "dealer may contain only letters, digits and the characters . _ : -",
        ),
    ],
)
def test_a_bad_finalization_body_is_refused(
    api: httpx.Client, body: dict[str, object], message: str
) -> None:
    reservation_id = _reserve(api)

    response = api.post(_path(reservation_id, "finalization"), json=body)

    assert response.status_code == 400
    assert response.json()["message"] == message
    assert api.get(_path(reservation_id)).json()["status"] == "CREATED"


def test_extending_moves_the_expiry(api: httpx.Client) -> None:
    reservation_id = _reserve(api)

    response = api.post(
        _path(reservation_id, "extension"),
        json={"dealer": "DEALER001", "ttl_seconds": 3600},
    )

    assert response.status_code == 200
    body = response.json()
    assert body["reservation_id"] == reservation_id
    assert body["status"] == "CREATED"
    assert _parse(body["expires_at"]) - _parse(body["updated_at"]) == timedelta(hours=1)
    assert api.get(_path(reservation_id)).json() == body


def test_extending_without_a_ttl_uses_the_default(api: httpx.Client) -> None:
    reservation_id = _reserve(api)

    body = api.post(
        _path(reservation_id, "extension"), json={"dealer": "DEALER001"}
    ).json()

    assert _parse(body["expires_at"]) - _parse(body["updated_at"]) == timedelta(
        hours=72
    )


@pytest.mark.parametrize(
    ("ttl_seconds", "message"),
    [
        (0, "ttl_seconds must be between 1 and 2592000"),
        (2592001, "ttl_seconds must be between 1 and 2592000"),
        ("3600", "ttl_seconds must be an integer"),
        (3600.5, "ttl_seconds must be an integer"),
        (True, "ttl_seconds must be an integer"),
    ],
)
def test_a_bad_extension_is_refused_and_changes_nothing(
    api: httpx.Client, ttl_seconds: object, message: str
) -> None:
    reservation_id = _reserve(api)
    before = api.get(_path(reservation_id)).json()

    response = api.post(
        _path(reservation_id, "extension"),
        json={"dealer": "DEALER001", "ttl_seconds": ttl_seconds},
    )

    assert response.status_code == 400
    assert response.json() == {
        "code": "VALIDATION_ERROR",
        "message": message,
        "details": None,
    }
    assert api.get(_path(reservation_id)).json() == before


def test_a_closed_reservation_cannot_be_extended(api: httpx.Client) -> None:
    reservation_id = _reserve(api)
    api.post(_path(reservation_id, "finalization"), json={"dealer": "DEALER001"})

    response = api.post(
        _path(reservation_id, "extension"), json={"dealer": "DEALER001"}
    )

    assert response.status_code == 409
    assert response.json()["code"] == "RESERVATION_NOT_EXTENDABLE"


def test_history_lists_each_change_with_its_actor_and_request_id(
    api: httpx.Client,
) -> None:
    created = api.post(
        "/v1/orgs/yoigo/reservation", json=HOLD, headers={"X-Request-ID": "pos-77-a"}
    )
    reservation_id = created.json()["reservation_id"]
    api.post(
        _path(reservation_id, "extension"),
        json={"dealer": "DEALER001", "ttl_seconds": 600},
        headers={"X-Request-ID": "pos-77-b"},
    )
    cancelled = api.post(
        _path(reservation_id, "cancellation"), json={"dealer": "DEALER001"}
    )

    response = api.get(_path(reservation_id, "history"))

    assert created.headers["x-request-id"] == "pos-77-a"
    generated = cancelled.headers["x-request-id"]
    items = response.json()["items"]
    assert [(i["event"], i["actor"], i["request_id"]) for i in items] == [
        ("CREATED", "DEALER001", "pos-77-a"),
        ("EXTENDED", "DEALER001", "pos-77-b"),
        ("CANCELLED", "DEALER001", generated),
    ]
    assert [i["at"] for i in items] == sorted(i["at"] for i in items)
    assert items[1]["expires_at"] is not None


def test_an_expired_hold_reads_as_expired_and_frees_the_device(
    api: httpx.Client, server: ServerProcess
) -> None:
    old = _reserve(api)
    expired_at = _expire_directly(server.database_url, old)

    read = api.get(_path(old)).json()
    new = _reserve(api, "DEALER002")
    finalize_old = api.post(_path(old, "finalization"), json={"dealer": "DEALER001"})
    history = api.get(_path(old, "history")).json()["items"]

    assert read["status"] == "CANCELLED"
    assert read["close_reason"] == "EXPIRED"
    assert read["closed_by"] is None
    assert _parse(read["closed_at"]) == expired_at
    assert api.get(_path(old)).json() == read
    assert api.get(_path(new)).json()["status"] == "CREATED"
    assert finalize_old.status_code == 409
    assert [(i["event"], i["actor"]) for i in history] == [
        ("CREATED", "DEALER001"),
        ("EXPIRED", "system"),
    ]
    assert _parse(history[1]["at"]) == expired_at


def test_the_history_shows_an_expiry_before_it_is_written_down(
    api: httpx.Client, server: ServerProcess
) -> None:
    reservation_id = _reserve(api)
    expired_at = _expire_directly(server.database_url, reservation_id)

    items = api.get(_path(reservation_id, "history")).json()["items"]

    assert [(i["event"], i["actor"], i["request_id"]) for i in items[1:]] == [
        ("EXPIRED", "system", None)
    ]
    assert _parse(items[1]["at"]) == expired_at


def test_the_server_sweeps_expired_holds_by_itself(
    api: httpx.Client,
    server: ServerProcess,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    sweeping = ServerProcess(
        database_url=server.database_url,
        env={"MASSTOCK_SWEEP_INTERVAL": "0.2"},
        log_path=tmp_path_factory.mktemp("sweeping") / "serve.log",
    )
    reservation_id = _reserve(api)
    key: object = (
        reservation_id
        if server.database_url.startswith("sqlite:")
        else uuid.UUID(reservation_id)
    )
    _expire_directly(server.database_url, reservation_id)

    sweeping.start()
    try:
        deadline = time.monotonic() + 10
        written: list[tuple[object, ...]] = []
        while time.monotonic() < deadline and not written:
            time.sleep(0.1)
            written = run_sql(
                server.database_url,
                "SELECT close_reason FROM reservations "
                "WHERE id = ? AND status = 'CANCELLED'",
                key,
            )
    finally:
        sweeping.stop()

    assert written == [("EXPIRED",)]
    events = run_sql(
        server.database_url,
        "SELECT kind, actor FROM reservation_events WHERE reservation_id = ? "
        "ORDER BY id",
        key,
    )
    assert events == [("CREATED", "DEALER001"), ("EXPIRED", "system")]
