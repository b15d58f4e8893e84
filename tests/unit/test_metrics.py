"""What the service counts: the use cases' changes, and the Prometheus text of them."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from masstock.adapters.metrics import Metrics
from masstock.adapters.tracing import TracingSettingError, tracing_exporter
from masstock.domain.device import Device, DeviceKind
from masstock.domain.errors import DealerLimitReached, ReservationConflict
from masstock.domain.events import EventKind
from masstock.service.reservations import Holding, Reservations
from tests.unit.fakes import (
    HANDSET,
    FakeClock,
    FakeDeviceDirectory,
    FakeReservationStore,
)

ROUTER = Device(
    org="yoigo",
    identifier="SN-ROUTER-0001",
    reference="REF-ROUTER-AX3000",
    mac=None,
    kind=DeviceKind.DEVICE,
)


def _samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the exposition, by name and labels."""
    text = metrics.exposition().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(metrics: Metrics, name: str, **labels: str) -> float | None:
    return _samples(metrics).get((name, tuple(sorted(labels.items()))))


def _reservations(
    metrics: Metrics, clock: FakeClock, *, dealer_limit: int | None = None
) -> Reservations:
    return Reservations(
        store=FakeReservationStore(),
        devices=FakeDeviceDirectory(HANDSET, ROUTER),
        clock=clock,
        holding=Holding(ttl=timedelta(hours=1), dealer_limit=dealer_limit),
        metrics=metrics,
    )


async def test_each_change_of_a_hold_is_counted_once_by_org_and_kind() -> None:
    metrics, clock = Metrics(), FakeClock()
    reservations = _reservations(metrics, clock)

    held = await reservations.reserve(
        org="yoigo", device_id=HANDSET.identifier, dealer_id="DEALER001", is_sim=False
    )
    await reservations.extend(
        org="yoigo", reservation_id=str(held.id), dealer_id="DEALER001"
    )
    await reservations.cancel(
        org="yoigo", reservation_id=str(held.id), dealer_id="DEALER001"
    )
    await reservations.cancel(  # repeated: changes nothing, counts nothing
        org="yoigo", reservation_id=str(held.id), dealer_id="DEALER001"
    )
    sold = await reservations.reserve(
        org="yoigo", device_id=HANDSET.identifier, dealer_id="DEALER002", is_sim=False
    )
    await reservations.finalize(
        org="yoigo", reservation_id=str(sold.id), dealer_id="DEALER002"
    )

    changes = "masstock_reservation_changes_total"
    assert _value(metrics, changes, org="yoigo", change="created") == 2
    assert _value(metrics, changes, org="yoigo", change="extended") == 1
    assert _value(metrics, changes, org="yoigo", change="cancelled") == 1
    assert _value(metrics, changes, org="yoigo", change="finalized") == 1


async def test_expiries_written_down_are_counted_by_org() -> None:
    metrics, clock = Metrics(), FakeClock()
    reservations = _reservations(metrics, clock)
    for device in (HANDSET, ROUTER):
        await reservations.reserve(
            org="yoigo",
            device_id=device.identifier,
            dealer_id="DEALER001",
            is_sim=False,
        )
    clock.advance(2 * 3600)

    expired = await reservations.expire_due(limit=1)

    assert expired == 2
    changes = "masstock_reservation_changes_total"
    assert _value(metrics, changes, org="yoigo", change="expired") == 2


async def test_conflicts_are_counted_by_org_and_reason() -> None:
    metrics, clock = Metrics(), FakeClock()
    reservations = _reservations(metrics, clock, dealer_limit=1)
    await reservations.reserve(
        org="yoigo", device_id=HANDSET.identifier, dealer_id="DEALER001", is_sim=False
    )

    with pytest.raises(ReservationConflict):
        await reservations.reserve(
            org="yoigo",
            device_id=HANDSET.identifier,
            dealer_id="DEALER002",
            is_sim=False,
        )
    with pytest.raises(DealerLimitReached):
        await reservations.reserve(
            org="yoigo",
            device_id=ROUTER.identifier,
            dealer_id="DEALER001",
            is_sim=False,
        )

    conflicts = "masstock_reservation_conflicts_total"
    assert _value(metrics, conflicts, org="yoigo", reason="device_held") == 1
    assert _value(metrics, conflicts, org="yoigo", reason="dealer_limit") == 1
    changes = "masstock_reservation_changes_total"
    assert _value(metrics, changes, org="yoigo", change="created") == 1


