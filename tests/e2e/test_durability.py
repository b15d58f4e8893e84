"""An acknowledged reservation survives the server process that took it."""

from __future__ import annotations

import signal

import httpx
import pytest

from tests.e2e.server import ServerProcess

HOLD = {"device_id": "356938035643809", "dealer_id": "DEALER001", "is_sim": False}


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_a_reservation_outlives_a_restart_and_can_still_be_cancelled(
    api: httpx.Client, server: ServerProcess, sig: signal.Signals
) -> None:
    reservation_id = api.post("/v1/orgs/yoigo/reservation", json=HOLD).json()[
        "reservation_id"
    ]

    server.stop(sig)
    server.start()
    conflict = api.post(
        "/v1/orgs/yoigo/reservation", json={**HOLD, "dealer_id": "DEALER002"}
    )
    cancelled = api.post(
        f"/v1/orgs/yoigo/reservation/{reservation_id}/cancellation",
        json={"dealer": "DEALER001"},
    )

    assert conflict.status_code == 409
    assert conflict.json()["reservation_id"] == reservation_id
    assert cancelled.status_code == 200
    assert api.post("/v1/orgs/yoigo/reservation", json=HOLD).status_code == 200
