"""What a request may send, and what every answer tells the browser.

A request whose headers are too large is refused with 431 before any work is
done for it.  Every answer forbids content sniffing; the API's answers and
its probes and metrics forbid caching: they speak of one moment.  The docs
assets may be cached.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import msgspec
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

MAX_HEADER_LINES = 100
_UNCACHED_PATHS = ("/v1/", "/health", "/metrics")
_NOSNIFF = (b"x-content-type-options", b"nosniff")
_NO_STORE = (b"cache-control", b"no-store")


def security_middleware(*, max_header_bytes: int) -> Callable[[ASGIApp], ASGIApp]:
    """Middleware refusing oversized headers and marking answers as not for reuse."""
    refusal = f"request headers must be at most {max_header_bytes} bytes"
    too_large = _error_body(refusal, None)
    too_many = _error_body(
        refusal, f"at most {MAX_HEADER_LINES} header lines are accepted"
    )

    def wrap(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return

            extra = [_NOSNIFF]
            if scope["path"].startswith(_UNCACHED_PATHS):
                extra.append(_NO_STORE)

            async def send_marked(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = _with(message.get("headers", ()), extra)
                await send(message)

            size, lines = _measure(scope["headers"])
            if size > max_header_bytes:
                await _refuse(send_marked, too_large)
                return
            if lines > MAX_HEADER_LINES:
                await _refuse(send_marked, too_many)
                return
            await app(scope, receive, send_marked)

        return middleware

    return wrap


def _measure(headers: Iterable[tuple[bytes, bytes]]) -> tuple[int, int]:
    # Names and values, as the limit is documented; no separators or line ends.
    size = 0
    lines = 0
    for name, value in headers:
        size += len(name) + len(value)
        lines += 1
    return size, lines


def _with(
    headers: Iterable[tuple[bytes, bytes]], extra: list[tuple[bytes, bytes]]
) -> list[tuple[bytes, bytes]]:
    # Ours replace the app's: the API's answers are never to be stored.
    names = {name for name, _ in extra}
    kept = [(name, value) for name, value in headers if name.lower() not in names]
    return kept + extra


def _error_body(message: str, details: str | None) -> bytes:
    body = {"code": "HEADERS_TOO_LARGE", "message": message, "details": details}
    return msgspec.json.encode(body)


async def _refuse(send: Send, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 431,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                # A client that sent this much may keep at it: its next try
                # starts on a new connection.
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})
