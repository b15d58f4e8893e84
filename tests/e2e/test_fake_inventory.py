"""``masstock fake-inventory``: the logistics stock API it serves, and its faults."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from unittest.mock import ANY

import httpx
import pytest

from tests.e2e.fake_inventory import CatalogRow, FakeInventory, write_catalog

HANDSET: CatalogRow = ("yoigo", "356938035643809", "REF-IPHONE-17", None, "device")
ROUTER: CatalogRow = (
    "masmovil",
    "SN-ROUTER-0001",
    "REF-ROUTER-AX3000",
    "a4-91-b1-00-00-01",
    "device",
)
SIM: CatalogRow = ("yoigo", "8934040000001067556", "REF-SIM-TRIPLE-YOIGO", None, "sim")
HANDSET_PATH = "/v1/orgs/yoigo/device"
HANDSET_QUERY = {"identifier": "356938035643809", "identifierType": "IMEI"}
TOKEN = "static-token-for-DEALER001"  # noqa: S105 - a test's own secret
CLIENT_ID = "masstock"
CLIENT_SECRET = "client-secret-for-tests"  # noqa: S105 - a test's own secret


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fake-inventory")
    return write_catalog(folder / "catalog.csv", [HANDSET, ROUTER, SIM])


@pytest.fixture(scope="module")
def running_fake(catalog: Path) -> Iterator[FakeInventory]:
    with FakeInventory(catalog=catalog) as fake:
        yield fake


@pytest.fixture
def fake(running_fake: FakeInventory) -> FakeInventory:
    """The open fake, with no faults and its counters at zero."""
    running_fake.clear_faults()
    running_fake.reset_calls()
    return running_fake


@pytest.fixture
def client(fake: FakeInventory) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake.base_url, timeout=5.0) as http:
        yield http


def _lookup(client: httpx.Client, **query: str) -> httpx.Response:
    return client.get(HANDSET_PATH, params=query or HANDSET_QUERY)


def test_a_handset_is_found_by_its_imei(client: httpx.Client) -> None:
    response = _lookup(client)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "deviceId": 2,
        "imei": "356938035643809",
        "reference": "REF-IPHONE-17",
        "deviceType": "HANDSET",
        "brand": None,
        "loadDate": "2026-11-30",
    }


def test_a_router_is_found_by_its_serial_number_with_its_mac(
    client: httpx.Client,
) -> None:
    response = client.get(
        "/v1/orgs/masmovil/device",
        params={"identifier": "SN-ROUTER-0001", "identifierType": "SERIALNUMBER"},
    )

    assert response.status_code == 200
    assert response.json() == {
        "deviceId": 3,
        "serialNumber": "SN-ROUTER-0001",
        "reference": "REF-ROUTER-AX3000",
        "deviceType": "HANDSET",
        "mac": "A4:91:B1:00:00:01",
        "brand": None,
        "loadDate": "2026-11-30",
    }


def test_a_sim_card_is_a_sim_with_its_iccid_as_serial_number(
    client: httpx.Client,
) -> None:
    response = _lookup(client, identifier="8934040000001067556")

    assert response.status_code == 200
    assert response.json()["deviceType"] == "SIM"
    assert response.json()["serialNumber"] == "8934040000001067556"
    assert "imei" not in response.json()


def test_an_unknown_device_is_404_naming_it(client: httpx.Client) -> None:
    response = _lookup(client, identifier="SN-NOBODY-0000")

    assert response.status_code == 404
    assert response.json() == {
        "code": "NOT_FOUND",
        "message": "Device SN-NOBODY-0000 not found",
    }


def test_another_orgs_device_is_not_found(client: httpx.Client) -> None:
    response = client.get(
        "/v1/orgs/masmovil/device", params={"identifier": "356938035643809"}
    )

    assert response.status_code == 404


def test_a_lookup_without_an_identifier_is_400(client: httpx.Client) -> None:
    response = client.get(HANDSET_PATH)

    assert response.status_code == 400
    assert response.json() == {
        "code": "BAD_REQUEST",
        "message": "identifier is required",
    }


def test_an_unknown_identifier_type_is_400(client: httpx.Client) -> None:
    response = _lookup(client, identifier="356938035643809", identifierType="ICCID")

    assert response.status_code == 400
    assert response.json()["code"] == "BAD_REQUEST"


def test_an_unknown_path_is_404_and_a_wrong_method_405(client: httpx.Client) -> None:
    unknown = client.get("/v2/devices")
    wrong = client.post(HANDSET_PATH, params=HANDSET_QUERY)

    assert unknown.status_code == 404
    assert unknown.json()["code"] == "NOT_FOUND"
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "GET"


def test_a_fixed_status_answers_every_lookup_with_it(
    fake: FakeInventory, client: httpx.Client
) -> None:
    fake.set_faults(status=503)

    answers = [_lookup(client) for _ in range(3)]

    assert [answer.status_code for answer in answers] == [503, 503, 503]
    assert answers[0].json()["code"] == "UPSTREAM_FAULT"


def test_an_error_rate_of_one_answers_500(
    fake: FakeInventory, client: httpx.Client
) -> None:
    fake.set_faults(error_rate=1.0)

    response = _lookup(client)

    assert response.status_code == 500
    assert response.json()["code"] == "UPSTREAM_FAULT"


def test_retry_after_answers_429_with_the_header(
    fake: FakeInventory, client: httpx.Client
) -> None:
    fake.set_faults(retry_after=2)

    response = _lookup(client)

    assert response.status_code == 429
    assert response.headers["retry-after"] == "2"


def test_a_delay_answers_after_roughly_that_long(
    fake: FakeInventory, client: httpx.Client
) -> None:
    fake.set_faults(delay=0.4)

    started = time.monotonic()
    response = _lookup(client)
    took = time.monotonic() - started

    assert response.status_code == 200
    assert 0.4 <= took < 1.5


def test_a_hang_never_answers_so_the_read_timeout_fires(fake: FakeInventory) -> None:
    fake.set_faults(hang=True)
    timeout = httpx.Timeout(5.0, read=0.3)

    with (
        httpx.Client(base_url=fake.base_url, timeout=timeout) as client,
        pytest.raises(httpx.ReadTimeout),
    ):
        _lookup(client)

    assert fake.calls().lookups == 1


def test_a_hung_lookup_is_answered_once_the_faults_are_cleared(
    fake: FakeInventory,
) -> None:
    fake.set_faults(hang=True)
    with socket.create_connection(("127.0.0.1", fake.port), timeout=5) as raw:
        raw.sendall(_request_bytes(HANDSET_PATH + "?identifier=356938035643809"))
        _wait_for_lookups(fake, count=1)

        fake.clear_faults()
        answer = _read_answer(raw)

    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")


def test_a_reset_drops_the_connection_without_an_answer(
    fake: FakeInventory, client: httpx.Client
) -> None:
    fake.set_faults(reset=True)

    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        _lookup(client)


def test_a_truncated_answer_stops_halfway_through_its_body(
    fake: FakeInventory, client: httpx.Client
) -> None:
    fake.set_faults(truncate=True)

    with pytest.raises(httpx.RemoteProtocolError, match="complete message body"):
        _lookup(client)


def test_a_truncated_answer_declares_the_full_length(fake: FakeInventory) -> None:
    fake.set_faults(truncate=True)

    with socket.create_connection(("127.0.0.1", fake.port), timeout=5) as raw:
        raw.sendall(_request_bytes(HANDSET_PATH + "?identifier=356938035643809"))
        answer = _read_until_closed(raw)

    head, _, body = answer.partition(b"\r\n\r\n")
    declared = int(_header(head, "content-length"))
    assert len(body) == declared // 2


def test_garbage_is_a_200_json_answer_that_is_not_json(
    fake: FakeInventory, client: httpx.Client
) -> None:
    fake.set_faults(garbage=True)

    response = _lookup(client)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_an_oversized_answer_is_valid_json_of_that_many_bytes(
    fake: FakeInventory, client: httpx.Client
) -> None:
    fake.set_faults(oversize=200_000)

    response = _lookup(client)

    assert response.status_code == 200
    assert len(response.content) == 200_000
    assert response.json()["imei"] == "356938035643809"


def test_a_redirect_answers_302_to_another_host(
    fake: FakeInventory, client: httpx.Client
) -> None:
    fake.set_faults(redirect="http://elsewhere.invalid/v1/orgs/yoigo/device")

    response = _lookup(client)

    assert response.status_code == 302
    assert response.headers["location"] == (
        "http://elsewhere.invalid/v1/orgs/yoigo/device"
    )


def test_counted_faults_apply_to_that_many_lookups_then_clear(
    fake: FakeInventory, client: httpx.Client
) -> None:
    fake.set_faults(status=502, count=2)

    statuses = [_lookup(client).status_code for _ in range(3)]

    assert statuses == [502, 502, 200]
    assert fake.faults() == {}


def test_faults_leave_the_token_endpoint_and_the_admin_api_alone(
    fake: FakeInventory,
) -> None:
    fake.set_faults(reset=True)

    token = httpx.post(f"{fake.base_url}/oauth/token", data={"client_id": "x"})
    calls = fake.calls()

    assert token.status_code == 401
    assert calls.token_requests == 1
    assert calls.lookups == 0


def test_bad_faults_are_refused_with_400_and_change_nothing(
    fake: FakeInventory,
) -> None:
    fake.set_faults(delay=0.1)

    response = httpx.put(
        f"{fake.base_url}/_admin/faults", json={"delay": -1, "hang": True}
    )

    assert response.status_code == 400
    assert "delay" in response.json()["message"]
    assert fake.faults() == {"delay": 0.1}


def test_every_lookup_is_counted_even_when_it_fails(fake: FakeInventory) -> None:
    fake.set_faults(reset=True, count=1)
    with httpx.Client(base_url=fake.base_url, timeout=5.0) as client:
        with pytest.raises(httpx.TransportError):
            _lookup(client)
        _lookup(client, identifier="SN-NOBODY-0000", identifierType="SERIALNUMBER")
        client.get(HANDSET_PATH)

    calls = fake.calls()

    assert calls.lookups == 3
    assert calls.last_query == {"identifier": None, "identifierType": None}
    assert calls.last_authorized is False


def test_resetting_the_calls_sets_the_counters_to_zero(
    fake: FakeInventory, client: httpx.Client
) -> None:
    _lookup(client)

    fake.reset_calls()

    assert fake.calls().lookups == 0
    assert fake.calls().last_query is None


def test_a_connection_serves_many_requests_until_told_to_close(
    fake: FakeInventory,
) -> None:
    target = HANDSET_PATH + "?identifier=356938035643809"
    with socket.create_connection(("127.0.0.1", fake.port), timeout=5) as raw:
        raw.sendall(_request_bytes(target))
        first = _read_answer(raw)
        raw.sendall(_request_bytes(target, close=True))
        last = _read_until_closed(raw)

    assert first.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"Connection: keep-alive" in first
    assert last.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"Connection: close" in last


def test_a_request_head_over_16_kib_is_refused_with_431(fake: FakeInventory) -> None:
    padding = "x" * (17 * 1024)
    head = f"GET {HANDSET_PATH} HTTP/1.1\r\nHost: fake\r\nX-Padding: {padding}\r\n\r\n"

    with socket.create_connection(("127.0.0.1", fake.port), timeout=5) as raw:
        raw.sendall(head.encode())
        answer = _read_until_closed(raw)

    assert answer.startswith(b"HTTP/1.1 431 ")


def test_a_body_over_64_kib_is_refused_with_413(fake: FakeInventory) -> None:
    response = httpx.put(
        f"{fake.base_url}/_admin/faults", content=b"{" + b" " * 70_000 + b"}"
    )

    assert response.status_code == 413


@pytest.fixture(scope="module")
def guarded_fake(catalog: Path) -> Iterator[FakeInventory]:
    with FakeInventory(catalog=catalog, token=TOKEN) as fake:
        yield fake


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", f"Basic {TOKEN}"])
def test_a_lookup_without_the_static_token_is_401(
    guarded_fake: FakeInventory, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}

    response = httpx.get(
        f"{guarded_fake.base_url}{HANDSET_PATH}", params=HANDSET_QUERY, headers=headers
    )

    assert response.status_code == 401
    assert response.json()["code"] == "UNAUTHORIZED"


def test_a_lookup_with_the_static_token_is_answered(
    guarded_fake: FakeInventory,
) -> None:
    response = httpx.get(
        f"{guarded_fake.base_url}{HANDSET_PATH}",
        params=HANDSET_QUERY,
        headers={"Authorization": f"Bearer {TOKEN}"},
    )

    assert response.status_code == 200
    assert guarded_fake.calls().last_authorized is True


@pytest.fixture(scope="module")
def oauth_fake(catalog: Path) -> Iterator[FakeInventory]:
    with FakeInventory(
        catalog=catalog, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, token_ttl=1
    ) as fake:
        yield fake


def _token(fake: FakeInventory, **form: str) -> httpx.Response:
    fields = {"grant_type": "client_credentials", **form}
    return httpx.post(f"{fake.base_url}/oauth/token", data=fields)


def _bearer_lookup(fake: FakeInventory, token: str) -> httpx.Response:
    return httpx.get(
        f"{fake.base_url}{HANDSET_PATH}",
        params=HANDSET_QUERY,
        headers={"Authorization": f"Bearer {token}"},
    )


def test_the_oauth_client_gets_a_token_that_opens_lookups(
    oauth_fake: FakeInventory,
) -> None:
    issued = _token(oauth_fake, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)

    response = _bearer_lookup(oauth_fake, issued.json()["access_token"])

    assert issued.status_code == 200
    assert issued.json() == {
        "access_token": ANY,
        "token_type": "Bearer",
        "expires_in": 1,
    }
    assert response.status_code == 200


def test_the_oauth_client_may_authenticate_with_http_basic(
    oauth_fake: FakeInventory,
) -> None:
    oauth_fake.reset_calls()

    issued = httpx.post(
        f"{oauth_fake.base_url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(CLIENT_ID, CLIENT_SECRET),
    )

    assert issued.status_code == 200
    assert oauth_fake.calls().token_requests == 1


def test_a_wrong_client_secret_gets_no_token(oauth_fake: FakeInventory) -> None:
    issued = _token(
        oauth_fake, client_id=CLIENT_ID, client_secret=CLIENT_SECRET + "-guess"
    )

    assert issued.status_code == 401
    assert issued.json() == {"error": "invalid_client"}


def test_a_token_stops_working_once_it_expires(oauth_fake: FakeInventory) -> None:
    issued = _token(oauth_fake, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    token = issued.json()["access_token"]

    deadline = time.monotonic() + 5.0
    status = _bearer_lookup(oauth_fake, token).status_code
    while status == 200 and time.monotonic() < deadline:
        time.sleep(0.2)
        status = _bearer_lookup(oauth_fake, token).status_code

    assert status == 401


def test_sigterm_stops_the_fake_with_exit_code_0_even_mid_request(
    catalog: Path,
) -> None:
    fake = FakeInventory(catalog=catalog)
    fake.start()
    fake.set_faults(hang=True)

    with socket.create_connection(("127.0.0.1", fake.port), timeout=5) as raw:
        raw.sendall(_request_bytes(HANDSET_PATH + "?identifier=356938035643809"))
        _wait_for_lookups(fake, count=1)
        code = fake.stop()

    assert code == 0


def test_a_restarted_fake_answers_at_the_same_address(catalog: Path) -> None:
    fake = FakeInventory(catalog=catalog)
    fake.start()
    fake.stop()

    fake.start()
    try:
        response = httpx.get(f"{fake.base_url}{HANDSET_PATH}", params=HANDSET_QUERY)
    finally:
        fake.stop()

    assert response.status_code == 200


def test_a_catalog_with_a_bad_row_is_refused_with_exit_code_2(
    tmp_path: Path,
) -> None:
    bad = write_catalog(
        tmp_path / "bad.csv", [HANDSET, ("yoigo", "SN 1", "REF-X", None, "device")]
    )

    result = subprocess.run(
        [
            *(sys.executable, "-m", "masstock", "fake-inventory"),
            *("--port", "0", "--catalog", str(bad)),
        ],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "line 3" in result.stderr
    assert result.stdout == ""


def _request_bytes(target: str, *, close: bool = False) -> bytes:
    connection = "close" if close else "keep-alive"
    head = f"GET {target} HTTP/1.1\r\nHost: fake\r\nConnection: {connection}\r\n\r\n"
    return head.encode()


def _read_answer(raw: socket.socket) -> bytes:
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += raw.recv(65536)
    head, _, body = answer.partition(b"\r\n\r\n")
    length = int(_header(head, "content-length"))
    while len(body) < length:
        body += raw.recv(65536)
    return head + b"\r\n\r\n" + body


def _read_until_closed(raw: socket.socket) -> bytes:
    answer = b""
    while chunk := raw.recv(65536):
        answer += chunk
    return answer


def _header(head: bytes, name: str) -> str:
    for line in head.decode("latin-1").split("\r\n")[1:]:
        key, _, value = line.partition(":")
        if key.strip().lower() == name:
            return value.strip()
    raise AssertionError(f"no {name} header in {head!r}")


def _wait_for_lookups(fake: FakeInventory, *, count: int) -> None:
    deadline = time.monotonic() + 5.0
    while fake.calls().lookups < count:
        assert time.monotonic() < deadline, "the fake never saw the lookup"
        time.sleep(0.02)
