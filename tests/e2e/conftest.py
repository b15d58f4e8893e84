"""Servers for end-to-end tests: real processes over real sockets."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import asyncpg
import httpx
import pytest

from masstock.adapters import schema
from tests.conftest import empty_postgres
from tests.e2e.fake_inventory import FakeInventory, write_catalog
from tests.e2e.server import ServerProcess

CONTRACT_DEVICE = ("yoigo", "DEVICE123456", "REF123456", "00:1A:2B:3C:4D:5E", "sim")
HANDSET = ("yoigo", "356938035643809", "REF-IPHONE-17", None, "device")
ROUTER = (
    "masmovil",
    "SN-ROUTER-0001",
    "REF-ROUTER-AX3000",
    "A4:91:B1:00:00:01",
    "device",
)
DEVICES = [CONTRACT_DEVICE, HANDSET, ROUTER]
INVENTORY_TOKEN = "inventory-token-4711"  # noqa: S105 (the fake upstream's test token)

_INSERT_SQLITE = (
    "INSERT INTO devices (org, identifier, reference, mac, kind, updated_at) "
    "VALUES (?, ?, ?, ?, ?, '2026-12-01T00:00:00+00:00')"
)
_INSERT_POSTGRES = (
    "INSERT INTO devices (org, identifier, reference, mac, kind, updated_at) "
    "VALUES ($1, $2, $3, $4, $5, now())"
)


def add_devices(
    database_url: str, devices: list[tuple[str, str, str, str | None, str]]
) -> None:
    """Put devices straight into the catalog table, as an import would."""
    if database_url.startswith("sqlite:"):
        connection = sqlite3.connect(database_url.removeprefix("sqlite:///"))
        with connection:
            connection.executemany(_INSERT_SQLITE, devices)
        connection.close()
        return

    async def _insert() -> None:
        connection = await asyncpg.connect(database_url)
        try:
            await connection.executemany(_INSERT_POSTGRES, devices)
        finally:
            await connection.close()

    asyncio.run(_insert())


def run_sql(
    database_url: str, statement: str, *params: object
) -> list[tuple[Any, ...]]:
    """Run one statement, written with ``?`` placeholders, on either backend;
    the rows it returns."""
    if database_url.startswith("sqlite:"):
        connection = sqlite3.connect(database_url.removeprefix("sqlite:///"))
        with connection:
            rows = connection.execute(statement, params).fetchall()
        connection.close()
        return rows

    numbered = statement
    for n in range(1, len(params) + 1):
        numbered = numbered.replace("?", f"${n}", 1)

    async def _run() -> list[tuple[Any, ...]]:
        connection = await asyncpg.connect(database_url)
        try:
            return [tuple(row) for row in await connection.fetch(numbered, *params)]
        finally:
            await connection.close()

    return asyncio.run(_run())


def empty(database_url: str) -> None:
    """Remove every reservation and device."""
    if database_url.startswith("sqlite:"):
        connection = sqlite3.connect(database_url.removeprefix("sqlite:///"))
        with connection:
            connection.execute("DELETE FROM reservations")
            connection.execute("DELETE FROM reservation_events")
            connection.execute("DELETE FROM idempotency_keys")
            connection.execute("DELETE FROM devices")
        connection.close()
        return
    asyncio.run(empty_postgres(database_url))


@pytest.fixture(scope="module", params=["sqlite", "postgres", "inventory"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """``masstock serve`` on each backend in turn, shared by a module's tests.

    "inventory" is SQLite for reservations with devices from the fake
    logistics stock API, loaded with the same catalog as the others.
    """
    folder = tmp_path_factory.mktemp(request.param)
    env: dict[str, str] = {}
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_server_url")
    else:
        url = f"sqlite:///{folder / 'masstock.db'}"
        schema.upgrade(url)
    with ExitStack() as stack:
        if request.param == "inventory":
            fake = stack.enter_context(
                FakeInventory(
                    catalog=write_catalog(folder / "catalog.csv", DEVICES),
                    token=INVENTORY_TOKEN,
                    log_path=folder / "fake-inventory.log",
                )
            )
            env = {
                "MASSTOCK_INVENTORY_URL": fake.base_url,
                "MASSTOCK_INVENTORY_TOKEN": INVENTORY_TOKEN,
            }
        process = ServerProcess(
            database_url=url, env=env, log_path=folder / "serve.log"
        )
        process.start()
        yield process
        process.stop()


@pytest.fixture
def api(server: ServerProcess) -> Iterator[httpx.Client]:
    """A client of ``server``: the contract's devices and no reservations."""
    empty(server.database_url)
    add_devices(server.database_url, DEVICES)
    with httpx.Client(base_url=server.base_url, timeout=10.0) as client:
        yield client
