"""The rate limiter on in-process memory, and on a store that fails.

The limits are per hour or per day: the memory store's windows start on the
clock's round numbers, and a test a few milliseconds long then never straddles
one (which would let one more request through, as the window slides).
"""

from __future__ import annotations

import math
import time

from limits import parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError
from structlog.testing import capture_logs

from masstock.adapters.ratelimit import (
    STORE_PAUSE,
    WARNING_INTERVAL,
    LimitsRateLimiter,
    open_rate_limiter,
)

CALLER = "ip:192.0.2.10"
OTHER_CALLER = "ip:192.0.2.20"


class Ticks:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FlakyStorage(MemoryStorage):
    """Memory storage that can be switched off, counting how often it is asked."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.asked = 0

    async def acquire_sliding_window_entry(
        self, key: str, limit: int, expiry: int, amount: int = 1
    ) -> bool:
        self.asked += 1
        if self.down:
            raise StorageError(ConnectionError("Connection refused"))
        return await super().acquire_sliding_window_entry(key, limit, expiry, amount)


async def _hits(
    limiter: LimitsRateLimiter, caller: str, *, times: int
) -> list[int | None]:
    return [await limiter.hit(caller) for _ in range(times)]


async def test_requests_within_the_limit_are_allowed() -> None:
    limiter = LimitsRateLimiter(limits="3/hour", storage=MemoryStorage())

    answers = await _hits(limiter, CALLER, times=3)

    assert answers == [None, None, None]


async def test_a_request_over_the_limit_waits_until_the_window_ends() -> None:
    limiter = LimitsRateLimiter(limits="1/hour", storage=MemoryStorage())
    await limiter.hit(CALLER)

    wait = await limiter.hit(CALLER)

    until_next_hour = 3600 - time.time() % 3600
    assert wait is not None
    assert 1 <= wait <= 3600
    assert abs(wait - math.ceil(until_next_hour)) <= 1


async def test_every_refused_request_is_told_to_wait_at_least_a_second() -> None:
    limiter = LimitsRateLimiter(limits="2/hour", storage=MemoryStorage())

    answers = await _hits(limiter, CALLER, times=10)

    assert answers[:2] == [None, None]
    assert all(wait is not None and wait >= 1 for wait in answers[2:])


async def test_callers_are_counted_apart() -> None:
    limiter = LimitsRateLimiter(limits="2/hour", storage=MemoryStorage())
    await _hits(limiter, CALLER, times=5)

    answers = await _hits(limiter, OTHER_CALLER, times=2)

    assert answers == [None, None]


async def test_every_limit_of_the_setting_applies() -> None:
    limiter = LimitsRateLimiter(limits="10/hour;2/day", storage=MemoryStorage())

    answers = await _hits(limiter, CALLER, times=3)

    assert answers[:2] == [None, None]
    assert answers[2] is not None
    assert 1 <= answers[2] <= 86400


async def test_a_request_refused_by_a_short_window_counts_in_no_longer_one() -> None:
    storage = MemoryStorage()
    limiter = LimitsRateLimiter(limits="3/day;2/hour", storage=storage)

    await _hits(limiter, CALLER, times=6)

    day = await SlidingWindowCounterRateLimiter(storage).get_window_stats(
        parse("3/day"), CALLER
    )
    assert day.remaining == 1


async def test_a_store_that_fails_lets_every_request_through() -> None:
    storage = FlakyStorage()
    storage.down = True
    limiter = LimitsRateLimiter(limits="1/hour", storage=storage)

    answers = await _hits(limiter, CALLER, times=5)

    assert answers == [None] * 5


async def test_after_a_failure_the_store_is_left_alone_for_a_pause() -> None:
    storage = FlakyStorage()
    storage.down = True
    clock = Ticks()
    limiter = LimitsRateLimiter(limits="1/hour", storage=storage, clock=clock)
    await limiter.hit(CALLER)

    await _hits(limiter, CALLER, times=5)
    clock.now += STORE_PAUSE
    await limiter.hit(CALLER)

    assert storage.asked == 2


async def test_a_store_that_stays_away_is_reported_now_and_then() -> None:
    storage = FlakyStorage()
    storage.down = True
    clock = Ticks()
    limiter = LimitsRateLimiter(limits="1/hour", storage=storage, clock=clock)

    with capture_logs() as events:
        for _ in range(int(2 * WARNING_INTERVAL / STORE_PAUSE) + 1):
            await _hits(limiter, CALLER, times=3)
            clock.now += STORE_PAUSE

    warnings = [event for event in events if event["log_level"] == "warning"]
    assert len(warnings) == 3
    assert warnings[0]["event"] == "rate limit store unavailable, requests allowed"
    assert warnings[0]["error"] == "ConnectionError('Connection refused')"
    assert warnings[-1]["failures"] == storage.asked


async def test_a_store_that_comes_back_limits_again() -> None:
    storage = FlakyStorage()
    storage.down = True
    clock = Ticks()
    limiter = LimitsRateLimiter(limits="1/hour", storage=storage, clock=clock)
    await limiter.hit(CALLER)
    storage.down = False
    clock.now += STORE_PAUSE

    with capture_logs() as events:
        answers = await _hits(limiter, CALLER, times=2)

    assert answers[0] is None
    assert answers[1] is not None
    assert [event["event"] for event in events] == ["rate limit store answering again"]


async def test_without_redis_the_limiter_counts_in_this_process() -> None:
    async with open_rate_limiter(limits="1/hour", redis_url=None) as limiter:
        answers = await _hits(limiter, CALLER, times=2)

    assert answers[0] is None
    assert answers[1] is not None
