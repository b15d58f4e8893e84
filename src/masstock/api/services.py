"""What the routes are handed: the use cases and the registered orgs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request

from masstock.service.idempotency import Idempotency
from masstock.service.ports import (
    DeviceDirectory,
    RateLimiter,
    SchemaProbe,
    TokenVerifier,
)
from masstock.service.reservations import Reservations
from masstock.service.search import SearchReservations


@dataclass(frozen=True, slots=True, kw_only=True)
class Services:
    """What the routes call: the use cases and the registered orgs."""

    reservations: Reservations
    search: SearchReservations
    devices: DeviceDirectory
    orgs: frozenset[str]
    schema_probe: SchemaProbe
    schema: str
    idempotency: Idempotency
    # None when MASSTOCK_AUTH=none: every request is the anonymous caller.
    tokens: TokenVerifier | None = None
    # None when MASSTOCK_RATE_LIMIT is not set.
    limiter: RateLimiter | None = None


def services_of(request: Request[Any, Any, Any]) -> Services:
    """The services the application opened at start-up.

    Read from the application's state rather than injected: Litestar's
    dependency injection costs each request more than the lookup it serves.
    """
    services: Services = request.app.state.services
    return services
