"""The OpenAPI 3.1 document, written by hand to say what the API really does.

Litestar's generated document is off: the routes read their bodies by hand so
that every refusal carries the contract's message, and a generated document
would describe the framework's validation instead. The wording of summaries,
descriptions and examples is the contract's wherever the contract has some.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

Json = dict[str, Any]

TAG = "Stock Reservations"
IDENTIFIER_PATTERN = "^[A-Za-z0-9._:-]+$"
CONTRACT_RESERVATION_ID = "a1b2c3d4-e5f6-7890-abcd-ef1234567890"

_ERROR = {"$ref": "#/components/schemas/ErrorBody"}
_CONFLICT = {"$ref": "#/components/schemas/ReservationConflict"}

_DESCRIPTION = """\
Dealers of a carrier (its shops, franchises, kiosks and sales channels, under \
several brands) hold one physical unit in stock, a handset, a router or a SIM \
card, while a customer's sale completes, so that no other dealer sells it. \
This service keeps those holds: at most one active (`CREATED`) reservation per \
device and organization, enforced by the database under any concurrency. It \
also tells what the inventory knows about a device.

Every path is scoped to an organization (`org`); an organization that is not \
registered gives `404 ORGANIZATION_NOT_FOUND` on every path, and another \
organization's data is indistinguishable from data that does not exist.

A `2xx` answer means the change is durable; a `5xx` answer means nothing \
changed.

### Choices where the contract is silent

- Unknown JSON fields in a request body are ignored.
- `null` counts as a missing field: `X is required`.
- Identifiers (`device_id`, `dealer_id`, `dealer`, `identifier`) are 1 to 64 \
characters from `A-Z a-z 0-9 . _ : -`.
- A request body must be one JSON object of at most 64 KiB; a larger one gives \
`413 PAYLOAD_TOO_LARGE`.
- `is_sim` must match the device's kind, else `400 VALIDATION_ERROR` saying so.
- A `reservation_id` that is not a UUID gives `404 RESERVATION_NOT_FOUND`, and \
so does a reservation of another organization.
- On cancellation the body is validated before the reservation is looked up.
- Cancelling a reservation that is already `CANCELLED`, by the dealer who made \
it, answers `200` and changes nothing; a `FINALIZED` one gives \
`409 RESERVATION_NOT_CANCELLABLE`.
- A successful cancellation answers `200` with an empty body.
- A device's `mac` is `null` when it is unknown.
- Errors are always `application/json` with the body `{code, message, \
details}` (`details` a string or `null`), except the reservation conflict, \
whose body is the contract's and also names the holder's `reservation_id`.
- A path the API does not serve gives `404 NOT_FOUND`, and a method it does not \
allow gives `405 METHOD_NOT_ALLOWED`, with the same error body.
- Request headers over 16 KiB in all (a setting) give `431 HEADERS_TOO_LARGE`.

### Authentication

Deployments run with `MASSTOCK_AUTH=jwt`: every path under `/v1/orgs` then \
needs `Authorization: Bearer <JWT>`, signed by the platform's issuer with a \
public-key algorithm, for this service's audience. Without a good token the \
answer is `401 UNAUTHORIZED` with a `WWW-Authenticate` challenge. The token's \
claims say what it may do:

- `orgs`: the organizations it may act in; any other gives `403 FORBIDDEN`.
- `scope`: `devices:read` (device lookups), `reservations:read` (reading and \
listing reservations), `reservations:write` (creating, cancelling, finalizing, \
extending); a missing one gives `403 FORBIDDEN` naming it.
- `dealer_id`: binds the token to one dealer. It may then act only for that \
dealer (`dealer_id` or `dealer` in the body must be its own, else `403`), sees \
only that dealer's reservations (another's reads as `404`), and lists only \
those. A token with no dealer needs the `reservations:admin` scope to act for \
any dealer (a back-office tool). The contract's dealer rule still applies.

The claim names are settings. Health probes and these documents need no \
token. With `MASSTOCK_AUTH=none` (the embedded default) no token is needed and \
every request may do everything.

### Abuse limits

