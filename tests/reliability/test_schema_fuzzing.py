"""Schemathesis against a served document: every check, with valid and invalid
data; the service answers each request as its document says, never a 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from masstock.adapters import schema as database_schema
from masstock.api.openapi import build_document
from tests.e2e.conftest import DEVICES, add_devices
from tests.e2e.server import ServerProcess
from tests.reliability.load import record, sized

# A well-formed request can still be refused with 4xx for reasons no schema
# states (is_sim that does not fit the device, a cursor never issued, an
# Idempotency-Key already used for another request), so those operations skip
# the check that valid data is accepted; every other check stays on.
CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {"mode": "all"},
        "operations": [
            {
                "include-operation-id": operation_id,
                "checks": {"positive_data_acceptance": {"enabled": False}},
            }
            for operation_id in (
                "createReservation",
                "listReservations",
                "cancelReservation",
                "finalizeReservation",
                "extendReservation",
            )
        ],
    }
)

schema = schemathesis.openapi.from_dict(build_document(), config=CONFIG)
EXAMPLES = sized(short=50, long=500)


@pytest.fixture(scope="module")
def fuzzed_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server on SQLite with the contract's devices in its catalog."""
    folder: Path = tmp_path_factory.mktemp("fuzz")
    url = f"sqlite:///{folder / 'masstock.db'}"
    database_schema.upgrade(url)
    add_devices(url, DEVICES)
    server = ServerProcess(database_url=url, log_path=folder / "serve.log")
    server.start()
    yield server.base_url
    server.stop()
    record("schema fuzzing", examples_per_operation_at_most=EXAMPLES)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_every_operation_answers_fuzzed_requests_as_documented(
    case: schemathesis.Case[Any], fuzzed_url: str
) -> None:
    case.call_and_validate(base_url=fuzzed_url)
