"""Just enough HTTP/1.1 over asyncio streams, with the raw connection at hand.

Requests carry a ``Content-Length`` body or none; connections persist unless
either side says ``Connection: close``.  Owning the connection is what lets
the fake reset it, cut an answer short or hold it open unanswered.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

MAX_HEAD = 16 * 1024
MAX_BODY = 64 * 1024
_READ_SIZE = 64 * 1024
_SERVER = "masstock-fake-inventory"


class RequestRefused(Exception):
    """A request the server will not read further: answered, then closed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = HTTPStatus(status).name
        self.message = message


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    keep_alive: bool

    def header(self, name: str) -> str | None:
        """The value of a header, by its case-insensitive name."""
        return self.headers.get(name.lower())

    def param(self, name: str) -> str | None:
        """The first value of a query parameter, if given."""
        values = self.query.get(name)
        return values[0] if values else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Response:
    """An answer; ``truncate`` sends half the body, then closes the connection."""

    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    truncate: bool = False


def json_response(
    status: int, document: object, *, headers: tuple[tuple[str, str], ...] = ()
) -> Response:
    """An answer with a JSON body."""
    body = json.dumps(document, separators=(",", ":")).encode()
    return Response(
        status=status, body=body, content_type="application/json", headers=headers
    )


def error_response(
    status: int, *, code: str, message: str, headers: tuple[tuple[str, str], ...] = ()
) -> Response:
    """An answer with the logistics API's error body."""
    return json_response(status, {"code": code, "message": message}, headers=headers)


class Connection:
    """One client's connection: its requests in turn, and the answers to them."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self._reader = reader
        self._writer = writer
        self._buffer = bytearray()

    async def next_request(self) -> Request | None:
        """The next request, or None once the client has closed between requests.

        Raises RequestRefused for a request that cannot be read, and
        ConnectionError when the client goes away in the middle of one.
        """
        end = await self._read_head_end()
        if end is None:
            return None
        head = bytes(self._buffer[:end])
        del self._buffer[: end + 4]
        method, target, version, headers = _parse_head(head)

        length = _content_length(headers)
        if headers.get("expect", "").lower() == "100-continue" and length:
            self._writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = await self._read_body(length)

        parts = urlsplit(target)
        tokens = {t.strip().lower() for t in headers.get("connection", "").split(",")}
        keep_alive = (
            "close" not in tokens if version == "HTTP/1.1" else "keep-alive" in tokens
        )
        return Request(
            method=method,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers=headers,
            body=body,
            keep_alive=keep_alive,
        )

    async def send(self, response: Response, *, keep_alive: bool) -> None:
        """Write an answer whole, or its first half if it is to be truncated."""
        keep_alive = keep_alive and not response.truncate
        phrase = _phrase(response.status)
        lines = [
            f"HTTP/1.1 {response.status} {phrase}",
            f"Server: {_SERVER}",
            f"Content-Length: {len(response.body)}",
            f"Connection: {'keep-alive' if keep_alive else 'close'}",
        ]
        if response.content_type is not None:
            lines.append(f"Content-Type: {response.content_type}")
        lines.extend(f"{name}: {value}" for name, value in response.headers)
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

        body = response.body
        if response.truncate:
            body = body[: len(body) // 2]
        self._writer.write(head + body)
        await self._writer.drain()

    async def hold(self, released: asyncio.Event) -> bool:
        """Answer nothing until ``released`` is set (True) or the client goes away.

        Bytes the client sends meanwhile are kept for the next request.
        """
        release = asyncio.ensure_future(released.wait())
        try:
            while True:
                read = asyncio.ensure_future(self._reader.read(_READ_SIZE))
                done, _ = await asyncio.wait(
                    {release, read}, return_when=asyncio.FIRST_COMPLETED
                )
                if read not in done:
                    read.cancel()
                    return True
                chunk = read.result()
                if not chunk or len(self._buffer) > MAX_HEAD + MAX_BODY:
                    return False
                self._buffer += chunk
        finally:
            release.cancel()

    def reset(self) -> None:
        """Drop the connection at once, with a TCP reset rather than a close."""
        sock = self._writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                linger = struct.pack("ii", 1, 0)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        self._writer.transport.abort()

    def close(self) -> None:
        """Close the connection once what was written has gone out."""
        self._writer.close()

    async def _read_head_end(self) -> int | None:
        while (end := self._buffer.find(b"\r\n\r\n")) < 0:
            if len(self._buffer) > MAX_HEAD:
                raise RequestRefused(431, "request head too large")
            chunk = await self._reader.read(_READ_SIZE)
            if not chunk:
                if self._buffer.strip():
                    raise ConnectionResetError("client left in the middle of a head")
                return None
            self._buffer += chunk
        if end > MAX_HEAD:
            raise RequestRefused(431, "request head too large")
        return end

    async def _read_body(self, length: int) -> bytes:
        while len(self._buffer) < length:
            chunk = await self._reader.read(_READ_SIZE)
            if not chunk:
                raise ConnectionResetError("client left in the middle of a body")
            self._buffer += chunk
        body = bytes(self._buffer[:length])
        del self._buffer[:length]
        return body


def _parse_head(head: bytes) -> tuple[str, str, str, dict[str, str]]:
    request_line, *header_lines = head.decode("latin-1").split("\r\n")
    parts = request_line.split(" ")
    if len(parts) != 3 or not parts[0].isalpha() or not parts[1]:
        raise RequestRefused(400, "malformed request line")
    method, target, version = parts
    if version not in {"HTTP/1.0", "HTTP/1.1"}:
        raise RequestRefused(505, f"{version} is not supported")

    headers: dict[str, str] = {}
    for line in header_lines:
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise RequestRefused(400, "malformed header line")
        key = name.lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return method, target, version, headers


def _content_length(headers: dict[str, str]) -> int:
    if "transfer-encoding" in headers:
        raise RequestRefused(501, "Transfer-Encoding is not supported")
    text = headers.get("content-length", "0")
    if not text.isascii() or not text.isdigit():
        raise RequestRefused(400, "Content-Length must be a number")
    length = int(text)
    if length > MAX_BODY:
        raise RequestRefused(413, f"request body over {MAX_BODY} bytes")
    return length


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"
