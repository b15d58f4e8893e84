"""Prometheus metrics: what the service counts, and the text ``/metrics`` serves.

With several worker processes, each writes its values to files in the folder
that ``PROMETHEUS_MULTIPROC_DIR`` names (``masstock serve`` makes one), and
whichever worker answers ``/metrics`` adds them all up.  prometheus_client
reads the variable when it is first imported, so ``serve`` sets it before
anything imports this module.  Without it, the process counts alone.

Names and labels of the request histogram follow OpenTelemetry's semantic
conventions for ``http.server.request.duration``, as Prometheus spells them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)

from masstock.domain.events import EventKind
from masstock.service.ports import Refusal

# OpenTelemetry's advice for http.server.request.duration, in seconds.
REQUEST_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)  # fmt: skip
INVENTORY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.8, 1.0, 2.5, 5.0)
# Methods outside these are counted as "_OTHER", as the conventions say, so
# that a client inventing methods cannot grow the number of series.
_KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)
_MAX_CACHED_SERIES = 1024
BREAKER_STATES = {"closed": 0, "half_open": 1, "open": 2}


def counts_across_processes() -> bool:
    """Whether prometheus_client writes values to the shared folder.

    Decided by prometheus_client when it was imported, from the environment
    of that moment: this asks what it decided.
    """
    return values.ValueClass is not values.MutexValue


class Metrics:
    """Every metric of one process, and the exposition of all processes."""

    def __init__(self) -> None:
        self._shared = counts_across_processes()
        # Shared values are collected from the files at each scrape; only a
        # process counting alone keeps a registry of its own.
        self._registry = None if self._shared else CollectorRegistry()
        registry = self._registry
        self._requests = Histogram(
            "http_server_request_duration_seconds",
            "Duration of HTTP server requests.",
            ["http_request_method", "http_route", "http_response_status_code"],
            buckets=REQUEST_BUCKETS,
            registry=registry,
        )
        # Every request observes one series: found here, not by label lookup.
        self._request_series: dict[tuple[str, str, int], Histogram] = {}
        self._changes = Counter(
            "masstock_reservation_changes",
            "Reservations that went through a change, by org and kind of change.",
            ["org", "change"],
            registry=registry,
        )
        self._conflicts = Counter(
            "masstock_reservation_conflicts",
            "Creates refused with 409: the device is held, or the dealer's cap.",
            ["org", "reason"],
            registry=registry,
        )
        self._pool = Gauge(
            "masstock_db_pool_connections",
            "PostgreSQL connections of the pools, by state; sampled each second.",
            ["state"],
            multiprocess_mode="livesum",
            registry=registry,
        )
        self._pool_waiting = Gauge(
            "masstock_db_pool_waiting_requests",
            "Requests waiting for a PostgreSQL connection; sampled each second.",
            multiprocess_mode="livesum",
            registry=registry,
        )
        self._inventory = Histogram(
            "masstock_inventory_request_duration_seconds",
            "Calls to the inventory, by upstream and outcome.",
            ["upstream", "outcome"],
            buckets=INVENTORY_BUCKETS,
            registry=registry,
        )
        self._breaker = Gauge(
            "masstock_inventory_breaker_state",
            "Circuit breaker of each upstream: 0 closed, 1 half open, 2 open "
            "(the worst of the workers).",
            ["upstream"],
            multiprocess_mode="livemax",
            registry=registry,
        )
        self._swept = Gauge(
            "masstock_sweep_last_success_timestamp_seconds",
            "When an expiry sweep last ran to its end (Unix time, latest worker).",
            multiprocess_mode="max",
            registry=registry,
        )

    def swept(self) -> None:
        """The expiry sweep of this process ran to its end, now."""
        self._swept.set(time.time())

    def request(self, *, method: str, route: str, status: int, seconds: float) -> None:
        """One HTTP request answered; ``route`` is its template, "" if none."""
        key = (method if method in _KNOWN_METHODS else "_OTHER", route, status)
        series = self._request_series.get(key)
        if series is None:
            series = self._requests.labels(key[0], route, str(status))
            # Routes and statuses are few, and unknown methods are one; the
            # bound guards against a bug, not against callers.
            if len(self._request_series) < _MAX_CACHED_SERIES:
                self._request_series[key] = series
        series.observe(seconds)

    def changed(self, org: str, kind: EventKind, count: int = 1) -> None:
        self._changes.labels(org, kind.value.lower()).inc(count)

    def refused(self, org: str, reason: Refusal) -> None:
        self._conflicts.labels(org, reason).inc()

    def pool(self, *, size: int, in_use: int, waiting: int) -> None:
        """The state of this process's connection pool, now."""
        self._pool.labels("in_use").set(in_use)
        self._pool.labels("idle").set(size - in_use)
        self._pool_waiting.set(waiting)

    def inventory_call(self, *, upstream: str, outcome: str, seconds: float) -> None:
        """One call to an inventory upstream ended with ``outcome``."""
        self._inventory.labels(upstream, outcome).observe(seconds)

    def breakers(self, states: Mapping[str, str]) -> None:
        """The state of each upstream's circuit breaker in this process, now."""
        for upstream, state in states.items():
            self._breaker.labels(upstream).set(BREAKER_STATES[state])

    def exposition(self) -> bytes:
        """Every metric of every worker, in Prometheus's text format."""
        if self._registry is not None:
            return generate_latest(self._registry)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)

    def process_exited(self) -> None:
        """Drop this process's sampled values: a stopped worker holds nothing."""
        if self._shared:
            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
