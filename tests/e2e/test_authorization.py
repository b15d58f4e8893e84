"""Authentication and authorization over HTTP, endpoint by endpoint.

A real server with ``MASSTOCK_AUTH=jwt`` and a JWKS file; every refused request
is checked to have changed nothing in the database.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import DEVICES, HANDSET, add_devices, empty, run_sql
from tests.e2e.server import ServerProcess
from tests.tokens import (
    AUDIENCE,
    ISSUER,
    SigningKey,
    bad_tokens,
    issue,
    new_signing_key,
    write_jwks,
)

pytestmark = pytest.mark.postgres

ORG = "/v1/orgs/yoigo"
FREE_DEVICE = "DEVICE123456"  # the contract's SIM card
READ = ("devices:read", "reservations:read")
WRITE = ("reservations:write",)
EVERY_SCOPE = READ + WRITE


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str
    body: dict[str, Any] | None
    scope: str


def _endpoints(held: str) -> list[Endpoint]:
    """Every route of an org, aimed at DEALER001's hold ``held``."""
    by_dealer = {"dealer": "DEALER001"}
    return [
        Endpoint(
            "create",
            "POST",
            f"{ORG}/reservation",
            {"device_id": FREE_DEVICE, "dealer_id": "DEALER001", "is_sim": True},
            "reservations:write",
        ),
        Endpoint("get", "GET", f"{ORG}/reservation/{held}", None, "reservations:read"),
        Endpoint(
            "history",
            "GET",
            f"{ORG}/reservation/{held}/history",
            None,
            "reservations:read",
        ),
        Endpoint(
            "search",
            "GET",
            f"{ORG}/reservations?dealer_id=DEALER001",
            None,
            "reservations:read",
        ),
        Endpoint(
            "cancel",
            "POST",
            f"{ORG}/reservation/{held}/cancellation",
            by_dealer,
            "reservations:write",
        ),
        Endpoint(
            "finalize",
            "POST",
            f"{ORG}/reservation/{held}/finalization",
            by_dealer,
            "reservations:write",
        ),
        Endpoint(
            "extend",
            "POST",
            f"{ORG}/reservation/{held}/extension",
            {"dealer": "DEALER001", "ttl_seconds": 3600},
            "reservations:write",
        ),
        Endpoint(
            "device",
            "GET",
            f"{ORG}/device?identifier={HANDSET[1]}",
            None,
            "devices:read",
        ),
    ]


@dataclass
class Secured:
    server: ServerProcess
    key: SigningKey
    log: Path


@pytest.fixture(scope="module")
def secured(
    postgres_server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Secured]:
    """A server that takes only tokens signed by one key of a JWKS file."""
    folder = tmp_path_factory.mktemp("auth")
    key = new_signing_key(kid="portal-2026")
    jwks = write_jwks(folder / "jwks.json", key)
    server = ServerProcess(
        database_url=postgres_server_url,
        env={
            "MASSTOCK_AUTH": "jwt",
            "MASSTOCK_JWT_JWKS_FILE": str(jwks),
            "MASSTOCK_JWT_ISSUER": ISSUER,
            "MASSTOCK_JWT_AUDIENCE": AUDIENCE,
            "MASSTOCK_JWT_ALGORITHMS": "RS256",
            "MASSTOCK_LOG_LEVEL": "debug",
        },
        log_path=folder / "serve.log",
    )
    server.start()
    yield Secured(server, key, folder / "serve.log")
    server.stop()


