"""The security middleware, driven as an ASGI app around a tiny one."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import cast

import pytest
from litestar.enums import ScopeType
from litestar.types import Message, Receive, ReceiveMessage, Scope, Send

from masstock.api.security import MAX_HEADER_LINES, security_middleware

MAX_HEADER_BYTES = 2048
DEVICE_PATH = "/v1/orgs/yoigo/device"
Headers = list[tuple[bytes, bytes]]


@dataclass
class Inner:
    """An app answering 200 with the headers it is given, noting each call."""

    headers: Headers = field(default_factory=list)
    calls: int = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        if scope["type"] != ScopeType.HTTP:
            return
        await send(
            {"type": "http.response.start", "status": 200, "headers": self.headers}
        )
        await send({"type": "http.response.body", "body": b"{}", "more_body": False})


@dataclass
class Answer:
    status: int
    headers: Headers
    body: bytes

    def header(self, name: bytes) -> list[bytes]:
        return [value for key, value in self.headers if key == name]


async def _request(
    inner: Inner, *, path: str = DEVICE_PATH, headers: Headers | None = None
) -> Answer:
    app = security_middleware(max_header_bytes=MAX_HEADER_BYTES)(inner)
    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "headers": [(b"host", b"127.0.0.1")] if headers is None else headers,
    }
    sent: list[Message] = []

    async def receive() -> ReceiveMessage:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(cast("Scope", scope), receive, send)

    start, body = sent
    assert start["type"] == "http.response.start"
    assert body["type"] == "http.response.body"
    return Answer(start["status"], list(start["headers"]), body["body"])


def _filler(size: int) -> Headers:
    # One header whose name and value together take ``size`` bytes.
    name = b"x-filler"
    return [(name, b"a" * (size - len(name)))]


async def test_headers_over_the_limit_are_refused_without_calling_the_app() -> None:
    inner = Inner()

    answer = await _request(inner, headers=_filler(MAX_HEADER_BYTES + 1))

    assert answer.status == 431
    assert json.loads(answer.body) == {
        "code": "HEADERS_TOO_LARGE",
        "message": f"request headers must be at most {MAX_HEADER_BYTES} bytes",
        "details": None,
    }
    assert answer.header(b"content-type") == [b"application/json"]
    assert answer.header(b"content-length") == [str(len(answer.body)).encode()]
    assert inner.calls == 0


async def test_headers_of_exactly_the_limit_reach_the_app() -> None:
    inner = Inner()

    answer = await _request(inner, headers=_filler(MAX_HEADER_BYTES))

    assert answer.status == 200
    assert inner.calls == 1


async def test_the_limit_counts_every_header_name_and_value() -> None:
    inner = Inner()
    headers = [(b"x-part", b"b" * 100)] * (MAX_HEADER_BYTES // 106 + 1)

    answer = await _request(inner, headers=headers)

    assert answer.status == 431
    assert inner.calls == 0


async def test_more_header_lines_than_allowed_are_refused() -> None:
    inner = Inner()
    headers = [(b"x-n", b"1")] * (MAX_HEADER_LINES + 1)

    answer = await _request(inner, headers=headers)

    assert answer.status == 431
    assert json.loads(answer.body)["code"] == "HEADERS_TOO_LARGE"
    assert json.loads(answer.body)["details"] == (
        f"at most {MAX_HEADER_LINES} header lines are accepted"
    )
    assert inner.calls == 0


async def test_as_many_header_lines_as_allowed_reach_the_app() -> None:
    inner = Inner()
    headers = [(b"x-n", b"1")] * MAX_HEADER_LINES

    answer = await _request(inner, headers=headers)

    assert answer.status == 200


async def test_a_refusal_closes_the_connection_and_is_not_to_be_stored() -> None:
    answer = await _request(Inner(), headers=_filler(MAX_HEADER_BYTES + 1))

    assert answer.header(b"connection") == [b"close"]
    assert answer.header(b"x-content-type-options") == [b"nosniff"]
    assert answer.header(b"cache-control") == [b"no-store"]


@pytest.mark.parametrize(
    "path",
    [DEVICE_PATH, "/health/live", "/docs", "/openapi.json", "/no/such/path"],
)
async def test_every_answer_forbids_content_sniffing(path: str) -> None:
    answer = await _request(Inner(), path=path)

    assert answer.header(b"x-content-type-options") == [b"nosniff"]


@pytest.mark.parametrize(
    "path",
    [
        DEVICE_PATH,
        "/v1/orgs/yoigo/reservation/a1b2c3d4-e5f6-7890-abcd-ef1234567890",
        "/health/live",
        "/health/ready",
    ],
)
async def test_api_and_probe_answers_are_not_to_be_stored(path: str) -> None:
    answer = await _request(Inner(), path=path)

    assert answer.header(b"cache-control") == [b"no-store"]


async def test_the_api_never_lets_an_app_choose_caching() -> None:
    inner = Inner(headers=[(b"cache-control", b"max-age=300")])

    answer = await _request(inner)

    assert answer.header(b"cache-control") == [b"no-store"]


@pytest.mark.parametrize("path", ["/docs", "/docs/swagger-ui.css", "/openapi.json"])
async def test_docs_answers_keep_the_caching_the_app_chose(path: str) -> None:
    inner = Inner(headers=[(b"cache-control", b"max-age=300")])

    answer = await _request(inner, path=path)

    assert answer.header(b"cache-control") == [b"max-age=300"]


async def test_the_app_headers_are_kept_and_no_server_header_is_added() -> None:
    inner = Inner(headers=[(b"content-type", b"application/json")])

    answer = await _request(inner)

    assert answer.header(b"content-type") == [b"application/json"]
    assert answer.header(b"server") == []
    assert len(answer.headers) == 3


async def test_other_connections_pass_through_untouched() -> None:
    inner = Inner()
    app = security_middleware(max_header_bytes=MAX_HEADER_BYTES)(inner)
    scope = cast("Scope", {"type": "lifespan"})

    async def receive() -> ReceiveMessage:
        return cast("ReceiveMessage", {"type": "lifespan.startup"})

    async def send(message: Message) -> None:
        raise AssertionError("nothing is sent for a lifespan connection")

    await app(scope, receive, send)

    assert inner.calls == 1
