"""Routes for creating and cancelling reservations."""

from __future__ import annotations

from typing import Any

from litestar import MediaType, Request, Response, post
from litestar.di import NamedDependency
from litestar.params import FromPath

from masstock.api import bodies
from masstock.api.services import Services


@post("/reservation", status_code=200)
async def create_reservation(
    org: FromPath[str],
    request: Request[Any, Any, Any],
    services: NamedDependency[Services],
) -> dict[str, str]:
    """Creates a new reservation for a device."""
    body = await bodies.json_object(request)
    device_id = bodies.identifier(body, "device_id")
    dealer_id = bodies.identifier(body, "dealer_id")
    is_sim = bodies.boolean(body, "is_sim")

    reservation = await services.reservations.reserve(
        org=org, device_id=device_id, dealer_id=dealer_id, is_sim=is_sim
    )
    return {"reservation_id": str(reservation.id)}


@post("/reservation/{reservation_id:str}/cancellation", status_code=200)
async def cancel_reservation(
    org: FromPath[str],
    reservation_id: FromPath[str],
    request: Request[Any, Any, Any],
    services: NamedDependency[Services],
) -> Response[bytes]:
    """Cancels an existing reservation, as the dealer who created it."""
    body = await bodies.json_object(request)
    dealer = bodies.identifier(body, "dealer")

    await services.reservations.cancel(
        org=org, reservation_id=reservation_id, dealer_id=dealer
    )
    return Response(b"", status_code=200, media_type=MediaType.TEXT)
