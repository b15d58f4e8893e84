"""Liveness, readiness, and a graceful stop on SIGTERM."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from masstock.adapters import schema
from tests.e2e.conftest import DEVICES, run_sql
from tests.e2e.fake_inventory import FakeInventory, write_catalog
from tests.e2e.server import ServerProcess


def test_a_running_server_is_alive_and_ready(api: httpx.Client) -> None:
    live = api.get("/health/live")
    ready = api.get("/health/ready")

    assert (live.status_code, live.json()) == (200, {"status": "ok"})
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "database": "ok",
        "schema": schema.head_revision(),
        "expected_schema": schema.head_revision(),
    }


def test_a_database_behind_the_code_is_not_ready(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'masstock.db'}"
    server = ServerProcess(database_url=url, log_path=tmp_path / "serve.log")
    server.start()
    try:
        run_sql(url, "UPDATE alembic_version SET version_num = '0001'")
        with httpx.Client(base_url=server.base_url, timeout=10) as api:
            ready = api.get("/health/ready")
            live = api.get("/health/live")
    finally:
        server.stop()

    assert ready.status_code == 503
    assert ready.json()["status"] == "not_ready"
    assert ready.json()["schema"] == "0001"
    assert live.status_code == 200


def test_sigterm_finishes_the_requests_in_flight_then_exits_0(tmp_path: Path) -> None:
    with FakeInventory(
        catalog=write_catalog(tmp_path / "catalog.csv", DEVICES),
        log_path=tmp_path / "fake.log",
    ) as fake:
        url = f"sqlite:///{tmp_path / 'masstock.db'}"
        schema.upgrade(url)
        server = ServerProcess(
            database_url=url,
            env={
                "MASSTOCK_INVENTORY_URL": fake.base_url,
                "MASSTOCK_INVENTORY_DEADLINE": "10",
                "MASSTOCK_INVENTORY_READ_TIMEOUT": "10",
            },
            log_path=tmp_path / "serve.log",
        )
        server.start()
        fake.set_faults(delay=1.5)
        answers: list[httpx.Response] = []

        def slow_create() -> None:
            answers.append(
                httpx.post(
                    f"{server.base_url}/v1/orgs/yoigo/reservation",
                    json={
                        "device_id": "356938035643809",
                        "dealer_id": "DEALER001",
                        "is_sim": False,
                    },
                    timeout=30,
                )
            )

        in_flight = threading.Thread(target=slow_create)
        in_flight.start()
        time.sleep(0.5)
        code = server.stop(signal.SIGTERM)
        in_flight.join(timeout=30)

    assert code == 0
    assert [answer.status_code for answer in answers] == [200]
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.base_url}/health/live", timeout=2)
    held = run_sql(url, "SELECT dealer_id FROM reservations")
    assert held == [("DEALER001",)]
