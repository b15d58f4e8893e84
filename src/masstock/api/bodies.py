"""Reading request bodies and query values into checked fields."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request

from masstock.domain.errors import ValidationFailed
from masstock.domain.identifiers import check_identifier

MAX_BODY_BYTES = 64 * 1024

_decode = msgspec.json.Decoder().decode


async def json_object(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """The request body, which must be one JSON object."""
    raw = await request.body()
    if not raw.strip():
        raise ValidationFailed("request body is required")
    try:
        body = _decode(raw)
    except msgspec.DecodeError:
        raise ValidationFailed("request body is not valid JSON") from None
    except RecursionError:
        raise ValidationFailed("request body is nested too deeply") from None
    if not isinstance(body, dict):
        raise ValidationFailed("request body must be a JSON object")
    return body


def identifier(body: dict[str, Any], field: str) -> str:
    """A required identifier field; null counts as missing."""
    return check_identifier(field, body.get(field))


def boolean(body: dict[str, Any], field: str) -> bool:
    """A required boolean field; null counts as missing."""
    value = body.get(field)
    if value is None:
        raise ValidationFailed(f"{field} is required")
    if not isinstance(value, bool):
        raise ValidationFailed(f"{field} must be a boolean")
    return value


def optional_integer(body: dict[str, Any], field: str) -> int | None:
    """An optional whole-number field (``3600.0`` is one); null counts as absent."""
    value = body.get(field)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed(f"{field} must be an integer")
    return value
