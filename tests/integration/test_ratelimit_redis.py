"""The rate limiter on a real Redis, shared by limiters as replicas share it.

Redis is the server named by ``MASSTOCK_TEST_REDIS_URL`` (default: the local
one, database 0).  Each test counts under a key prefix of its own and removes
its keys at the end.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import Redis
from structlog.testing import capture_logs

from masstock.adapters import ratelimit
from masstock.adapters.ratelimit import open_rate_limiter
from tests.e2e.proxy import FaultyProxy

REDIS_URL = os.environ.get("MASSTOCK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
CALLER = "ip:192.0.2.10"
OTHER_CALLER = "ip:192.0.2.20"


@pytest.fixture
async def key_prefix() -> AsyncIterator[str]:
    """A key prefix for this test alone; its keys are deleted afterwards."""
    prefix = f"masstock-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    async with Redis.from_url(REDIS_URL) as client:
        async for key in client.scan_iter(match=f"{prefix}:*"):
            await client.delete(key)


@pytest.fixture
def proxy() -> Iterator[FaultyProxy]:
    """A TCP proxy to Redis that the test can cut, stall and restore."""
    host, _, port = REDIS_URL.split("://", 1)[1].split("/", 1)[0].rpartition(":")
    faulty = FaultyProxy((host, int(port)))
    faulty.start()
    yield faulty
    faulty.stop()


async def test_two_limiters_on_one_redis_share_one_budget(key_prefix: str) -> None:
    async with (
        open_rate_limiter(
            limits="5/minute", redis_url=REDIS_URL, key_prefix=key_prefix
        ) as first,
        open_rate_limiter(
            limits="5/minute", redis_url=REDIS_URL, key_prefix=key_prefix
        ) as second,
    ):
        answers = [await limiter.hit(CALLER) for limiter in [first, second] * 6]

    allowed = [answer for answer in answers if answer is None]
    refused = [answer for answer in answers if answer is not None]
    assert answers[:5] == [None] * 5
    assert len(allowed) == 5
    assert all(1 <= wait <= 60 for wait in refused)


async def test_callers_are_counted_apart_in_redis(key_prefix: str) -> None:
    async with open_rate_limiter(
        limits="2/minute", redis_url=REDIS_URL, key_prefix=key_prefix
    ) as limiter:
        for _ in range(3):
            await limiter.hit(CALLER)

        answers = [await limiter.hit(OTHER_CALLER) for _ in range(2)]

    assert answers == [None, None]


async def test_every_limit_of_the_setting_applies_in_redis(key_prefix: str) -> None:
    async with open_rate_limiter(
        limits="10/second;2/minute", redis_url=REDIS_URL, key_prefix=key_prefix
    ) as limiter:
        answers = [await limiter.hit(CALLER) for _ in range(3)]

    assert answers[:2] == [None, None]
    assert answers[2] is not None
    assert 1 <= answers[2] <= 60


async def test_the_counts_live_under_the_key_prefix(key_prefix: str) -> None:
    async with open_rate_limiter(
        limits="2/minute", redis_url=REDIS_URL, key_prefix=key_prefix
    ) as limiter:
        await limiter.hit(CALLER)

    async with Redis.from_url(REDIS_URL) as client:
        keys = [key.decode() async for key in client.scan_iter(match=f"{key_prefix}:*")]
    assert keys
    assert all(CALLER in key for key in keys)


async def test_a_redis_that_does_not_answer_at_start_up_is_reported_and_let_be() -> (
    None
):
    with capture_logs() as events:
        async with open_rate_limiter(
            limits="1/minute", redis_url="redis://:s3cret@127.0.0.1:1/0"
        ) as limiter:
            answers = [await limiter.hit(CALLER) for _ in range(3)]

    (warning,) = [e for e in events if e["log_level"] == "warning"][:1]
    assert answers == [None, None, None]
    assert (
        warning["event"] == "rate limit store unavailable at start-up, requests allowed"
    )
    assert warning["redis"] == "redis://127.0.0.1:1/0"
    assert "s3cret" not in str(events)


async def test_a_redis_gone_after_start_up_lets_requests_through(
    key_prefix: str, proxy: FaultyProxy
) -> None:
    url = f"redis://127.0.0.1:{proxy.port}/0"
    async with open_rate_limiter(
        limits="1/minute", redis_url=url, key_prefix=key_prefix
    ) as limiter:
        await limiter.hit(CALLER)
        proxy.cut()

        with capture_logs() as events:
            answers = [await limiter.hit(CALLER) for _ in range(3)]

    assert answers == [None, None, None]
    assert [event["event"] for event in events] == [
        "rate limit store unavailable, requests allowed"
    ]


async def test_a_redis_that_hangs_lets_requests_through_quickly(
    key_prefix: str, proxy: FaultyProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ratelimit, "STORE_PAUSE", 0.0)
    url = f"redis://127.0.0.1:{proxy.port}/0"
    async with open_rate_limiter(
        limits="1/minute", redis_url=url, key_prefix=key_prefix
    ) as limiter:
        await limiter.hit(CALLER)
        proxy.stall()
        with capture_logs():
            # The pooled connection was cut: this one fails at once, and the
            # next opens a connection that never answers.
            await limiter.hit(CALLER)
            started = time.monotonic()

            answer = await limiter.hit(CALLER)

            elapsed = time.monotonic() - started

    assert answer is None
    assert elapsed < 4 * ratelimit.STORE_TIMEOUT


async def test_a_redis_that_hangs_at_start_up_does_not_hold_the_start_up(
    proxy: FaultyProxy,
) -> None:
    proxy.stall()
    started = time.monotonic()

    async with open_rate_limiter(
        limits="1/minute", redis_url=f"redis://127.0.0.1:{proxy.port}/0"
    ):
        pass

    assert time.monotonic() - started < 4 * ratelimit.STORE_TIMEOUT


async def test_a_redis_that_comes_back_limits_again(
    key_prefix: str, proxy: FaultyProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ratelimit, "STORE_PAUSE", 0.0)
    url = f"redis://127.0.0.1:{proxy.port}/0"
    async with open_rate_limiter(
        limits="1/minute", redis_url=url, key_prefix=key_prefix
    ) as limiter:
        await limiter.hit(CALLER)
        proxy.cut()
        with capture_logs():
            await limiter.hit(CALLER)
        proxy.restore()

        with capture_logs() as events:
            answer = await limiter.hit(CALLER)

    assert answer is not None
    assert [event["event"] for event in events] == ["rate limit store answering again"]
