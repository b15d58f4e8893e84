"""Routes for reservations: create, read, and each way a hold can change."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar import MediaType, Request, Response, get, post
from litestar.params import FromPath

from masstock.api import bodies, idempotency
from masstock.api.access import request_id_of
from masstock.api.auth import act_as, caller_of, requires
from masstock.api.services import services_of
from masstock.domain.access import Scope
from masstock.domain.errors import ReservationNotFound
from masstock.domain.events import ReservationEvent
from masstock.domain.reservation import Reservation
from masstock.service.ports import KeyCompletion, StoredResponse

AnyRequest = Request[Any, Any, Any]


@post("/reservation", status_code=200, opt=requires(Scope.RESERVATIONS_WRITE))
async def create_reservation(
    org: FromPath[str], request: AnyRequest
) -> Response[bytes]:
    """Creates a new reservation for a device."""
    services = services_of(request)
    body = await bodies.json_object(request)
    device_id = bodies.identifier(body, "device_id")
    dealer_id = bodies.identifier(body, "dealer_id")
    is_sim = bodies.boolean(body, "is_sim")
    act_as(request, dealer_id)

    async def reserve(completion: KeyCompletion | None) -> Reservation:
        return await services.reservations.reserve(
            org=org,
            device_id=device_id,
            dealer_id=dealer_id,
            is_sim=is_sim,
            request_id=request_id_of(request.state),
            completion=completion,
        )

    return await idempotency.respond(
        request, org=org, services=services, action=reserve, render=_created
    )


@get("/reservation/{reservation_id:str}", opt=requires(Scope.RESERVATIONS_READ))
async def get_reservation(
    org: FromPath[str],
    reservation_id: FromPath[str],
    request: AnyRequest,
) -> dict[str, Any]:
    """Retrieves a reservation as it stands now."""
    services = services_of(request)
    reservation = await services.reservations.get(
        org=org, reservation_id=reservation_id
    )
    _check_visible(request, reservation)
    return reservation_view(reservation)


@get(
    "/reservation/{reservation_id:str}/history",
    opt=requires(Scope.RESERVATIONS_READ),
)
async def get_reservation_history(
    org: FromPath[str],
    reservation_id: FromPath[str],
    request: AnyRequest,
) -> dict[str, Any]:
    """Lists every change of a reservation, oldest first."""
    services = services_of(request)
    if caller_of(request).dealer is not None:
        reservation = await services.reservations.get(
            org=org, reservation_id=reservation_id
        )
        _check_visible(request, reservation)

    events = await services.reservations.history(org=org, reservation_id=reservation_id)
    return {"items": [_event_view(event) for event in events]}


@post(
    "/reservation/{reservation_id:str}/cancellation",
    status_code=200,
    opt=requires(Scope.RESERVATIONS_WRITE),
)
async def cancel_reservation(
    org: FromPath[str],
    reservation_id: FromPath[str],
    request: AnyRequest,
) -> Response[bytes]:
    """Cancels an existing reservation, as the dealer who created it."""
    return await _close(
        request,
        org=org,
        reservation_id=reservation_id,
        use_case=services_of(request).reservations.cancel,
    )


@post(
    "/reservation/{reservation_id:str}/finalization",
    status_code=200,
    opt=requires(Scope.RESERVATIONS_WRITE),
)
async def finalize_reservation(
    org: FromPath[str],
    reservation_id: FromPath[str],
    request: AnyRequest,
) -> Response[bytes]:
    """Finalizes a reservation (the sale happened), as the dealer who created it."""
    return await _close(
        request,
        org=org,
        reservation_id=reservation_id,
        use_case=services_of(request).reservations.finalize,
    )


async def _close(
    request: AnyRequest,
    *,
    org: str,
    reservation_id: str,
    use_case: Callable[..., Awaitable[Reservation]],
) -> Response[bytes]:
    body = await bodies.json_object(request)
    dealer = bodies.identifier(body, "dealer")
    act_as(request, dealer)

    async def close(completion: KeyCompletion | None) -> Reservation:
        return await use_case(
            org=org,
            reservation_id=reservation_id,
            dealer_id=dealer,
            request_id=request_id_of(request.state),
            completion=completion,
        )

    return await idempotency.respond(
        request, org=org, services=services_of(request), action=close, render=_empty_ok
    )


@post(
    "/reservation/{reservation_id:str}/extension",
    status_code=200,
    opt=requires(Scope.RESERVATIONS_WRITE),
)
async def extend_reservation(
    org: FromPath[str],
    reservation_id: FromPath[str],
    request: AnyRequest,
) -> Response[bytes]:
    """Extends an active reservation, as the dealer who created it."""
    services = services_of(request)
    body = await bodies.json_object(request)
    dealer = bodies.identifier(body, "dealer")
    ttl_seconds = bodies.optional_integer(body, "ttl_seconds")
    act_as(request, dealer)

    async def extend(completion: KeyCompletion | None) -> Reservation:
        return await services.reservations.extend(
            org=org,
            reservation_id=reservation_id,
            dealer_id=dealer,
            ttl_seconds=ttl_seconds,
            request_id=request_id_of(request.state),
            completion=completion,
        )

    return await idempotency.respond(
        request, org=org, services=services, action=extend, render=_extended
    )


def _check_visible(request: AnyRequest, reservation: Reservation) -> None:
    # Another dealer's hold is, to a dealer's token, a hold that does not exist.
    if not caller_of(request).may_read(reservation.dealer_id):
        raise ReservationNotFound(str(reservation.id))


def reservation_view(reservation: Reservation) -> dict[str, Any]:
    """A reservation as the API shows it."""
    return {
        "reservation_id": str(reservation.id),
        "device_id": reservation.device_id,
        "dealer_id": reservation.dealer_id,
        "is_sim": reservation.is_sim,
        "status": reservation.status.value,
        "created_at": json_time(reservation.created_at),
        "updated_at": json_time(reservation.updated_at),
        "expires_at": json_time(reservation.expires_at),
        "closed_at": json_time(reservation.closed_at),
        "closed_by": reservation.closed_by,
        "close_reason": reservation.close_reason,
    }


def json_time(moment: datetime | None) -> str | None:
    """A time as the API writes it: UTC, ISO 8601, with a ``Z``."""
    if moment is None:
        return None
    if moment.tzinfo is not UTC:  # the databases hand back UTC already
        moment = moment.astimezone(UTC)
    return moment.isoformat(timespec="microseconds")[:-6] + "Z"


def _event_view(event: ReservationEvent) -> dict[str, Any]:
    return {
        "event": event.kind.value,
        "actor": event.actor,
        "at": json_time(event.at),
        "request_id": event.request_id,
        "expires_at": json_time(event.expires_at),
    }


def _created(reservation: Reservation) -> StoredResponse:
    body = {"reservation_id": str(reservation.id)}
    return StoredResponse(200, MediaType.JSON.value, msgspec.json.encode(body))


def _extended(reservation: Reservation) -> StoredResponse:
    body = msgspec.json.encode(reservation_view(reservation))
    return StoredResponse(200, MediaType.JSON.value, body)


def _empty_ok(_reservation: Reservation) -> StoredResponse:
    return StoredResponse(200, MediaType.TEXT.value, b"")
