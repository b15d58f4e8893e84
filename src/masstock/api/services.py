"""What the routes are handed: the use cases and the registered orgs."""

from __future__ import annotations

from dataclasses import dataclass

from masstock.service.idempotency import Idempotency
from masstock.service.ports import DeviceDirectory, SchemaProbe
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