- A dealer may hold at most `MASSTOCK_DEALER_MAX_ACTIVE` active reservations \
in an organization (off unless set); a create over it gives \
`409 DEALER_LIMIT_REACHED`.
- With `MASSTOCK_RATE_LIMIT` set, each caller (a token's subject, or without \
authentication the client's address) gets that many requests; past it, \
`429 RATE_LIMITED` with `Retry-After`. With `MASSTOCK_REDIS_URL` the limit is \
shared by every replica; if Redis cannot be reached, requests are let through.
"""


def build_document() -> Json:
    """The OpenAPI 3.1 document of the Stock Reservations API."""
    document = _document()
    document["components"]["securitySchemes"] = {"bearerAuth": _BEARER}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            _secure(operation, scope=_SCOPES[method, path.rsplit("/", 1)[-1]])
        if "post" in item:
            _accept_idempotency_keys(item["post"])
    document["paths"]["/v1/orgs/{org}/reservation"]["post"]["responses"]["409"] = (
        _with_dealer_limit(
            document["paths"]["/v1/orgs/{org}/reservation"]["post"]["responses"]["409"]
        )
    )
    return document


def _document() -> Json:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Stock Reservations API",
            "version": _version(),
            "description": _DESCRIPTION,
            "contact": {"name": "MasStock Squad", "email": "mas_stock@masmovil.com"},
        },
        # The relative entry lets "Try it out" reach whichever host serves the
        # docs: the page may only talk to its own origin.
        "servers": [
            {
                "url": "http://localhost:8080",
                "description": "A local run, as in the contract's examples",
            },
            {"url": "/", "description": "The service that serves this document"},
        ],
        "tags": [
            {
                "name": TAG,
                "description": "Operations with stock reservations for retailers",
            }
        ],
        "paths": {
            "/v1/orgs/{org}/reservation": {"post": _create_reservation()},
            "/v1/orgs/{org}/reservation/{reservation_id}/cancellation": {
                "post": _cancel_reservation()
            },
            "/v1/orgs/{org}/device": {"get": _get_device()},
            "/v1/orgs/{org}/reservations": {"get": _list_reservations()},
            "/v1/orgs/{org}/reservation/{reservation_id}": {"get": _get_reservation()},
            "/v1/orgs/{org}/reservation/{reservation_id}/history": {
                "get": _get_history()
            },
            "/v1/orgs/{org}/reservation/{reservation_id}/finalization": {
                "post": _finalize_reservation()
            },
            "/v1/orgs/{org}/reservation/{reservation_id}/extension": {
                "post": _extend_reservation()
            },
        },
        "components": {"schemas": _schemas()},
    }


def _version() -> str:
    try:
        return metadata.version("masstock")
    except metadata.PackageNotFoundError:
        return "1"


def _create_reservation() -> Json:
    return {
        "tags": [TAG],
        "summary": "Creates a new reservation for a device",
        "description": "Creates a new reservation for a device",
        "operationId": "createReservation",
        "parameters": [_ORG],
        "requestBody": _json_body(
            description="Reservation request with device details",
            schema_name="ReservationRequest",
            example={
                "device_id": "DEVICE123456",
                "dealer_id": "DEALER001",
                "is_sim": True,
            },
        ),
        "responses": {
            "200": _response(
                "Success",
                schema={"$ref": "#/components/schemas/ReservationCreated"},
                examples={
                    "created": (
                        "The device is now held for the dealer",
                        {"reservation_id": CONTRACT_RESERVATION_ID},
                    )
                },
            ),
            "400": _response(
                "Bad Request - Missing mandatory fields, validation error, or "
                "device validation failure",
                examples={
                    "missingField": (
                        "A mandatory field is missing or null",
                        _error("VALIDATION_ERROR", "dealer_id is required"),
                    ),
                    "invalidIdentifier": (
                        "An identifier has characters outside A-Z a-z 0-9 . _ : -",
                        _error(
                            "VALIDATION_ERROR",
                            "device_id may contain only letters, digits and the "
                            "characters . _ : -",
                        ),
                    ),
                    "wrongType": (
                        "A field has the wrong JSON type",
                        _error("VALIDATION_ERROR", "is_sim must be a boolean"),
                    ),
                    "malformedBody": (
                        "The body is not valid JSON",
                        _error("VALIDATION_ERROR", "request body is not valid JSON"),
                    ),
                    "deviceKindMismatch": (
                        "is_sim does not match the kind of the device",
                        _error(
                            "VALIDATION_ERROR",
                            "is_sim is false but device DEVICE123456 is a SIM card",
                        ),
                    ),
                },
            ),
            "404": _response(
                "Not Found - Device not found in external systems",
                examples={
                    "deviceNotFound": (
                        "The inventory does not know the device in this organization",
                        _error("NOT_FOUND", "device_id not found"),
                    ),
                    "organizationNotFound": _ORG_NOT_FOUND,
                },
            ),
            "409": _response(
                "Conflict - Reservation already exists for this device with "
                "CREATED status",
                schema=_CONFLICT,
                examples={
                    "contract": (
                        "The device is held (the contract's example)",
                        {
                            "code": "RESERVATION_CONFLICT",
                            "message": (
                                "Reservation already exists for device DEVICE123 "
                                "with status CREATED, created by dealer DEALER001"
                            ),
                            "device_id": "DEVICE123",
                            "dealer_id": "DEALER001",
                            "status": "CREATED",
                        },
                    ),
                    "withHolder": (
                        "The device is held, as this service answers: with the "
                        "holder's reservation_id",
                        {
                            "code": "RESERVATION_CONFLICT",
                            "message": (
                                "Reservation already exists for device "
                                "DEVICE123456 with status CREATED, created by "
                                "dealer DEALER001"
                            ),
                            "reservation_id": CONTRACT_RESERVATION_ID,
                            "device_id": "DEVICE123456",
                            "dealer_id": "DEALER001",
                            "status": "CREATED",
                        },
                    ),
                },
            ),
            "413": _TOO_LARGE,
            "500": _INTERNAL,
            "502": _INVENTORY_BAD,
            "503": _with_inventory_unavailable(_PERSIST_UNAVAILABLE),
        },
    }


def _cancel_reservation() -> Json:
    return {
        "tags": [TAG],
        "summary": "Cancels an existing reservation by its ID",
        "description": (
            "Cancels an existing reservation by its ID. Validates that the dealer "
            "requesting cancellation matches the dealer who created the "
            "reservation."
        ),
        "operationId": "cancelReservation",
        "parameters": [_ORG, _RESERVATION_ID],
        "requestBody": _json_body(
            description="Cancellation request with dealer information",
            schema_name="CancellationRequest",
            example={"dealer": "DEALER001"},
        ),
        "responses": {
            "200": {
                "description": "Success - Reservation cancelled successfully",
            },
            "400": _response(
                "Bad Request - Dealer cannot cancel reservation created by "
                "another dealer",
                examples={
                    "dealerMismatch": (
                        "Another dealer created the reservation",
                        _error(
                            "DEALER_MISMATCH",
                            "Dealer DEALER002 cannot cancel reservation created "
                            "by dealer DEALER001",
                        ),
                    ),
                    "missingField": (
                        "The dealer is missing or null",
                        _error("VALIDATION_ERROR", "dealer is required"),
                    ),
                    "invalidIdentifier": (
                        "The dealer is longer than 64 characters",
                        _error(
                            "VALIDATION_ERROR", "dealer must be at most 64 characters"
                        ),
                    ),
                },
            ),
            "404": _response(
                "Not Found - Reservation not found",
                examples={
                    "reservationNotFound": (
                        "No reservation with this ID in this organization",
                        _error(
                            "RESERVATION_NOT_FOUND",
                            f"Reservation with ID {CONTRACT_RESERVATION_ID} not found",
                        ),
                    ),
                    "organizationNotFound": _ORG_NOT_FOUND,
                },
            ),
            "409": _response(
                "Conflict - Reservation is FINALIZED and cannot be cancelled",
                examples={
                    "notCancellable": (
                        "The reservation was finalized",
                        _error(
                            "RESERVATION_NOT_CANCELLABLE",
                            f"Reservation with ID {CONTRACT_RESERVATION_ID} is "
                            "FINALIZED and cannot be cancelled",
                        ),
                    )
                },
            ),
            "413": _TOO_LARGE,
            "500": _INTERNAL,
            "503": _PERSIST_UNAVAILABLE,
        },
    }


def _get_device() -> Json:
    return {
        "tags": [TAG],
        "summary": "Retrieves device information by identifier",
        "description": "Retrieves device information by identifier",
        "operationId": "getDevice",
        "parameters": [
            _ORG,
            {
                "name": "identifier",
                "in": "query",
                "required": True,
                "description": "Device identifier",
                "schema": _identifier("Device identifier"),
                "example": "DEVICE123456",
            },
        ],
        "responses": {
            "200": _response(
                "Success - Device information retrieved",
                schema={"$ref": "#/components/schemas/DeviceInfo"},
                examples={
                    "withMac": (
                        "A device with a MAC address",
                        {"reference": "REF123456", "mac": "00:1A:2B:3C:4D:5E"},
                    ),
                    "withoutMac": (
                        "A device whose MAC address is unknown",
                        {"reference": "REF-IPHONE-17", "mac": None},
                    ),
                },
            ),
            "400": _response(
                "Bad Request - Missing or invalid identifier",
                examples={
                    "missingIdentifier": (
                        "The identifier query parameter is missing",
                        _error("VALIDATION_ERROR", "identifier is required"),
                    ),
                    "invalidIdentifier": (
                        "The identifier is empty",
                        _error("VALIDATION_ERROR", "identifier must not be blank"),
                    ),
                },
            ),
            "404": _response(
                "Not Found - Device not found",
                examples={
                    "deviceNotFound": (
                        "The inventory does not know the device in this organization",
                        _error(
                            "DEVICE_NOT_FOUND",
                            "Device with identifier DEVICE123456 not found",
                        ),
                    ),
                    "organizationNotFound": _ORG_NOT_FOUND,
                },
            ),
            "500": _INTERNAL,
            "502": _INVENTORY_BAD,
            "503": _with_inventory_unavailable(
                _response(
                    "Service Unavailable - Database read error",
                    examples={
                        "databaseError": (
                            "The device catalog could not be read",
                            _error(
                                "DATABASE_ERROR",
                                "Unable to read device data",
                                details=(
                                    "The device catalog could not be read. "
                                    "Please try again later."
                                ),
                            ),
                        )
                    },
                )
            ),
        },
    }


def _list_reservations() -> Json:
    return {
        "tags": [TAG],
        "summary": "Lists reservations",
        "description": (
            "Reservations of the organization, newest first (by `created_at`, then "
            "`reservation_id`), as they stand now, a page at a time. Pass a page's "
            "`next_cursor` back as `cursor`, with the same filters, for the next "
            "page; it is null on the last one. Pages are cut by keyset, so rows "
            "created while a client pages never make it see a row twice or miss "
            "one that existed when it started."
        ),
        "operationId": "listReservations",
        "parameters": [
            _ORG,
            _query(
                "dealer_id",
                "Only this dealer's reservations",
                _identifier(""),
                example="DEALER001",
            ),
            _query(
                "device_id",
                "Only this device's reservations",
                _identifier(""),
                example="356938035643809",
            ),
            _query(
                "status",
                "Only reservations in this status now; a hold past its expiry is "
                "CANCELLED",
                {"type": "string", "enum": ["CREATED", "CANCELLED", "FINALIZED"]},
                example="CREATED",
            ),
            _query(
                "created_after",
                "Only reservations created at or after this time (ISO 8601, with a "
                "time zone; send `+` as `%2B`)",
                {"type": "string", "format": "date-time"},
                example="2026-12-01T00:00:00Z",
            ),
            _query(
                "created_before",
                "Only reservations created before this time",
                {"type": "string", "format": "date-time"},
                example="2026-12-04T00:00:00Z",
            ),
            _query(
                "limit",
                "Reservations per page",
                {"type": "integer", "minimum": 1, "maximum": 500, "default": 50},
                example=50,
            ),
            _query(
                "cursor",
                "Where the previous page ended: its next_cursor",
                {"type": "string"},
                example="eyJ2IjoxLCJhdCI6IjIwMjYtMTItMDNUMDk6MzA",
            ),
        ],
        "responses": {
            "200": _response(
                "Success - A page of reservations",
                schema={"$ref": "#/components/schemas/ReservationPage"},
                examples={
                    "page": (
                        "One page, with more to come",
                        {
                            "items": [_RESERVATION_EXAMPLE],
                            "next_cursor": "eyJ2IjoxLCJhdCI6IjIwMjYtMTItMDNUMDk6MzA",
                        },
                    )
                },
            ),
            "400": _response(
                "Bad Request - A filter, the limit or the cursor is not valid",
                examples={
                    "badLimit": (
                        "limit out of range",
                        _error("VALIDATION_ERROR", "limit must be between 1 and 500"),
                    ),
                    "badStatus": (
                        "An unknown status",
                        _error(
                            "VALIDATION_ERROR",
                            "status must be one of CREATED, CANCELLED, FINALIZED",
                        ),
                    ),
                    "badCursor": (
                        "A cursor that is malformed or was made for other filters",
                        _error("VALIDATION_ERROR", "cursor is not valid"),
                    ),
                },
            ),
            "404": _response(
                "Not Found - Organization not found",
                examples={"organizationNotFound": _ORG_NOT_FOUND},
            ),
            "500": _INTERNAL,
            "503": _READ_UNAVAILABLE,
        },
    }


def _query(name: str, description: str, schema: Json, *, example: object) -> Json:
    schema = {key: value for key, value in schema.items() if key != "description"}
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
        "example": example,
    }


def _get_reservation() -> Json:
    return {
        "tags": [TAG],
        "summary": "Retrieves a reservation",
        "description": (
            "Retrieves a reservation as it stands now. A hold past its `expires_at` "
            "reads as `CANCELLED` with `close_reason` `EXPIRED` and `closed_at` "
            "its expiry, whether or not the expiry has been written down yet."
        ),
        "operationId": "getReservation",
        "parameters": [_ORG, _RESERVATION_ID],
        "responses": {
            "200": _response(
                "Success - Reservation retrieved",
                schema={"$ref": "#/components/schemas/Reservation"},
                examples={"held": ("An active hold", _RESERVATION_EXAMPLE)},
            ),
            "404": _RESERVATION_NOT_FOUND,
            "500": _INTERNAL,
            "503": _READ_UNAVAILABLE,
        },
    }


def _get_history() -> Json:
    return {
        "tags": [TAG],
        "summary": "Lists the history of a reservation",
        "description": (
            "Every change of the reservation, oldest first: `CREATED`, `EXTENDED`, "
            "`CANCELLED`, `FINALIZED`, `EXPIRED`, each with its actor (a dealer, "
            "or `system` for an expiry), its time and the `X-Request-ID` of the "
            "request that made it. An expiry shows as soon as the hold runs out, "
            "at its `expires_at`, whether or not it has been written down yet."
        ),
        "operationId": "getReservationHistory",
        "parameters": [_ORG, _RESERVATION_ID],
        "responses": {
            "200": _response(
                "Success - History retrieved",
                schema={"$ref": "#/components/schemas/History"},
                examples={
                    "finalized": (
                        "Held, extended, then sold",
                        {
                            "items": [
                                _event("CREATED", "2026-12-03T09:30:00.000000Z"),
                                _event("EXTENDED", "2026-12-05T18:00:00.000000Z"),
                                {
                                    **_event(
                                        "FINALIZED", "2026-12-06T11:15:00.000000Z"
                                    ),
                                    "expires_at": None,
                                },
                            ]
                        },
                    )
                },
            ),
            "404": _RESERVATION_NOT_FOUND,
            "500": _INTERNAL,
            "503": _READ_UNAVAILABLE,
        },
    }


def _finalize_reservation() -> Json:
    return {
        "tags": [TAG],
        "summary": "Finalizes a reservation",
        "description": (
            "Records that the sale happened. Validates that the dealer requesting "
            "finalization matches the dealer who created the reservation. "
            "Finalizing an already `FINALIZED` reservation, by its dealer, answers "
            "200 and changes nothing."
        ),
        "operationId": "finalizeReservation",
        "parameters": [_ORG, _RESERVATION_ID],
        "requestBody": _json_body(
            description="Finalization request with dealer information",
            schema_name="DealerRequest",
            example={"dealer": "DEALER001"},
        ),
        "responses": {
            "200": {"description": "Success - Reservation finalized (no content)"},
            "400": _dealer_refused("finalize"),
            "404": _RESERVATION_NOT_FOUND,
            "409": _response(
                "Conflict - The reservation was cancelled or expired",
                examples={
                    "notFinalizable": (
                        "A cancelled or expired reservation cannot be finalized",
                        _error(
                            "RESERVATION_NOT_FINALIZABLE",
                            f"Reservation with ID {CONTRACT_RESERVATION_ID} is "
                            "CANCELLED and cannot be finalized",
                        ),
                    )
                },
            ),
            "413": _TOO_LARGE,
            "500": _INTERNAL,
            "503": _PERSIST_UNAVAILABLE,
        },
    }


def _extend_reservation() -> Json:
    return {
        "tags": [TAG],
        "summary": "Extends a reservation",
        "description": (
            "Moves the expiry of an active reservation to `ttl_seconds` from now "
            "(default: the service's hold time), as the dealer who created it. "
            "Answers the reservation as it now stands."
        ),
        "operationId": "extendReservation",
        "parameters": [_ORG, _RESERVATION_ID],
        "requestBody": _json_body(
            description="Extension request with dealer information",
            schema_name="ExtensionRequest",
            example={"dealer": "DEALER001", "ttl_seconds": 3600},
        ),
        "responses": {
            "200": _response(
                "Success - Reservation extended",
                schema={"$ref": "#/components/schemas/Reservation"},
                examples={"extended": ("The hold, now longer", _RESERVATION_EXAMPLE)},
            ),
            "400": _dealer_refused(
                "extend",
                ttlOutOfRange=(
                    "ttl_seconds is not between 1 and the maximum hold",
                    _error(
                        "VALIDATION_ERROR", "ttl_seconds must be between 1 and 2592000"
                    ),
                ),
            ),
            "404": _RESERVATION_NOT_FOUND,
            "409": _response(
                "Conflict - The reservation is no longer active",
                examples={
                    "notExtendable": (
                        "Only an active reservation can be extended",
                        _error(
                            "RESERVATION_NOT_EXTENDABLE",
                            f"Reservation with ID {CONTRACT_RESERVATION_ID} is "
                            "FINALIZED and cannot be extended",
                        ),
                    )
                },
            ),
            "413": _TOO_LARGE,
            "500": _INTERNAL,
            "503": _PERSIST_UNAVAILABLE,
        },
    }


def _dealer_refused(action: str, **more: tuple[str, Json]) -> Json:
    return _response(
        "Bad Request - Validation error, or the dealer is not the one who created "
        "the reservation",
        examples={
            "dealerMismatch": (
                f"Another dealer cannot {action} the reservation",
                _error(
                    "DEALER_MISMATCH",
                    f"Dealer DEALER002 cannot {action} reservation created by "
                    "dealer DEALER001",
                ),
            ),
            "missingDealer": (
                "The dealer is missing or null",
                _error("VALIDATION_ERROR", "dealer is required"),
            ),
            **more,
        },
    )


def _event(kind: str, at: str) -> Json:
    return {
        "event": kind,
        "actor": "DEALER001",
        "at": at,
        "request_id": "pos-4711-0001",
        "expires_at": "2026-12-06T12:00:00.000000Z",
    }


def _schemas() -> Json:
    return {
        "ReservationRequest": {
            "type": "object",
            "required": ["device_id", "dealer_id", "is_sim"],
            "properties": {
                "device_id": _identifier("Device identifier"),
                "dealer_id": _identifier("Dealer identifier"),
                "is_sim": {
                    "type": "boolean",
                    "description": "Indicates if the reservation is for a SIM card",
                },
            },
        },
        "ReservationCreated": {
            "type": "object",
            "required": ["reservation_id"],
            "properties": {
                "reservation_id": {
                    "type": "string",
                    "format": "uuid",
                    "description": "Generated reservation identifier in UUID format",
                }
            },
        },
        "Reservation": {
            "type": "object",
            "required": list(_RESERVATION_EXAMPLE),
            "properties": {
                "reservation_id": {"type": "string", "format": "uuid"},
                "device_id": {"type": "string", "description": "Device identifier"},
                "dealer_id": {
                    "type": "string",
                    "description": "Dealer who created the reservation",
                },
                "is_sim": {"type": "boolean"},
                "status": {
                    "type": "string",
                    "enum": ["CREATED", "CANCELLED", "FINALIZED"],
                    "description": "As it stands now: an expired hold is CANCELLED",
                },
                "created_at": _TIMESTAMP,
                "updated_at": _TIMESTAMP,
                "expires_at": {
                    **_MAYBE_TIMESTAMP,
                    "description": "When the hold ends by itself; null: never",
                },
                "closed_at": _MAYBE_TIMESTAMP,
                "closed_by": {
                    "type": ["string", "null"],
                    "description": "The dealer who closed it; null if it expired",
                },
                "close_reason": {
                    "type": ["string", "null"],
                    "enum": [
                        "CANCELLED_BY_DEALER",
                        "EXPIRED",
                        "FINALIZED_BY_DEALER",
                        None,
                    ],
                },
            },
        },
        "ReservationPage": {
            "type": "object",
            "required": ["items", "next_cursor"],
            "properties": {
                "items": {
                    "type": "array",
                    "items": {"$ref": "#/components/schemas/Reservation"},
                },
                "next_cursor": {
                    "type": ["string", "null"],
                    "description": "The cursor of the next page; null on the last",
                },
            },
        },
        "History": {
            "type": "object",
            "required": ["items"],
            "properties": {
                "items": {
                    "type": "array",
                    "items": {"$ref": "#/components/schemas/HistoryEvent"},
                }
            },
        },
        "HistoryEvent": {
            "type": "object",
            "required": ["event", "actor", "at", "request_id", "expires_at"],
            "properties": {
                "event": {
                    "type": "string",
                    "enum": [
                        "CREATED",
                        "EXTENDED",
                        "CANCELLED",
                        "FINALIZED",
                        "EXPIRED",
                    ],
                },
                "actor": {
                    "type": "string",
                    "description": "The dealer who made the change, or system",
                },
                "at": _TIMESTAMP,
                "request_id": {
                    "type": ["string", "null"],
                    "description": "The X-Request-ID of the request that made it",
                },
                "expires_at": {
                    **_MAYBE_TIMESTAMP,
                    "description": "The new expiry, on CREATED and EXTENDED",
                },
            },
        },
        "DealerRequest": {
            "type": "object",
            "required": ["dealer"],
            "properties": {"dealer": _identifier("Dealer identifier")},
        },
        "ExtensionRequest": {
            "type": "object",
            "required": ["dealer"],
            "properties": {
                "dealer": _identifier("Dealer identifier"),
                "ttl_seconds": {
                    "type": ["integer", "null"],
                    "minimum": 1,
                    "maximum": 2592000,
                    "description": (
                        "How long to hold from now; at most the service's maximum, "
                        "MASSTOCK_RESERVATION_MAX_TTL (30 days unless configured)"
                    ),
                },
            },
        },
        "CancellationRequest": {
            "type": "object",
            "required": ["dealer"],
            "properties": {
                "dealer": _identifier("Dealer identifier requesting the cancellation")
            },
        },
        "DeviceInfo": {
            "type": "object",
            "required": ["reference"],
            "properties": {
                "reference": {"type": "string", "description": "Device reference"},
                "mac": {
                    "type": ["string", "null"],
                    "description": "MAC address (optional)",
                },
            },
        },
        "ErrorBody": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {
                    "type": ["string", "null"],
                    "description": "Additional error details",
                },
            },
        },
        "ReservationConflict": {
            "type": "object",
            "required": ["code", "message", "device_id", "dealer_id", "status"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "reservation_id": {
                    "type": "string",
                    "format": "uuid",
                    "description": (
                        "Existing reservation identifier (always sent by this service)"
                    ),
                },
                "device_id": {
                    "type": "string",
                    "description": "Device identifier that has the conflict",
                },
                "dealer_id": {
                    "type": "string",
                    "description": "Dealer who created the existing reservation",
                },
                "status": {
                    "type": "string",
                    "enum": ["CREATED", "CANCELLED", "FINALIZED"],
                    "description": "Current status of the existing reservation",
                },
            },
        },
    }


def _identifier(description: str) -> Json:
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": 64,
        "pattern": IDENTIFIER_PATTERN,
        "description": description,
    }


def _json_body(*, description: str, schema_name: str, example: Json) -> Json:
    return {
        "description": description,
        "required": True,
        "content": {
            "application/json": {
                "schema": {"$ref": f"#/components/schemas/{schema_name}"},
                "example": example,
            }
        },
    }


def _response(
    description: str,
    *,
    examples: dict[str, tuple[str, Json]],
    schema: Json = _ERROR,
) -> Json:
    """A JSON response; one body is an ``example``, several are named ``examples``."""
    media: Json = {"schema": schema}
    if len(examples) == 1:
        ((_summary, value),) = examples.values()
        media["example"] = value
    else:
        media["examples"] = {
            name: {"summary": summary, "value": value}
            for name, (summary, value) in examples.items()
        }
    return {"description": description, "content": {"application/json": media}}


def _error(code: str, message: str, *, details: str | None = None) -> Json:
    return {"code": code, "message": message, "details": details}


_PERSIST_DETAILS = (
    "The reservation could not be saved to the database. Please try again later."
)

_ORG: Json = {
    "name": "org",
    "in": "path",
    "required": True,
    "description": "Organization name as it is registered in mas-stack",
    "schema": {"type": "string"},
    "example": "yoigo",
}

_RESERVATION_ID: Json = {
    "name": "reservation_id",
    "in": "path",
    "required": True,
    "description": "Reservation identifier",
    "schema": {"type": "string", "format": "uuid"},
    "example": CONTRACT_RESERVATION_ID,
}

_ORG_NOT_FOUND = (
    "The organization is not registered with this service",
    _error("ORGANIZATION_NOT_FOUND", "Organization acme not found"),
)

_TOO_LARGE = _response(
    "Payload Too Large - Request body over 64 KiB",
    examples={
        "payloadTooLarge": (
            "The body is larger than 65536 bytes",
            _error("PAYLOAD_TOO_LARGE", "request body must be at most 65536 bytes"),
        )
    },
)

_PERSIST_UNAVAILABLE = _response(
    "Service Unavailable - Database persistence error",
    examples={
        "databaseError": (
            "The database could not be reached or refused the write",
            _error(
                "DATABASE_ERROR",
                "Unable to persist reservation data",
                details=_PERSIST_DETAILS,
            ),
        )
    },
)

_INTERNAL = _response(
    "Internal Server Error",
    examples={
        "internalError": (
            "An unexpected failure",
            _error("INTERNAL_ERROR", "Internal server error"),
        )
    },
)

_TIMESTAMP: Json = {
    "type": "string",
    "format": "date-time",
    "description": "UTC, ISO 8601, to the microsecond",
}
_MAYBE_TIMESTAMP: Json = {**_TIMESTAMP, "type": ["string", "null"]}

_RESERVATION_EXAMPLE: Json = {
    "reservation_id": CONTRACT_RESERVATION_ID,
    "device_id": "DEVICE123456",
    "dealer_id": "DEALER001",
    "is_sim": True,
    "status": "CREATED",
    "created_at": "2026-12-03T09:30:00.000000Z",
    "updated_at": "2026-12-03T09:30:00.000000Z",
    "expires_at": "2026-12-06T09:30:00.000000Z",
    "closed_at": None,
    "closed_by": None,
    "close_reason": None,
}

_RESERVATION_NOT_FOUND = _response(
    "Not Found - Reservation not found",
    examples={
        "reservationNotFound": (
            "No such reservation in this organization",
            _error(
                "RESERVATION_NOT_FOUND",
                f"Reservation with ID {CONTRACT_RESERVATION_ID} not found",
            ),
        ),
        "organizationNotFound": _ORG_NOT_FOUND,
    },
)

_READ_UNAVAILABLE = _response(
    "Service Unavailable - Database read error",
    examples={
        "databaseError": (
            "The database could not be reached",
            _error(
                "DATABASE_ERROR",
                "Unable to read reservation data",
                details="The reservation could not be read from the database. "
                "Please try again later.",
            ),
        )
    },
)

_INVENTORY_DETAILS = "The device could not be checked. Please try again later."

_INVENTORY_BAD = _response(
    "Bad Gateway - The inventory system gave an unusable answer",
    examples={
        "inventoryBadResponse": (
            "Malformed, oversized or redirected elsewhere; the detail is logged",
            _error(
                "INVENTORY_BAD_RESPONSE",
                "The inventory system gave an answer that could not be used",
                details=_INVENTORY_DETAILS,
            ),
        )
    },
)


def _with_inventory_unavailable(response: Json) -> Json:
    """``response`` (a 503, its description kept), with the inventory's outage too."""
    media = dict(response["content"]["application/json"])
    examples = dict(media.pop("examples", None) or {}) or {
        "databaseError": {
            "summary": "The database failed",
            "value": media.pop("example"),
        }
    }
    examples["inventoryUnavailable"] = {
        "summary": "The inventory system is down, slow, or its circuit is open",
        "value": _error(
            "INVENTORY_UNAVAILABLE",
            "The inventory system is unavailable",
            details=_INVENTORY_DETAILS,
        ),
    }
    return {
        **response,
        "headers": {
            "Retry-After": {
                "description": "Seconds to wait, on INVENTORY_UNAVAILABLE",
                "schema": {"type": "integer", "minimum": 1},
            }
        },
        "content": {"application/json": {**media, "examples": examples}},
    }