@dataclass
class Stage:
    client: httpx.Client
    key: SigningKey
    database_url: str
    held: str

    def token(self, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue(self.key, **claims)}"}

    def call(
        self, endpoint: Endpoint, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return self.client.request(
            endpoint.method, endpoint.path, json=endpoint.body, headers=headers
        )

    def state(self) -> list[tuple[Any, ...]]:
        """Every row a request could change, to compare before and after."""
        rows = run_sql(
            self.database_url,
            "SELECT id::text, status, dealer_id, expires_at::text, "
            "updated_at::text FROM reservations ORDER BY id",
        )
        rows += run_sql(self.database_url, "SELECT count(*) FROM reservation_events")
        rows += run_sql(self.database_url, "SELECT count(*) FROM idempotency_keys")
        return rows


@pytest.fixture
def stage(secured: Secured) -> Iterator[Stage]:
    """The contract's devices, and the handset held by DEALER001."""
    url = secured.server.database_url
    empty(url)
    add_devices(url, DEVICES)
    with httpx.Client(base_url=secured.server.base_url, timeout=10.0) as client:
        token = issue(secured.key, dealer="DEALER001", scopes=EVERY_SCOPE)
        created = client.post(
            f"{ORG}/reservation",
            json={"device_id": HANDSET[1], "dealer_id": "DEALER001", "is_sim": False},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert created.status_code == 200, created.text
        yield Stage(client, secured.key, url, created.json()["reservation_id"])


def test_a_request_without_a_token_is_refused_with_a_bare_challenge(
    stage: Stage,
) -> None:
    before = stage.state()

    answers = {e.name: stage.call(e) for e in _endpoints(stage.held)}

    for name, answer in answers.items():
        assert answer.status_code == 401, name
        assert answer.json()["code"] == "UNAUTHORIZED", name
        assert answer.json()["message"] == "bearer token is required", name
        assert answer.headers["www-authenticate"] == 'Bearer realm="masstock"', name
    assert stage.state() == before


@pytest.mark.parametrize(
    "authorization", ["Basic cG9ydGFsOnNlY3JldA==", "Bearer", "token"]
)
def test_an_authorization_that_is_not_a_bearer_token_is_refused(
    stage: Stage, authorization: str
) -> None:
    before = stage.state()

    answers = [
        stage.call(e, {"Authorization": authorization}) for e in _endpoints(stage.held)
    ]

    assert {answer.status_code for answer in answers} == {401}
    assert stage.state() == before


def test_every_endpoint_refuses_every_bad_token_and_changes_nothing(
    stage: Stage,
) -> None:
    before = stage.state()
    refused: dict[tuple[str, str], int] = {}

    for kind, token in bad_tokens(stage.key).items():
        for endpoint in _endpoints(stage.held):
            answer = stage.call(endpoint, {"Authorization": f"Bearer {token}"})
            refused[kind, endpoint.name] = answer.status_code
            assert answer.json()["code"] == "UNAUTHORIZED", (kind, endpoint.name)
            challenge = answer.headers["www-authenticate"]
            assert challenge.startswith(
                'Bearer realm="masstock", error="invalid_token"'
            )

    assert set(refused.values()) == {401}
    assert len(refused) == len(bad_tokens(stage.key)) * 8
    assert stage.state() == before


def test_a_token_for_another_org_is_forbidden_everywhere(stage: Stage) -> None:
    before = stage.state()
    headers = stage.token(orgs=("masmovil",), scopes=EVERY_SCOPE)

    answers = {e.name: stage.call(e, headers) for e in _endpoints(stage.held)}

    for name, answer in answers.items():
        assert answer.status_code == 403, name
        assert answer.json()["code"] == "FORBIDDEN", name
        assert "organization yoigo" in answer.json()["message"], name
    assert stage.state() == before


def test_an_org_the_token_does_not_name_is_forbidden_even_if_unregistered(
    stage: Stage,
) -> None:
    headers = stage.token(orgs=("yoigo",), scopes=EVERY_SCOPE)

    answer = stage.client.get("/v1/orgs/vodafone/device?identifier=X1", headers=headers)

    assert answer.status_code == 403
    assert answer.json()["code"] == "FORBIDDEN"


def test_an_org_the_token_names_but_the_service_does_not_know_is_not_found(
    stage: Stage,
) -> None:
    headers = stage.token(orgs=("yoigo", "vodafone"), scopes=EVERY_SCOPE)

    answer = stage.client.get("/v1/orgs/vodafone/device?identifier=X1", headers=headers)

    assert answer.status_code == 404
    assert answer.json()["code"] == "ORGANIZATION_NOT_FOUND"


def test_a_token_without_the_route_scope_is_forbidden_and_told_which(
    stage: Stage,
) -> None:
    before = stage.state()

    for endpoint in _endpoints(stage.held):
        others = tuple(s for s in EVERY_SCOPE if s != endpoint.scope)
        answer = stage.call(endpoint, stage.token(scopes=others))

        assert answer.status_code == 403, endpoint.name
        assert answer.json()["message"] == f"token lacks scope {endpoint.scope}"
        assert answer.headers["www-authenticate"] == (
            'Bearer realm="masstock", error="insufficient_scope", '
            f'scope="{endpoint.scope}"'
        )
    assert stage.state() == before


def test_a_dealer_token_cannot_act_for_another_dealer(stage: Stage) -> None:
    before = stage.state()
    headers = stage.token(dealer="DEALER002", scopes=EVERY_SCOPE)
    writes = [
        e
        for e in _endpoints(stage.held)
        if e.name in {"create", "cancel", "finalize", "extend"}
    ]

    answers = {e.name: stage.call(e, headers) for e in writes}

    for name, answer in answers.items():
        assert answer.status_code == 403, name
        assert answer.json()["code"] == "FORBIDDEN", name
        assert answer.json()["message"] == (
            "token is bound to dealer DEALER002, not DEALER001"
        )
    assert stage.state() == before


def test_a_dealer_token_naming_itself_still_meets_the_contract_dealer_rule(
    stage: Stage,
) -> None:
    before = stage.state()
    headers = stage.token(dealer="DEALER002", scopes=EVERY_SCOPE)

    answer = stage.client.post(
        f"{ORG}/reservation/{stage.held}/cancellation",
        json={"dealer": "DEALER002"},
        headers=headers,
    )

    assert answer.status_code == 400
    assert answer.json()["code"] == "DEALER_MISMATCH"
    assert stage.state() == before


def test_a_dealer_token_sees_no_other_dealer_reservations(stage: Stage) -> None:
    headers = stage.token(dealer="DEALER002", scopes=EVERY_SCOPE)

    read = stage.client.get(f"{ORG}/reservation/{stage.held}", headers=headers)
    history = stage.client.get(
        f"{ORG}/reservation/{stage.held}/history", headers=headers
    )
    named = stage.client.get(
        f"{ORG}/reservations", params={"dealer_id": "DEALER001"}, headers=headers
    )
    listed = stage.client.get(f"{ORG}/reservations", headers=headers)

    assert read.status_code == 404
    assert read.json()["code"] == "RESERVATION_NOT_FOUND"
    assert history.status_code == 404
    assert named.status_code == 403
    assert listed.status_code == 200
    assert listed.json()["items"] == []


def test_a_dealer_token_reads_and_lists_its_own_reservations(stage: Stage) -> None:
    headers = stage.token(dealer="DEALER001", scopes=READ)

    read = stage.client.get(f"{ORG}/reservation/{stage.held}", headers=headers)
    listed = stage.client.get(f"{ORG}/reservations", headers=headers)

    assert read.status_code == 200
    assert read.json()["dealer_id"] == "DEALER001"
    assert [item["reservation_id"] for item in listed.json()["items"]] == [stage.held]


def test_a_token_with_no_dealer_may_not_write_without_the_admin_scope(
    stage: Stage,
) -> None:
    before = stage.state()
    headers = stage.token(dealer=None, scopes=EVERY_SCOPE)

    answer = stage.client.post(
        f"{ORG}/reservation/{stage.held}/cancellation",
        json={"dealer": "DEALER001"},
        headers=headers,
    )

    assert answer.status_code == 403
    assert "reservations:admin" in answer.json()["message"]
    assert stage.state() == before


def test_a_back_office_token_acts_for_any_dealer(stage: Stage) -> None:
    headers = stage.token(dealer=None, scopes=(*EVERY_SCOPE, "reservations:admin"))

    created = stage.client.post(
        f"{ORG}/reservation",
        json={"device_id": FREE_DEVICE, "dealer_id": "DEALER007", "is_sim": True},
        headers=headers,
    )
    cancelled = stage.client.post(
        f"{ORG}/reservation/{stage.held}/cancellation",
        json={"dealer": "DEALER001"},
        headers=headers,
    )

    assert created.status_code == 200
    assert cancelled.status_code == 200
    statuses = run_sql(
        stage.database_url,
        "SELECT dealer_id, status FROM reservations ORDER BY dealer_id",
    )
    assert statuses == [("DEALER001", "CANCELLED"), ("DEALER007", "CREATED")]


def test_a_dealer_token_runs_the_whole_life_of_its_hold(stage: Stage) -> None:
    headers = stage.token(dealer="DEALER001", scopes=EVERY_SCOPE)

    device = stage.client.get(
        f"{ORG}/device", params={"identifier": FREE_DEVICE}, headers=headers
    )
    created = stage.client.post(
        f"{ORG}/reservation",
        json={"device_id": FREE_DEVICE, "dealer_id": "DEALER001", "is_sim": True},
        headers=headers,
    )
    held = created.json()["reservation_id"]
    finalized = stage.client.post(
        f"{ORG}/reservation/{held}/finalization",
        json={"dealer": "DEALER001"},
        headers=headers,
    )

    assert device.status_code == 200
    assert created.status_code == 200
    assert finalized.status_code == 200
    assert (
        stage.client.get(f"{ORG}/reservation/{held}", headers=headers).json()["status"]
        == "FINALIZED"
    )


def test_server_owned_fields_sent_in_a_body_are_never_stored(stage: Stage) -> None:
    headers = stage.token(dealer="DEALER001", scopes=EVERY_SCOPE)
    forged = "00000000-0000-4000-8000-000000000001"

    created = stage.client.post(
        f"{ORG}/reservation",
        json={
            "device_id": FREE_DEVICE,
            "dealer_id": "DEALER001",
            "is_sim": True,
            "reservation_id": forged,
            "status": "FINALIZED",
            "created_at": "2001-01-01T00:00:00Z",
            "expires_at": "2099-01-01T00:00:00Z",
            "closed_by": "DEALER666",
        },
        headers=headers,
    )
    held = created.json()["reservation_id"]
    stored = run_sql(
        stage.database_url,
        "SELECT id::text, status, closed_by, created_at > now() - interval '1 hour', "
        "expires_at < '2099-01-01' FROM reservations WHERE id::text = ?",
        held,
    )

    assert created.status_code == 200
    assert held != forged
    assert stored == [(held, "CREATED", None, True, True)]


def test_health_and_docs_need_no_token(secured: Secured) -> None:
    with httpx.Client(base_url=secured.server.base_url, timeout=10.0) as client:
        live = client.get("/health/live")
        ready = client.get("/health/ready")
        spec = client.get("/openapi.json")

    assert (live.status_code, ready.status_code, spec.status_code) == (200, 200, 200)


def test_the_tokens_never_reach_the_log(secured: Secured, stage: Stage) -> None:
    token = issue(secured.key, dealer="DEALER001", scopes=EVERY_SCOPE)
    bad = bad_tokens(secured.key)["expired"]
    stage.client.get(
        f"{ORG}/device",
        params={"identifier": FREE_DEVICE},
        headers={"Authorization": f"Bearer {token}"},
    )
    stage.client.get(
        f"{ORG}/device",
        params={"identifier": FREE_DEVICE},
        headers={"Authorization": f"Bearer {bad}"},
    )

    log = secured.log.read_text()

    assert token not in log
    assert bad not in log
    assert token.split(".")[2] not in log


def test_a_server_without_authentication_says_so_when_it_starts(
    tmp_path: Path,
) -> None:
    log = tmp_path / "serve.log"
    server = ServerProcess(
        database_url=f"sqlite:///{tmp_path / 'masstock.db'}", log_path=log
    )

    server.start()
    server.stop()

    assert "authentication is off" in log.read_text()
