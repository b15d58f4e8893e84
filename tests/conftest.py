"""Databases for tests: a real SQLite file and a real PostgreSQL database.

PostgreSQL is the server named by ``MASSTOCK_TEST_POSTGRES_URL`` (default: the
local one, user ``postgres``); each test session gets a database of its own,
dropped at the end.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import pytest

from masstock.adapters import schema

POSTGRES_ADMIN_URL = os.environ.get(
    "MASSTOCK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


async def _admin(statement: str) -> None:
    connection = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=10)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@contextmanager
def new_postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database, dropped afterwards."""
    name = f"masstock_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        asyncio.run(_admin(f'DROP DATABASE "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A fresh PostgreSQL database, migrated to head, for this test session."""
    with new_postgres_database() as url:
        schema.upgrade(url)
        yield url


@pytest.fixture
def unmigrated_postgres_url() -> Iterator[str]:
    """A new PostgreSQL database with no schema at all."""
    with new_postgres_database() as url:
        yield url


async def empty_postgres(url: str) -> None:
    connection = await asyncpg.connect(url, timeout=10)
    try:
        await connection.execute(
            "TRUNCATE reservations, reservation_events, idempotency_keys, devices"
        )
    finally:
        await connection.close()


@pytest.fixture
def postgres_url(postgres_server_url: str) -> str:
    """The session's PostgreSQL database, emptied for this test."""
    asyncio.run(empty_postgres(postgres_server_url))
    return postgres_server_url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A new SQLite file, migrated to head, for this test."""
    url = f"sqlite:///{tmp_path / 'masstock.db'}"
    schema.upgrade(url)
    return url


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each backend in turn: an empty, migrated database."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(fixture)
    return url
