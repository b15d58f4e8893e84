"""The ``Idempotency-Key`` header on POST routes (IETF draft, "The
Idempotency-Key HTTP Header Field"): the same key with the same request
replays the first answer, marked ``Idempotent-Replayed: true``.  A key is the
caller's own: the same key from another caller is another key."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Request, Response

from masstock.api.auth import caller_of
from masstock.api.services import Services
from masstock.domain.errors import ValidationFailed
from masstock.domain.reservation import Reservation
from masstock.service.ports import KeyCompletion, StoredResponse

HEADER = "idempotency-key"
_USABLE = re.compile(r"[\x20-\x7e]{1,255}")

Action = Callable[[KeyCompletion | None], Awaitable[Reservation]]
Render = Callable[[Reservation], StoredResponse]


async def respond(
    request: Request[Any, Any, Any],
    *,
    org: str,
    services: Services,
    action: Action,
    render: Render,
) -> Response[bytes]:
    """Run ``action`` once per idempotency key, and answer with ``render``."""
    key = _key(request)
    if key is None:
        return _response(render(await action(None)))

    caller = caller_of(request).subject
    fingerprint = await _fingerprint(request)
    claim = await services.idempotency.begin(
        org=org, caller=caller, key=key, fingerprint=fingerprint
    )
    if claim.stored is not None:
        replay = _response(claim.stored)
        replay.headers["Idempotent-Replayed"] = "true"
        return replay

    completion = KeyCompletion(org=org, caller=caller, key=key, render=render)
    try:
        result = await action(completion)
    except BaseException:
        await services.idempotency.abandon(org=org, caller=caller, key=key)
        raise
    stored = render(result)
    await services.idempotency.finish(completion, stored)
    return _response(stored)


def _key(request: Request[Any, Any, Any]) -> str | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not _USABLE.fullmatch(key) or not key.strip():
        raise ValidationFailed("Idempotency-Key must be 1 to 255 printable characters")
    return key


async def _fingerprint(request: Request[Any, Any, Any]) -> str:
    digest = hashlib.sha256()
    digest.update(request.method.encode())
    digest.update(b"\n")
    digest.update(request.url.path.encode())
    digest.update(b"\n")
    digest.update(await request.body())
    return digest.hexdigest()


def _response(stored: StoredResponse) -> Response[bytes]:
    return Response(
        stored.body, status_code=stored.status, media_type=stored.media_type
    )