_IDEMPOTENCY_KEY: Json = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": (
        "Makes the request safe to retry (IETF draft, The Idempotency-Key HTTP "
        "Header Field): 1 to 255 printable characters, scoped to the "
        "organization and the caller. The first successful answer is kept for "
        "24 hours and "
        "replayed, with `Idempotent-Replayed: true`, to a retry with the same key "
        "and the same request; the same key with another request gives 422; a "
        "retry while the first is still running gives 409. A request that fails "
        "keeps nothing: its retry runs afresh."
    ),
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    "example": "pos-4711-20261203-0001",
}

_KEY_REUSED = _response(
    "Unprocessable Content - Idempotency-Key reused for another request",
    examples={
        "idempotencyKeyReused": (
            "The key was first used with another request",
            _error(
                "IDEMPOTENCY_KEY_REUSED",
                "Idempotency-Key was already used for a different request",
                details="Send a new key for a new request.",
            ),
        )
    },
)

_KEY_IN_USE = (
    "The first request with this key is still running",
    _error(
        "IDEMPOTENCY_KEY_IN_USE",
        "A request with this Idempotency-Key is still in progress",
        details="Retry once it has finished.",
    ),
)


def _accept_idempotency_keys(operation: Json) -> None:
    """Document the Idempotency-Key header, and its answers, on a POST."""
    operation["parameters"] = [*operation["parameters"], _IDEMPOTENCY_KEY]
    operation["responses"]["422"] = _KEY_REUSED
    operation["responses"]["200"] = {
        **operation["responses"]["200"],
        "headers": {
            "Idempotent-Replayed": {
                "description": "true when this is the kept answer to a retry",
                "schema": {"type": "string", "enum": ["true"]},
            }
        },
    }
    summary, value = _KEY_IN_USE
    conflict = operation["responses"].get("409")
    if conflict is None:
        operation["responses"]["409"] = _response(
            "Conflict - A request with this Idempotency-Key is in progress",
            examples={"idempotencyKeyInUse": _KEY_IN_USE},
        )
        return
    media = dict(conflict["content"]["application/json"])
    examples = dict(media.pop("examples", None) or {})
    if "example" in media:
        examples["conflict"] = {
            "summary": "The conflict",
            "value": media.pop("example"),
        }
    examples["idempotencyKeyInUse"] = {"summary": summary, "value": value}
    schema = media["schema"]
    if schema != _ERROR:
        schema = {"anyOf": [schema, _ERROR]}
    operation["responses"]["409"] = {
        **conflict,
        "content": {
            "application/json": {**media, "schema": schema, "examples": examples}
        },
    }


