"""Around every HTTP request: its id, its trace, one access event, one observation.

This wraps the whole application, routing included, so that a request for a
path that no route serves is logged and counted like any other.  The request
id is the caller's ``X-Request-ID`` when usable, else a new one; it is echoed
in the answer, bound to every log event of the request, and written into the
history of each change the request makes.  A valid W3C ``traceparent`` puts
its trace id on the request's log events; with tracing on, the request's span
joins that trace.
"""

from __future__ import annotations

import random
import re
import time
import uuid
from collections.abc import Iterable
from typing import Any, Protocol

import structlog
from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPScope, Message, Receive, Scope, Send

from masstock.api.auth import DEALER_KEY, STATE_KEY
from masstock.api.errors import ERROR_KEY
from masstock.domain.access import Caller

log = structlog.get_logger("masstock.access")

REQUEST_ID_HEADER = "x-request-id"
_USABLE_ID = re.compile(r"[\x21-\x7e]{1,128}")
# version 00: trace id, parent span id, flags; an all-zero id is invalid.
_TRACEPARENT = re.compile(
    r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}(-[\x21-\x7e]*)?"
)
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16


class Spans(Protocol):
    """The request's span, when tracing is on."""

    def current(self) -> tuple[str, str] | None:
        """The trace and span ids of the span in force."""
        ...

    def routed(self, method: str, route: str) -> None:
        """Tell the span which route served it."""
        ...


class Observe(Protocol):
    """Called once per answered request; ``route`` is "" when none matched."""

    def __call__(
        self, *, method: str, route: str, status: int, seconds: float
    ) -> None: ...


def observed(app: ASGIApp, *, observe: Observe, spans: Spans | None = None) -> ASGIApp:
    """Wrap ``app`` with request ids, access events and request observations."""

    async def wrapper(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return

        started = time.perf_counter()
        request_id = _request_id(scope["headers"]) or _new_id()
        scope.setdefault("state", {})["request_id"] = request_id
        fields: dict[str, Any] = {"request_id": request_id}
        span = spans.current() if spans is not None else None
        if span is not None:
            fields["trace_id"], fields["span_id"] = span
        elif (parent := _traceparent(scope["headers"])) is not None:
            fields["trace_id"], fields["parent_span_id"] = parent
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableScopeHeaders.from_message(message)[REQUEST_ID_HEADER] = (
                    request_id
                )
                if spans is not None:  # the span ends with the answer's last byte
                    spans.routed(scope["method"], scope.get("path_template", ""))
            await send(message)

        with structlog.contextvars.bound_contextvars(**fields):
            try:
                await app(scope, receive, send_with_id)
            finally:
                seconds = time.perf_counter() - started
                route = scope.get("path_template", "")
                observe(
                    method=scope["method"], route=route, status=status, seconds=seconds
                )
                _log_access(scope, route=route, status=status, seconds=seconds)

    return wrapper


def request_id_of(state: Any) -> str | None:
    """The id that the wrapper gave this request."""
    request_id: str | None = state.get("request_id")
    return request_id


def _log_access(scope: HTTPScope, *, route: str, status: int, seconds: float) -> None:
    state = scope.get("state", {})
    fields: dict[str, Any] = {
        "method": scope["method"],
        "route": route,
        "status": status,
        "duration_ms": round(seconds * 1000, 2),
    }
    org = scope.get("path_params", {}).get("org")
    if org is not None:
        fields["org"] = org
    caller = state.get(STATE_KEY)
    dealer = state.get(DEALER_KEY)
    if dealer is None and isinstance(caller, Caller):
        dealer = caller.dealer
    if dealer is not None:
        fields["dealer_id"] = dealer
    code = state.get(ERROR_KEY)
    if code is not None:
        fields["code"] = code
    log.info("request", **fields)


def _request_id(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return text if _USABLE_ID.fullmatch(text) else None
    return None


def _new_id() -> str:
    # A correlation id, not a secret: the process's own generator spares a
    # system call for random bytes on every request.
    return uuid.UUID(int=random.getrandbits(128), version=4).hex


def _traceparent(headers: Iterable[tuple[bytes, bytes]]) -> tuple[str, str] | None:
    """The trace id and parent span id of a valid ``traceparent``, if one came."""
    for name, value in headers:
        if name == b"traceparent":
            match = _TRACEPARENT.fullmatch(value.decode("latin-1").strip())
            if match is None or match.group(1) == "ff":
                return None
            if match.group(1) == "00" and match.group(4) is not None:
                return None  # version 00 has exactly four fields
            trace_id, span_id = match.group(2), match.group(3)
            if trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
                return None
            return trace_id, span_id
    return None
