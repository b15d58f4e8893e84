"""Traces, as a collector receives them: the request, its statements, its lookups."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.conftest import DEVICES, HANDSET, INVENTORY_TOKEN, empty
from tests.e2e.fake_inventory import FakeInventory, write_catalog
from tests.e2e.otlp_receiver import OtlpReceiver
from tests.e2e.server import ServerProcess

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def traced(
    postgres_server_url: str,
    receiver: OtlpReceiver,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ServerProcess]:
    """PostgreSQL for holds, the fake inventory for devices, spans to the receiver."""
    folder = tmp_path_factory.mktemp("traces")
    with FakeInventory(
        catalog=write_catalog(folder / "catalog.csv", DEVICES),
        token=INVENTORY_TOKEN,
        log_path=folder / "fake.log",
    ) as fake:
        process = ServerProcess(
            database_url=postgres_server_url,
            env={
                "MASSTOCK_INVENTORY_URL": fake.base_url,
                "MASSTOCK_INVENTORY_TOKEN": INVENTORY_TOKEN,
                "MASSTOCK_LOG_LEVEL": "info",
                "MASSTOCK_LOG_FORMAT": "json",
                "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
                "OTEL_SERVICE_NAME": "masstock-under-test",
                "OTEL_BSP_SCHEDULE_DELAY": "100",
            },
            log_path=folder / "serve.log",
        )
        process.start()
        yield process
        process.stop()


def test_a_create_is_one_trace_joining_the_callers_with_its_statements_and_lookup(
    traced: ServerProcess, receiver: OtlpReceiver
) -> None:
    empty(traced.database_url)

    with httpx.Client(base_url=traced.base_url, timeout=10.0) as client:
        created = client.post(
            "/v1/orgs/yoigo/reservation",
            json={"device_id": HANDSET[1], "dealer_id": "DEALER001", "is_sim": False},
            headers={"traceparent": f"00-{TRACE_ID}-{CALLER_SPAN}-01"},
        )
    spans = receiver.of_trace(TRACE_ID, at_least=3)

    assert created.status_code == 200
    (request,) = [span for span in spans if span.parent_span_id == CALLER_SPAN]
    assert request.name == "POST /v1/orgs/{org}/reservation"
    assert request.attributes["http.route"] == "/v1/orgs/{org}/reservation"
    assert request.service == "masstock-under-test"
    children = [span for span in spans if span.parent_span_id == request.span_id]
    scopes = {span.scope for span in children}
    assert "opentelemetry.instrumentation.asyncpg" in scopes
    assert "opentelemetry.instrumentation.httpx" in scopes
    (lookup,) = [s for s in children if s.scope.endswith("httpx")]
    assert lookup.name == "GET"
    statements = [s for s in children if s.scope.endswith("asyncpg")]
    assert any("INSERT INTO reservations" in str(s.attributes) for s in statements)


def test_the_access_event_names_the_span_of_its_request(
    traced: ServerProcess, receiver: OtlpReceiver
) -> None:
    with httpx.Client(base_url=traced.base_url, timeout=10.0) as client:
        looked_up = client.get(
            "/v1/orgs/yoigo/device", params={"identifier": HANDSET[1]}
        )
    request_id = looked_up.headers["x-request-id"]

    event = traced.access_event(request_id)
    spans = receiver.of_trace(event["trace_id"], at_least=1)

    assert looked_up.status_code == 200
    assert event["span_id"] in {span.span_id for span in spans}
    (request,) = [span for span in spans if span.span_id == event["span_id"]]
    assert request.name == "GET /v1/orgs/{org}/device"