_BEARER: Json = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "JWT",
    "description": (
        "Needed when the service runs with MASSTOCK_AUTH=jwt: a token of the "
        "platform's issuer, for this service's audience, naming the orgs, the "
        "scopes and (for a dealer's token) the dealer it may act for."
    ),
}

# The scope each operation needs, by method and the path's last segment.
_SCOPES = {
    ("post", "reservation"): "reservations:write",
    ("post", "cancellation"): "reservations:write",
    ("post", "finalization"): "reservations:write",
    ("post", "extension"): "reservations:write",
    ("get", "{reservation_id}"): "reservations:read",
    ("get", "history"): "reservations:read",
    ("get", "reservations"): "reservations:read",
    ("get", "device"): "devices:read",
}

_UNAUTHORIZED = _response(
    "Unauthorized - No good bearer token (with MASSTOCK_AUTH=jwt)",
    examples={
        "missing": (
            'No token came; WWW-Authenticate: Bearer realm="masstock"',
            _error("UNAUTHORIZED", "bearer token is required"),
        ),
        "expired": (
            "The token's exp has passed",
            _error("UNAUTHORIZED", "bearer token has expired"),
        ),
    },
)

_TOO_MANY = _response(
    "Too Many Requests - The caller is over MASSTOCK_RATE_LIMIT",
    examples={
        "rateLimited": (
            "Wait the seconds that Retry-After says",
            _error(
                "RATE_LIMITED", "Too many requests", details="Retry after 3 seconds."
            ),
        )
    },
)

