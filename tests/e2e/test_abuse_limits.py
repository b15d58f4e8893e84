"""Abuse limits over HTTP: one budget across two servers, and oversized headers.

Both servers count in the Redis named by ``MASSTOCK_TEST_REDIS_URL`` (default:
the local one, database 0).  With authentication off a caller is known by its
address, so each test calls from a loopback address of its own (all of
127.0.0.0/8 is the loopback) and starts with an untouched budget.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pytest
import redis

from tests.e2e.conftest import CONTRACT_DEVICE, add_devices, empty
from tests.e2e.server import ServerProcess

REDIS_URL = os.environ.get("MASSTOCK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
LIMIT = 10
DEVICE_URL = "/v1/orgs/yoigo/device?identifier=DEVICE123456"
DEFAULT_MAX_HEADER_BYTES = 16384


@pytest.fixture(scope="module")
def servers(
    postgres_server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[ServerProcess]]:
    """Two replicas on one PostgreSQL, limiting callers to 10 requests a minute."""
    folder = tmp_path_factory.mktemp("abuse-limits")
    empty(postgres_server_url)
    add_devices(postgres_server_url, [CONTRACT_DEVICE])
    env = {"MASSTOCK_RATE_LIMIT": f"{LIMIT}/minute", "MASSTOCK_REDIS_URL": REDIS_URL}
    with ExitStack() as stack:
        replicas = []
        for n in range(2):
            replica = ServerProcess(
                database_url=postgres_server_url,
                env=env,
                log_path=folder / f"serve-{n}.log",
            )
            replica.start()
            stack.callback(replica.stop)
            replicas.append(replica)
        yield replicas


@pytest.fixture
def caller_address() -> Iterator[str]:
    """A loopback address no other test calls from; its counts go afterwards."""
    octets = [random.randint(1, 254) for _ in range(3)]  # noqa: S311 (not a secret)
    address = "127." + ".".join(map(str, octets))
    yield address
    with redis.Redis.from_url(REDIS_URL) as client:
        for key in client.scan_iter(match=f"*ip:{address}/*"):
            client.delete(key)


def _client(server: ServerProcess, address: str) -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=server.base_url, transport=transport, timeout=10)


def test_two_servers_share_one_budget_per_caller(
    servers: list[ServerProcess], caller_address: str
) -> None:
    with ExitStack() as stack:
        clients = [
            stack.enter_context(_client(server, caller_address)) for server in servers
        ]

        answers = [clients[n % 2].get(DEVICE_URL) for n in range(30)]

    let_through = [answer for answer in answers if answer.status_code != 429]
    refused = [answer for answer in answers if answer.status_code == 429]
    assert answers[0].status_code == 200
    assert len(let_through) <= LIMIT
    assert {answer.json()["code"] for answer in refused} == {"RATE_LIMITED"}
    assert all(1 <= int(answer.headers["retry-after"]) <= 60 for answer in refused)


def test_a_request_with_20_kb_of_headers_is_refused_with_431(
    servers: list[ServerProcess], caller_address: str
) -> None:
    padding = {f"x-padding-{n}": "a" * 4096 for n in range(5)}

    with _client(servers[0], caller_address) as client:
        answer = client.get(DEVICE_URL, headers=padding)

    assert answer.status_code == 431
    assert answer.json() == {
        "code": "HEADERS_TOO_LARGE",
        "message": (
            f"request headers must be at most {DEFAULT_MAX_HEADER_BYTES} bytes"
        ),
        "details": None,
    }


@pytest.mark.parametrize("path", [DEVICE_URL, "/health/live"])
def test_api_answers_are_neither_sniffed_nor_stored_and_name_no_server(
    servers: list[ServerProcess], caller_address: str, path: str
) -> None:
    with _client(servers[1], caller_address) as client:
        answer = client.get(path)

    assert answer.status_code == 200
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["cache-control"] == "no-store"
    assert "server" not in answer.headers


def test_a_refused_request_is_neither_sniffed_nor_stored(
    servers: list[ServerProcess], caller_address: str
) -> None:
    with _client(servers[0], caller_address) as client:
        answers = [client.get(DEVICE_URL) for _ in range(LIMIT + 1)]

    assert answers[-1].status_code == 429
    assert answers[-1].headers["x-content-type-options"] == "nosniff"
    assert answers[-1].headers["cache-control"] == "no-store"
