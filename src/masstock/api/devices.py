"""Routes for looking devices up in the inventory."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.params import FromPath, FromQuery

from masstock.api.auth import requires
from masstock.api.services import services_of
from masstock.domain.access import Scope
from masstock.domain.identifiers import check_identifier
from masstock.service.devices import look_up_device


@get("/device", opt=requires(Scope.DEVICES_READ))
async def get_device(
    org: FromPath[str],
    request: Request[Any, Any, Any],
    identifier: FromQuery[str | None] = None,
) -> dict[str, str | None]:
    """Retrieves device information by identifier."""
    services = services_of(request)
    checked = check_identifier("identifier", identifier)

    device = await look_up_device(services.devices, org=org, identifier=checked)
    return {"reference": device.reference, "mac": device.mac}
