"""Random walks over the HTTP API of a real server, step by step against a
small model of the rules: one active hold per device, only its dealer closes
it, a closed hold stays closed, repeats change nothing, unknown ids are 404."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    rule,
    run_state_machine_as_test,
)

from masstock.adapters import schema
from tests.e2e.conftest import add_devices, empty
from tests.e2e.server import ServerProcess
from tests.reliability.load import RESERVATIONS, handsets, record, sized

DEVICES = handsets(2)
DEALERS = ("DEALER001", "DEALER002")
CLOSINGS = {"cancellation": "CANCELLED", "finalization": "FINALIZED"}
EXAMPLES = sized(short=200, long=2_000)
STEPS = sized(short=12, long=25)


@dataclass
class ModelHold:
    device_id: str
    dealer_id: str
    status: str = "CREATED"


@pytest.fixture(scope="module")
def model_server(
    sqlite_module_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """One server on SQLite for every example; each example empties it."""
    log = tmp_path_factory.mktemp("model") / "serve.log"
    server = ServerProcess(database_url=sqlite_module_url, log_path=log)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def sqlite_module_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{Path(tmp_path_factory.mktemp('db')) / 'masstock.db'}"
    schema.upgrade(url)
    return url


def _machine(server: ServerProcess, api: httpx.Client) -> type[RuleBasedStateMachine]:
    class HttpLifecycle(RuleBasedStateMachine):
        holds = Bundle("holds")

        def __init__(self) -> None:
            super().__init__()
            empty(server.database_url)
            add_devices(server.database_url, DEVICES)
            self.model: dict[str, ModelHold] = {}

        @rule(
            target=holds,
            device_id=st.sampled_from([device[1] for device in DEVICES]),
            dealer_id=st.sampled_from(DEALERS),
        )
        def reserve(self, device_id: str, dealer_id: str) -> str:
            body = {"device_id": device_id, "dealer_id": dealer_id, "is_sim": False}

            response = api.post(RESERVATIONS, json=body)

            active = [
                reservation_id
                for reservation_id, hold in self.model.items()
                if hold.device_id == device_id and hold.status == "CREATED"
            ]
            if active:
                assert response.status_code == 409, response.text
                assert response.json()["reservation_id"] == active[0]
                assert response.json()["dealer_id"] == self.model[active[0]].dealer_id
                return active[0]
            assert response.status_code == 200, response.text
            reservation_id: str = response.json()["reservation_id"]
            self.model[reservation_id] = ModelHold(device_id, dealer_id)
            return reservation_id

        @rule(
            reservation_id=holds,
            dealer_id=st.sampled_from(DEALERS),
            action=st.sampled_from(sorted(CLOSINGS)),
        )
        def close(self, *, reservation_id: str, dealer_id: str, action: str) -> None:
            hold = self.model[reservation_id]
            path = f"{RESERVATIONS}/{reservation_id}/{action}"

            response = api.post(path, json={"dealer": dealer_id})

            wanted = CLOSINGS[action]
            if dealer_id != hold.dealer_id:
                assert response.status_code == 400, response.text
            elif hold.status not in ("CREATED", wanted):
                assert response.status_code == 409, response.text
            else:
                assert response.status_code == 200, response.text
                hold.status = wanted

        @rule(reservation_id=holds)
        def read(self, reservation_id: str) -> None:
            hold = self.model[reservation_id]

            response = api.get(f"{RESERVATIONS}/{reservation_id}")

            assert response.status_code == 200, response.text
            body = response.json()
            seen = (body["device_id"], body["dealer_id"], body["status"])
            assert seen == (hold.device_id, hold.dealer_id, hold.status)

        @rule(
            reservation_id=st.uuids().map(str),
            action=st.sampled_from(["", "/cancellation", "/finalization"]),
        )
        def unknown(self, reservation_id: str, action: str) -> None:
            path = f"{RESERVATIONS}/{reservation_id}{action}"

            response = (
                api.post(path, json={"dealer": DEALERS[0]}) if action else api.get(path)
            )

            assert response.status_code == 404, response.text
            assert response.json()["code"] == "RESERVATION_NOT_FOUND"

    return HttpLifecycle


def test_the_http_api_follows_the_rules_of_a_hold_over_random_walks(
    model_server: ServerProcess,
) -> None:
    with httpx.Client(base_url=model_server.base_url, timeout=10.0) as api:
        machine = _machine(model_server, api)

        run_state_machine_as_test(
            machine,
            settings=settings(
                max_examples=EXAMPLES,
                stateful_step_count=STEPS,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )

    record("model", examples=EXAMPLES, steps_at_most=STEPS)
