"""Idempotency keys are each caller's own, on both backends and over the API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import create_engine
from sqlalchemy.ext.asyncio import create_async_engine

from masstock.adapters import schema
from masstock.adapters.metrics import Metrics
from masstock.adapters.postgres import (
    PostgresDatabase,
    PostgresIdempotencyKeys,
    PostgresReservationStore,
)
from masstock.adapters.sqlite import (
    SqliteDatabase,
    SqliteIdempotencyKeys,
    SqliteReservationStore,
)
from masstock.adapters.sqlite.database import to_text
from masstock.api.app import create_app
from masstock.api.services import Services
from masstock.bootstrap import open_services
from masstock.domain.access import Caller
from masstock.domain.reservation import Reservation
from masstock.service.ports import Claim, KeyCompletion, StoredResponse
from masstock.settings import Settings
from tests.e2e.conftest import DEVICES, add_devices, run_sql

NOON = datetime(2026, 12, 4, 12, 0, 0, 123456, tzinfo=UTC)
KEY = "pos-4711-0001"
MADRID = "pos-madrid"
BILBAO = "pos-bilbao"
FOR_MADRID = StoredResponse(200, "application/json", b'{"reservation_id":"r-1"}')
FOR_BILBAO = StoredResponse(200, "application/json", b'{"reservation_id":"r-2"}')


@dataclass
class Keys:
    keys: SqliteIdempotencyKeys | PostgresIdempotencyKeys
    reservations: SqliteReservationStore | PostgresReservationStore

    async def claim(self, caller: str, *, fingerprint: str = "f1") -> Claim:
        return await self.keys.claim(
            org="yoigo",
            caller=caller,
            key=KEY,
            fingerprint=fingerprint,
            now=NOON,
            expires_at=NOON + timedelta(hours=24),
            stale_before=NOON - timedelta(minutes=1),
        )

    async def answer(self, caller: str, stored: StoredResponse) -> None:
        await self.claim(caller)
        await self.keys.complete(org="yoigo", caller=caller, key=KEY, stored=stored)


@pytest.fixture
async def keys(database_url: str) -> AsyncIterator[Keys]:
    """The idempotency keys and reservations of an empty, migrated database."""
    if database_url.startswith("sqlite:"):
        sqlite = SqliteDatabase(database_url.removeprefix("sqlite:///"))
        await sqlite.open()
        yield Keys(SqliteIdempotencyKeys(sqlite), SqliteReservationStore(sqlite))
        await sqlite.close()
        return

    postgres = PostgresDatabase(database_url, pool_size=4, timeout=5.0)
    await postgres.open()
    yield Keys(PostgresIdempotencyKeys(postgres), PostgresReservationStore(postgres))
    await postgres.close()


async def test_the_same_key_from_two_callers_is_claimed_by_each(keys: Keys) -> None:
    await keys.claim(MADRID)

    claim = await keys.claim(BILBAO, fingerprint="f2")

    assert claim == Claim("claimed")


async def test_each_caller_replays_its_own_answer_under_a_shared_key(
    keys: Keys,
) -> None:
    await keys.answer(MADRID, FOR_MADRID)
    await keys.answer(BILBAO, FOR_BILBAO)

    from_madrid = await keys.claim(MADRID)
    from_bilbao = await keys.claim(BILBAO)

    assert from_madrid == Claim("replay", FOR_MADRID)
    assert from_bilbao == Claim("replay", FOR_BILBAO)


async def test_releasing_a_claim_leaves_another_callers_claim_in_place(
    keys: Keys,
) -> None:
    await keys.claim(MADRID)
    await keys.claim(BILBAO)

    await keys.keys.release(org="yoigo", caller=MADRID, key=KEY)

    assert await keys.claim(MADRID) == Claim("claimed")
    assert await keys.claim(BILBAO) == Claim("in_use")


async def test_an_answer_kept_with_its_change_goes_under_its_callers_key(
    keys: Keys,
) -> None:
    await keys.claim(MADRID)
    await keys.claim(BILBAO)
    completion = KeyCompletion(
        org="yoigo", caller=MADRID, key=KEY, render=lambda _: FOR_MADRID
    )

    await keys.reservations.add(
        Reservation.hold(
            org="yoigo",
            device_id="356938035643809",
            dealer_id="DEALER001",
            is_sim=False,
            at=NOON,
        ),
        request_id=None,
        completion=completion,
    )

    assert completion.written
    assert await keys.claim(MADRID) == Claim("replay", FOR_MADRID)
    assert await keys.claim(BILBAO) == Claim("in_use")


# The migrations, and a key kept before keys had callers.
_MIGRATIONS = Path(schema.__file__).with_name("migrations")
_KEPT = (
    "INSERT INTO idempotency_keys (org, key, fingerprint, status_code, media_type, "
    "body, claimed_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


def _upgrade_to(database_url: str, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    if database_url.startswith("sqlite:"):
        engine = create_engine(database_url.replace("sqlite:", "sqlite+pysqlite:", 1))
        with engine.connect() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
            connection.commit()
        engine.dispose()
        return

    async def _upgrade() -> None:
        url = database_url.split("://", 1)[1]
        engine = create_async_engine(f"postgresql+asyncpg://{url}")
        async with engine.connect() as connection:

            def _run(sync_connection: object) -> None:
                config.attributes["connection"] = sync_connection
                command.upgrade(config, revision)

            await connection.run_sync(_run)
            await connection.commit()
        await engine.dispose()

    asyncio.run(_upgrade())


def _times(database_url: str, *moments: datetime) -> tuple[object, ...]:
    """Times as the backend keeps them: text on SQLite."""
    if database_url.startswith("sqlite:"):
        return tuple(to_text(moment) for moment in moments)
    return moments


@pytest.fixture(params=["sqlite", "postgres"])
def unmigrated_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database with no schema yet, on each backend in turn."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'masstock.db'}"
    url: str = request.getfixturevalue("unmigrated_postgres_url")
    return url


def test_keys_kept_before_callers_become_the_anonymous_callers_own(
    unmigrated_url: str,
) -> None:
    _upgrade_to(unmigrated_url, "0004")
    run_sql(
        unmigrated_url,
        _KEPT,
        "yoigo",
        KEY,
        "f1",
        FOR_MADRID.status,
        FOR_MADRID.media_type,
        FOR_MADRID.body,
        *_times(unmigrated_url, NOON, NOON + timedelta(hours=24)),
    )

    schema.upgrade(unmigrated_url)

    rows = run_sql(unmigrated_url, "SELECT org, caller, key FROM idempotency_keys")
    assert rows == [("yoigo", "", KEY)]
    assert asyncio.run(_claims_after_upgrade(unmigrated_url)) == (
        Claim("replay", FOR_MADRID),
        Claim("claimed"),
    )


async def _claims_after_upgrade(database_url: str) -> tuple[Claim, Claim]:
    """What the anonymous caller and MADRID find under the kept key."""
    if database_url.startswith("sqlite:"):
        sqlite = SqliteDatabase(database_url.removeprefix("sqlite:///"))
        await sqlite.open()
        try:
            keys = Keys(SqliteIdempotencyKeys(sqlite), SqliteReservationStore(sqlite))
            return await keys.claim(""), await keys.claim(MADRID)
        finally:
            await sqlite.close()

    postgres = PostgresDatabase(database_url, pool_size=1, timeout=5.0)
    await postgres.open()
    try:
        keys = Keys(
            PostgresIdempotencyKeys(postgres), PostgresReservationStore(postgres)
        )
        return await keys.claim(""), await keys.claim(MADRID)
    finally:
        await postgres.close()


class SubjectTokens:
    """Bearer tokens that name their caller's subject in the clear."""

    async def verify(self, token: str) -> Caller:
        return Caller(subject=token)