_HEADERS_TOO_LARGE = _response(
    "Request Header Fields Too Large",
    examples={
        "headersTooLarge": (
            "The headers are over MASSTOCK_MAX_HEADER_BYTES in all",
            _error("HEADERS_TOO_LARGE", "request headers must be at most 16384 bytes"),
        )
    },
)

_AUTH_UNAVAILABLE = _error(
    "AUTH_UNAVAILABLE",
    "Unable to check the bearer token",
    details="The issuer's signing keys could not be fetched. Please try again later.",
)


def _forbidden(scope: str) -> Json:
    return _response(
        "Forbidden - The token does not allow this",
        examples={
            "otherOrg": (
                "The token does not name this organization",
                _error("FORBIDDEN", "token does not grant access to organization acme"),
            ),
            "missingScope": (
                "The token lacks the operation's scope",
                _error("FORBIDDEN", f"token lacks scope {scope}"),
            ),
            "otherDealer": (
                "A dealer's token naming another dealer in the body",
                _error(
                    "FORBIDDEN", "token is bound to dealer DEALER002, not DEALER001"
                ),
            ),
        },
    )


def _secure(operation: Json, *, scope: str) -> None:
    """Document the bearer token, its refusals and the rate limit on an operation."""
    operation["security"] = [{"bearerAuth": [scope]}, {}]
    responses = operation["responses"]
    responses["401"] = _UNAUTHORIZED
    responses["403"] = _forbidden(scope)
    responses["429"] = {
        **_TOO_MANY,
        "headers": {
            "Retry-After": {
                "description": "Seconds to wait before the next request",
                "schema": {"type": "integer", "minimum": 1},
            }
        },
    }
    responses["431"] = _HEADERS_TOO_LARGE
    unavailable = responses["503"]
    media = dict(unavailable["content"]["application/json"])
    examples = dict(media.pop("examples", None) or {}) or {
        "databaseError": {
            "summary": "The database failed",
            "value": media.pop("example"),
        }
    }
    examples["authUnavailable"] = {
        "summary": "The issuer's keys could not be fetched (MASSTOCK_AUTH=jwt)",
        "value": _AUTH_UNAVAILABLE,
    }
    responses["503"] = {
        **unavailable,
        "content": {"application/json": {**media, "examples": examples}},
    }


def _with_dealer_limit(conflict: Json) -> Json:
    """The create's 409, with the dealer's cap of active reservations too."""
    media = dict(conflict["content"]["application/json"])
    examples = dict(media["examples"])
    examples["dealerLimitReached"] = {
        "summary": "The dealer holds MASSTOCK_DEALER_MAX_ACTIVE reservations already",
        "value": _error(
            "DEALER_LIMIT_REACHED",
            "Dealer DEALER001 already holds 100 active reservations",
            details="Cancel or finalize a reservation before creating another.",
        ),
    }
    return {
        **conflict,
        "content": {"application/json": {**media, "examples": examples}},
    }
