"""The one place where the project's errors become HTTP answers."""

from __future__ import annotations

from typing import Any

import structlog
from litestar import MediaType, Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotFoundException,
)
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.types import ExceptionHandlersMap

from masstock.domain import errors

log = structlog.get_logger(__name__)

REALM = "masstock"
# The error code of the answer, for the request's access event.
ERROR_KEY = "error_code"

STATUS: dict[type[errors.MasstockError], int] = {
    errors.ValidationFailed: 400,
    errors.Unauthorized: 401,
    errors.Forbidden: 403,
    errors.DealerLimitReached: 409,
    errors.RateLimited: 429,
    errors.AuthUnavailable: 503,
    errors.DealerMismatch: 400,
    errors.OrganizationNotFound: 404,
    errors.UnknownDevice: 404,
    errors.DeviceNotFound: 404,
    errors.ReservationNotFound: 404,
    errors.ReservationConflict: 409,
    errors.ReservationNotCancellable: 409,
    errors.ReservationNotFinalizable: 409,
    errors.ReservationNotExtendable: 409,
    errors.IdempotencyKeyReused: 422,
    errors.IdempotencyKeyInUse: 409,
    errors.StorageUnavailable: 503,
    errors.InventoryUnavailable: 503,
    errors.InventoryBadResponse: 502,
}


def error_response(
    status: int, code: str, message: str, details: str | None = None
) -> Response[dict[str, Any]]:
    """The contract's error body: code, message and details."""
    body = {"code": code, "message": message, "details": details}
    return Response(body, status_code=status, media_type=MediaType.JSON)


def _on_masstock_error(
    request: Request[Any, Any, Any], exc: errors.MasstockError
) -> Response[dict[str, Any]]:
    status = next((STATUS[t] for t in type(exc).__mro__ if t in STATUS), 500)
    request.state[ERROR_KEY] = exc.code
    if isinstance(exc, errors.ReservationConflict):
        holder = exc.holder
        body = {
            "code": exc.code,
            "message": exc.message,
            "reservation_id": str(holder.id),
            "device_id": holder.device_id,
            "dealer_id": holder.dealer_id,
            "status": holder.status.value,
        }
        return Response(body, status_code=status, media_type=MediaType.JSON)
    if status >= 500:
        log.warning("request failed", code=exc.code, details=exc.details)
    response = error_response(status, exc.code, exc.message, exc.details)
    if isinstance(exc, errors.InventoryUnavailable | errors.RateLimited):
        response.headers["Retry-After"] = str(exc.retry_after)
    elif isinstance(exc, errors.Unauthorized | errors.Forbidden):
        challenge = _challenge(exc)
        if challenge is not None:
            response.headers["WWW-Authenticate"] = challenge
    return response


def _challenge(exc: errors.Unauthorized | errors.Forbidden) -> str | None:
    # RFC 6750, section 3: no error code when no token came; invalid_token
    # for a bad one; insufficient_scope, with the scope, when one is missing.
    if isinstance(exc, errors.Unauthorized):
        if not exc.presented:
            return f'Bearer realm="{REALM}"'
        return (
            f'Bearer realm="{REALM}", error="invalid_token", '
            f'error_description="{exc.message}"'
        )
    if exc.scope is not None:
        return (
            f'Bearer realm="{REALM}", error="insufficient_scope", scope="{exc.scope}"'
        )
    return None


def _on_http_error(
    request: Request[Any, Any, Any], exc: HTTPException
) -> Response[dict[str, Any]]:
    response = _http_error_response(request, exc)
    if response is None:
        return _on_unexpected(request, exc)
    return response


def _http_error_response(
    request: Request[Any, Any, Any], exc: HTTPException
) -> Response[dict[str, Any]] | None:
    if isinstance(exc, RequestEntityTooLarge):
        request.state[ERROR_KEY] = "PAYLOAD_TOO_LARGE"
        return error_response(
            413, "PAYLOAD_TOO_LARGE", "request body must be at most 65536 bytes"
        )
    if isinstance(exc, NotFoundException):
        request.state[ERROR_KEY] = "NOT_FOUND"
        return error_response(404, "NOT_FOUND", f"No resource at {request.url.path}")
    if isinstance(exc, MethodNotAllowedException):
        request.state[ERROR_KEY] = "METHOD_NOT_ALLOWED"
        response = error_response(
            405,
            "METHOD_NOT_ALLOWED",
            f"Method {request.method} is not allowed on {request.url.path}",
        )
        response.headers.update(exc.headers or {})
        return response
    if exc.status_code < 500:
        request.state[ERROR_KEY] = "VALIDATION_ERROR"
        return error_response(exc.status_code, "VALIDATION_ERROR", exc.detail)
    return None


def _on_unexpected(
    request: Request[Any, Any, Any], exc: Exception
) -> Response[dict[str, Any]]:
    request.state[ERROR_KEY] = "INTERNAL_ERROR"
    log.error(
        "request crashed",
        method=request.method,
        path=request.url.path,
        exc_info=exc,
    )
    return error_response(500, "INTERNAL_ERROR", "Internal server error")


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    errors.MasstockError: _on_masstock_error,
    HTTPException: _on_http_error,
    Exception: _on_unexpected,
}