def test_requests_are_observed_under_the_conventions_names() -> None:
    metrics = Metrics()

    route = "/v1/orgs/{org}/reservation"
    metrics.request(method="POST", route=route, status=409, seconds=0.03)
    metrics.request(method="BREW", route="", status=405, seconds=0.001)

    name = "http_server_request_duration_seconds"
    create = {
        "http_request_method": "POST",
        "http_route": "/v1/orgs/{org}/reservation",
        "http_response_status_code": "409",
    }
    assert _value(metrics, f"{name}_count", **create) == 1
    assert _value(metrics, f"{name}_bucket", **create, le="0.025") == 0
    assert _value(metrics, f"{name}_bucket", **create, le="0.05") == 1
    other = {
        "http_request_method": "_OTHER",
        "http_route": "",
        "http_response_status_code": "405",
    }
    assert _value(metrics, f"{name}_count", **other) == 1


def test_pool_and_breaker_gauges_show_the_last_sample() -> None:
    metrics = Metrics()

    metrics.pool(size=8, in_use=3, waiting=5)
    metrics.breakers({"inventory": "open", "sim-inventory": "closed"})

    pool = "masstock_db_pool_connections"
    assert _value(metrics, pool, state="in_use") == 3
    assert _value(metrics, pool, state="idle") == 5
    assert _value(metrics, "masstock_db_pool_waiting_requests") == 5
    breaker = "masstock_inventory_breaker_state"
    assert _value(metrics, breaker, upstream="inventory") == 2
    assert _value(metrics, breaker, upstream="sim-inventory") == 0


def test_the_last_sweep_is_a_timestamp_to_alert_on() -> None:
    metrics = Metrics()
    before = time.time()

    metrics.swept()

    swept = _value(metrics, "masstock_sweep_last_success_timestamp_seconds")
    assert swept is not None
    assert before <= swept <= time.time()


def test_inventory_calls_are_observed_by_upstream_and_outcome() -> None:
    metrics = Metrics()

    metrics.inventory_call(upstream="inventory", outcome="found", seconds=0.02)
    metrics.inventory_call(upstream="inventory", outcome="unavailable", seconds=0.8)

    name = "masstock_inventory_request_duration_seconds_count"
    assert _value(metrics, name, upstream="inventory", outcome="found") == 1
    assert _value(metrics, name, upstream="inventory", outcome="unavailable") == 1


def test_counts_of_one_event_kind_cover_every_kind_of_the_history() -> None:
    metrics = Metrics()

    for kind in EventKind:
        metrics.changed("lowi", kind)

    changes = "masstock_reservation_changes_total"
    assert {
        dict(labels)["change"]
        for (name, labels) in _samples(metrics)
        if name == changes
    } == {"created", "cancelled", "finalized", "expired", "extended"}


@pytest.mark.parametrize(
    ("environ", "exporter"),
    [
        ({}, None),
        ({"OTEL_SERVICE_NAME": "masstock"}, None),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, "otlp"),
        ({"OTEL_TRACES_EXPORTER": "console"}, "console"),
        ({"OTEL_TRACES_EXPORTER": "none"}, None),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, "otlp"),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318"}, "otlp"),
        (
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
                "OTEL_TRACES_EXPORTER": "none",
            },
            None,
        ),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}, None),
    ],
)
def test_tracing_is_off_unless_the_otel_settings_ask_for_it(
    environ: dict[str, str], exporter: str | None
) -> None:
    assert tracing_exporter(environ) == exporter


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"OTEL_TRACES_EXPORTER": "jaeger"}, "OTEL_TRACES_EXPORTER"),
        (
            {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        ),
    ],
)
def test_an_otel_setting_that_cannot_be_honoured_is_named(
    environ: dict[str, str], named: str
) -> None:
    with pytest.raises(TracingSettingError, match=named):
        tracing_exporter(environ)