@pytest.fixture
def api(database_url: str) -> Iterator[TestClient[Litestar]]:
    """The API over an empty database with the contract's devices, where a
    request's bearer token is its caller."""
    add_devices(database_url, DEVICES)

    @asynccontextmanager
    async def _services() -> AsyncIterator[Services]:
        async with open_services(Settings(database_url=database_url)) as services:
            yield replace(services, tokens=SubjectTokens())

    app = create_app(_services, telemetry=Metrics(), max_header_bytes=16384)
    with TestClient(app) as client:
        yield client


CREATE = "/v1/orgs/yoigo/reservation"
HANDSET = {"device_id": "356938035643809", "dealer_id": "DEALER001", "is_sim": False}
SIM = {"device_id": "DEVICE123456", "dealer_id": "DEALER001", "is_sim": True}


def _as(caller: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {caller}", "Idempotency-Key": KEY}


def test_the_same_key_from_two_callers_runs_twice_and_each_replays_its_own(
    api: TestClient[Litestar],
) -> None:
    madrid = api.post(CREATE, json=HANDSET, headers=_as(MADRID))
    bilbao = api.post(CREATE, json=SIM, headers=_as(BILBAO))

    madrid_again = api.post(CREATE, json=HANDSET, headers=_as(MADRID))
    bilbao_again = api.post(CREATE, json=SIM, headers=_as(BILBAO))

    assert (madrid.status_code, bilbao.status_code) == (200, 200)
    assert madrid.content != bilbao.content
    assert madrid_again.content == madrid.content
    assert bilbao_again.content == bilbao.content
    assert madrid_again.headers["idempotent-replayed"] == "true"
    assert bilbao_again.headers["idempotent-replayed"] == "true"


def test_another_caller_with_the_same_key_and_request_is_not_given_the_answer(
    api: TestClient[Litestar],
) -> None:
    madrid = api.post(CREATE, json=HANDSET, headers=_as(MADRID))

    bilbao = api.post(CREATE, json=HANDSET, headers=_as(BILBAO))

    assert madrid.status_code == 200
    assert bilbao.status_code == 409
    assert bilbao.json()["code"] == "RESERVATION_CONFLICT"
    assert "idempotent-replayed" not in bilbao.headers
