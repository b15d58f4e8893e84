"""Idempotency-Key on every POST: retries replay, they never act twice."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.e2e.conftest import run_sql
from tests.e2e.server import ServerProcess

CREATE = "/v1/orgs/yoigo/reservation"
HOLD = {"device_id": "356938035643809", "dealer_id": "DEALER001", "is_sim": False}


def _held(api: httpx.Client) -> list[dict[str, object]]:
    page = api.get(
        "/v1/orgs/yoigo/reservations", params={"device_id": "356938035643809"}
    )
    items: list[dict[str, object]] = page.json()["items"]
    return items


def _key() -> dict[str, str]:
    return {"Idempotency-Key": f"pos-{uuid.uuid4()}"}


def test_a_retried_create_replays_the_first_answer_and_holds_once(
    api: httpx.Client,
) -> None:
    key = _key()

    first = api.post(CREATE, json=HOLD, headers=key)
    retry = api.post(CREATE, json=HOLD, headers=key)

    assert first.status_code == retry.status_code == 200
    assert retry.content == first.content
    assert retry.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert len(_held(api)) == 1


def test_the_same_key_with_another_request_is_refused(api: httpx.Client) -> None:
    key = _key()
    api.post(CREATE, json=HOLD, headers=key)

    other = api.post(CREATE, json={**HOLD, "dealer_id": "DEALER002"}, headers=key)

    assert other.status_code == 422
    assert other.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert len(_held(api)) == 1


def test_a_failed_request_keeps_nothing_and_its_retry_runs_afresh(
    api: httpx.Client,
) -> None:
    key = _key()
    holder = api.post(CREATE, json={**HOLD, "dealer_id": "DEALER002"}).json()
    refused = api.post(CREATE, json=HOLD, headers=key)
    api.post(
        f"/v1/orgs/yoigo/reservation/{holder['reservation_id']}/cancellation",
        json={"dealer": "DEALER002"},
    )

    retried = api.post(CREATE, json=HOLD, headers=key)

    assert refused.status_code == 409
    assert retried.status_code == 200
    assert "idempotent-replayed" not in retried.headers


def test_a_retried_cancellation_replays_its_answer(api: httpx.Client) -> None:
    held = api.post(CREATE, json=HOLD).json()["reservation_id"]
    path = f"/v1/orgs/yoigo/reservation/{held}/cancellation"
    key = _key()

    first = api.post(path, json={"dealer": "DEALER001"}, headers=key)
    retry = api.post(path, json={"dealer": "DEALER001"}, headers=key)

    assert (first.status_code, retry.status_code) == (200, 200)
    assert retry.headers["idempotent-replayed"] == "true"
    history = api.get(f"/v1/orgs/yoigo/reservation/{held}/history").json()["items"]
    assert [item["event"] for item in history] == ["CREATED", "CANCELLED"]


def test_a_replay_is_the_first_answer_even_after_the_hold_changed(
    api: httpx.Client,
) -> None:
    held = api.post(CREATE, json=HOLD).json()["reservation_id"]
    path = f"/v1/orgs/yoigo/reservation/{held}/extension"
    key = _key()
    first = api.post(
        path, json={"dealer": "DEALER001", "ttl_seconds": 600}, headers=key
    )
    api.post(
        f"/v1/orgs/yoigo/reservation/{held}/finalization", json={"dealer": "DEALER001"}
    )

    retry = api.post(
        path, json={"dealer": "DEALER001", "ttl_seconds": 600}, headers=key
    )

    assert retry.status_code == 200
    assert retry.json() == first.json()
    assert retry.json()["status"] == "CREATED"


def test_keys_are_scoped_to_the_org(api: httpx.Client) -> None:
    key = _key()
    api.post(CREATE, json=HOLD, headers=key)

    other_org = api.post(
        "/v1/orgs/masmovil/reservation",
        json={"device_id": "SN-ROUTER-0001", "dealer_id": "DEALER001", "is_sim": False},
        headers=key,
    )

    assert other_org.status_code == 200
    assert "idempotent-replayed" not in other_org.headers


@pytest.mark.parametrize(
    "key", [b"", b"k" * 256, "caf\u00e9".encode(), b"tab\there"], ids=repr
)
def test_a_malformed_key_is_refused_and_changes_nothing(
    api: httpx.Client, key: bytes
) -> None:
    response = api.post(
        CREATE,
        content=json.dumps(HOLD).encode(),
        headers={b"Idempotency-Key": key, b"Content-Type": b"application/json"},
    )

    assert response.status_code == 400
    assert response.json()["message"] == (
        "Idempotency-Key must be 1 to 255 printable characters"
    )
    assert _held(api) == []


def _claim_directly(
    database_url: str, *, key: str, body: bytes, expired: bool = False
) -> None:
    fingerprint = hashlib.sha256(b"POST\n" + CREATE.encode() + b"\n" + body).hexdigest()
    now = datetime.now(UTC)
    expires = now - timedelta(hours=1) if expired else now + timedelta(hours=1)
    status, media, stored = (200, "application/json", b'{"reservation_id":"x"}')
    if not expired:
        status, media, stored = None, None, None  # type: ignore[assignment]
    times: tuple[object, object] = (now, expires)
    if database_url.startswith("sqlite:"):
        times = (
            now.isoformat(timespec="microseconds"),
            expires.isoformat(timespec="microseconds"),
        )
    run_sql(
        database_url,
        "INSERT INTO idempotency_keys (org, key, fingerprint, status_code, "
        "media_type, body, claimed_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        "yoigo",
        key,
        fingerprint,
        status,
        media,
        stored,
        *times,
    )


def test_a_retry_while_the_first_is_in_flight_is_told_so(
    api: httpx.Client, server: ServerProcess
) -> None:
    body = json.dumps(HOLD).encode()
    _claim_directly(server.database_url, key="pos-in-flight", body=body)

    response = api.post(
        CREATE,
        content=body,
        headers={
            "Idempotency-Key": "pos-in-flight",
            "Content-Type": "application/json",
        },
    )

    assert response.status_code == 409
    assert response.json()["code"] == "IDEMPOTENCY_KEY_IN_USE"
    assert _held(api) == []


def test_an_expired_key_is_forgotten(api: httpx.Client, server: ServerProcess) -> None:
    body = json.dumps(HOLD).encode()
    _claim_directly(server.database_url, key="pos-old", body=body, expired=True)

    response = api.post(
        CREATE,
        content=body,
        headers={"Idempotency-Key": "pos-old", "Content-Type": "application/json"},
    )

    assert response.status_code == 200
    assert "idempotent-replayed" not in response.headers
    assert len(_held(api)) == 1


def test_simultaneous_retries_act_once(
    api: httpx.Client, server: ServerProcess
) -> None:
    key = _key()

    async def together() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
            return await asyncio.gather(
                *(client.post(CREATE, json=HOLD, headers=key) for _ in range(12))
            )

    answers = asyncio.run(together())

    statuses = [answer.status_code for answer in answers]
    assert set(statuses) <= {200, 409}
    assert 200 in statuses
    fresh = [
        answer
        for answer in answers
        if answer.status_code == 200 and "idempotent-replayed" not in answer.headers
    ]
    assert len(fresh) == 1
    in_use = {a.json()["code"] for a in answers if a.status_code == 409}
    assert in_use <= {"IDEMPOTENCY_KEY_IN_USE"}
    assert len(_held(api)) == 1
