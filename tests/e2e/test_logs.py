"""JSON logs from several workers: one whole event per line, none lost."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx

from tests.e2e.conftest import add_devices, empty
from tests.e2e.server import ServerProcess

HOLDS = 600
AT_ONCE = 48


async def _reserve_many(base_url: str) -> int:
    limits = httpx.Limits(max_connections=AT_ONCE)
    async with httpx.AsyncClient(base_url=base_url, limits=limits) as client:

        async def reserve(n: int) -> int:
            response = await client.post(
                "/v1/orgs/yoigo/reservation",
                json={
                    "device_id": f"IMEI-LOG-{n:04}",
                    "dealer_id": f"DEALER{n % 7:03}",
                    "is_sim": False,
                },
            )
            return response.status_code

        statuses = await asyncio.gather(*(reserve(n) for n in range(HOLDS)))
    return statuses.count(200)


def test_two_workers_write_every_event_whole_on_a_line_of_its_own(
    postgres_server_url: str, tmp_path: Path
) -> None:
    empty(postgres_server_url)
    add_devices(
        postgres_server_url,
        [
            ("yoigo", f"IMEI-LOG-{n:04}", "REF-LOG", None, "device")
            for n in range(HOLDS)
        ],
    )
    log_path = tmp_path / "serve.log"
    server = ServerProcess(
        database_url=postgres_server_url,
        workers=2,
        env={"MASSTOCK_LOG_LEVEL": "info", "MASSTOCK_LOG_FORMAT": "json"},
        log_path=log_path,
    )
    server.start()
    try:
        created = asyncio.run(_reserve_many(server.base_url))
    finally:
        server.stop()

    lines = log_path.read_text().splitlines()
    events = [json.loads(line) for line in lines if line.startswith("{")]
    creations = [e for e in events if e["event"] == "reservation created"]
    assert created == HOLDS
    assert [line for line in lines if not line.strip()] == []
    assert len(creations) == HOLDS
    assert {e["device_id"] for e in creations} == {
        f"IMEI-LOG-{n:04}" for n in range(HOLDS)
    }
