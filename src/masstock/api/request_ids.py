"""Every request gets an id: the caller's ``X-Request-ID`` if usable, else a new one.

The id is echoed in the answer, bound to every log event of the request, and
written into the history of each change the request makes.
"""

from __future__ import annotations

import random
import re
import uuid
from typing import Any

import structlog
from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "x-request-id"
_USABLE = re.compile(r"[\x21-\x7e]{1,128}")


def request_id_middleware(app: ASGIApp) -> ASGIApp:
    """Wrap ``app`` so that each HTTP request carries a request id."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return

        request_id = _from_headers(scope) or _new_id()
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableScopeHeaders.from_message(message)[HEADER] = request_id
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            await app(scope, receive, send_with_id)

    return middleware


def request_id_of(state: Any) -> str | None:
    """The id that the middleware gave this request."""
    request_id: str | None = state.get("request_id")
    return request_id


def _new_id() -> str:
    # A correlation id, not a secret: the process's own generator spares a
    # system call for random bytes on every request.
    return uuid.UUID(int=random.getrandbits(128), version=4).hex


def _from_headers(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return text if _USABLE.fullmatch(text) else None
    return None
