"""Requests counted per caller, in this process's memory or in a shared Redis.

The counting is the ``limits`` library's sliding window counter: a window's
count plus the previous window's, weighted by how much of it still overlaps,
so that a caller cannot send twice its budget across a window's edge.  With
Redis every replica counts into the same window.

The limiter fails open.  When Redis cannot answer, requests are let through,
a warning is logged now and then, and Redis is left alone for a short pause
so that requests do not each wait for it to time out.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import structlog
from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError
from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import RedisError

log = structlog.get_logger(__name__)

KEY_PREFIX = "masstock:ratelimit"

# Seconds.  Redis answers on the local network in well under a millisecond;
# past these, counting a request costs more than letting it through.
STORE_TIMEOUT = 0.25
# After a failure, requests are let through without asking Redis for this long.
STORE_PAUSE = 2.0
# A store that stays away is reported at most this often.
WARNING_INTERVAL = 10.0
# Connections to Redis per process; a request that finds none free within
# STORE_TIMEOUT is let through, as when Redis is away.
MAX_CONNECTIONS = 32

_STORE_FAILURES = (StorageError, RedisError, OSError)


class LimitsRateLimiter:
    """Every limit of a setting such as ``20/second;300/minute``, per caller."""

    def __init__(
        self,
        *,
        limits: str,
        storage: Storage,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # The shortest window first: a request it refuses is then not counted
        # against the longer ones, so a burst does not eat the caller's hour.
        self._items = sorted(parse_many(limits), key=RateLimitItem.get_expiry)
        self._strategy = SlidingWindowCounterRateLimiter(storage)
        self._clock = clock
        self._paused_until = -math.inf
        self._last_warning = -math.inf
        self._failures = 0

    async def hit(self, caller: str) -> int | None:
        """Count one request of ``caller``: None if allowed, else seconds to wait."""
        if self._clock() < self._paused_until:
            return None

        try:
            wait = await self._hit(caller)
        except _STORE_FAILURES as exc:
            self._store_failed(exc)
            return None

        if self._failures:
            log.info("rate limit store answering again", failures=self._failures)
            self._failures = 0
            self._last_warning = -math.inf
        return wait

    async def _hit(self, caller: str) -> int | None:
        for item in self._items:
            if not await self._strategy.hit(item, caller):
                return await self._wait(item, caller)
        return None

    async def _wait(self, item: RateLimitItem, caller: str) -> int:
        stats = await self._strategy.get_window_stats(item, caller)
        seconds = math.ceil(stats.reset_time - time.time())
        return min(max(seconds, 1), item.get_expiry())

    def _store_failed(self, exc: Exception) -> None:
        now = self._clock()
        self._paused_until = now + STORE_PAUSE
        self._failures += 1
        if now - self._last_warning < WARNING_INTERVAL:
            return

        self._last_warning = now
        log.warning(
            "rate limit store unavailable, requests allowed",
            error=_describe(exc),
            failures=self._failures,
        )


@asynccontextmanager
async def open_rate_limiter(
    *, limits: str, redis_url: str | None, key_prefix: str = KEY_PREFIX
) -> AsyncIterator[LimitsRateLimiter]:
    """A limiter counting in Redis if a URL is given, else in this process.

    A Redis that does not answer at start-up is reported and the service
    starts anyway, letting requests through until it answers: replicas must
    be able to start (and scale out) while Redis is away, as they keep serving.
    """
    if redis_url is None:
        yield LimitsRateLimiter(limits=limits, storage=MemoryStorage())
        return

    pool = BlockingConnectionPool.from_url(
        redis_url,
        max_connections=MAX_CONNECTIONS,
        timeout=STORE_TIMEOUT,
        socket_connect_timeout=STORE_TIMEOUT,
        socket_timeout=STORE_TIMEOUT,
    )
    try:
        await _ping(pool, redis_url)
        storage = RedisStorage(
            f"async+{redis_url}",
            wrap_exceptions=True,
            implementation="redispy",
            key_prefix=key_prefix,
            # The library hands the pool to redis-py's client, as documented;
            # its annotation of the client's options leaves pools out.
            connection_pool=pool,  # type: ignore[arg-type]
        )
        yield LimitsRateLimiter(limits=limits, storage=storage)
    finally:
        await pool.aclose()


async def _ping(pool: BlockingConnectionPool, redis_url: str) -> None:
    try:
        await Redis(connection_pool=pool).ping()
    except (RedisError, OSError) as exc:
        log.warning(
            "rate limit store unavailable at start-up, requests allowed",
            redis=_without_credentials(redis_url),
            error=repr(exc),
        )


def _describe(exc: Exception) -> str:
    cause = exc.storage_error if isinstance(exc, StorageError) else exc
    return repr(cause)


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
