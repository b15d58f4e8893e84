"""The device directory over the logistics stock API, made to behave.

A lookup is answered from the cache while fresh; otherwise concurrent
lookups of one device share one upstream call, which is retried on
transient failures (with jittered exponential backoff, honouring
``Retry-After``) behind a circuit breaker, all within one deadline.  When the
upstream fails, a stale answer stands in if there is one; if not, the caller
gets ``InventoryUnavailable`` (retry later) or ``InventoryBadResponse``.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from masstock.adapters.inventory.breaker import CircuitBreaker, CircuitOpen
from masstock.adapters.inventory.cache import DeviceCache, Key
from masstock.adapters.inventory.client import (
    InventoryClient,
    UpstreamBadResponse,
    UpstreamUnavailable,
)
from masstock.adapters.inventory.dto import DeviceDto, to_device
from masstock.domain.device import Device, DeviceKind
from masstock.domain.errors import InventoryBadResponse, InventoryUnavailable

log = structlog.get_logger(__name__)

# What a caller is told to wait when the upstream gave no hint of its own.
_DEFAULT_RETRY_AFTER = 5


@dataclass(frozen=True, slots=True, kw_only=True)
class InventoryConfig:
    """How patient to be with an upstream, and how long to remember its answers."""

    deadline: float = 0.8
    attempts: int = 3
    backoff: float = 0.05
    backoff_max: float = 0.4
    breaker_failures: int = 5
    breaker_cool_down: float = 10.0
    cache_size: int = 100_000
    cache_ttl: float = 300.0
    cache_negative_ttl: float = 30.0
    cache_max_stale: float = 3600.0


class HttpDeviceDirectory:
    """One upstream of the logistics stock API, as a device directory."""

    def __init__(
        self,
        client: InventoryClient,
        *,
        config: InventoryConfig,
        kind: DeviceKind | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._config = config
        self._kind = kind
        self._clock = clock
        self.breaker = CircuitBreaker(
            name=client.name,
            failures=config.breaker_failures,
            cool_down=config.breaker_cool_down,
            clock=clock,
        )
        self._cache = DeviceCache(
            size=config.cache_size,
            ttl=config.cache_ttl,
            negative_ttl=config.cache_negative_ttl,
            max_stale=config.cache_max_stale,
            clock=clock,
        )
        self._inflight: dict[Key, asyncio.Future[Device | None]] = {}
        self.stats: Counter[str] = Counter()

    def breaker_states(self) -> dict[str, str]:
        """The state of this upstream's circuit breaker, by upstream name."""
        return {self._client.name: self.breaker.state.value}

    async def find(
        self, org: str, identifier: str, *, is_sim: bool | None = None
    ) -> Device | None:
        key = (org, identifier)
        fresh = self._cache.fresh(key)
        if fresh is not None:
            self.stats["cache_hits"] += 1
            return fresh.device

        try:
            return await self._shared(key, lambda: self._fetch(org, identifier))
        except (InventoryUnavailable, InventoryBadResponse):
            stale = self._cache.stale(key)
            if stale is None:
                raise
            self.stats["stale_served"] += 1
            log.info(
                "inventory stale answer served",
                upstream=self._client.name,
                org=org,
                device_id=identifier,
                age_s=round(self._clock() - stale.stored_at, 1),
            )
            return stale.device

    async def _shared(
        self, key: Key, fetch: Callable[[], Awaitable[Device | None]]
    ) -> Device | None:
        """Join the call already going out for ``key``, or make it."""
        future = self._inflight.get(key)
        if future is None:
            future = asyncio.ensure_future(fetch())
            self._inflight[key] = future
            future.add_done_callback(lambda done: self._settle(key, done))
        else:
            self.stats["joined"] += 1
        # A caller that gives up must not cancel the call the others wait on.
        return await asyncio.shield(future)

    def _settle(self, key: Key, done: asyncio.Future[Device | None]) -> None:
        self._inflight.pop(key, None)
        if not done.cancelled():
            done.exception()  # retrieved here, whoever else awaits it

    async def _fetch(self, org: str, identifier: str) -> Device | None:
        started = self._clock()
        deadline = started + self._config.deadline
        attempts = 0
        outcome = "error"
        try:
            async with asyncio.timeout(self._config.deadline):
                async for attempt in self._retrying(deadline):
                    with attempt:
                        attempts += 1
                        dto = await self._attempt(org, identifier)
            device = (
                None
                if dto is None
                else to_device(dto, org=org, identifier=identifier, kind=self._kind)
            )
            outcome = "found" if device is not None else "not_found"
            self._cache.store((org, identifier), device)
            return device
        except CircuitOpen as exc:
            outcome = "circuit_open"
            raise InventoryUnavailable(retry_after=int(exc.retry_after)) from exc
        except TimeoutError as exc:
            outcome = "deadline"
            raise InventoryUnavailable(retry_after=self._retry_after(None)) from exc
        except UpstreamUnavailable as exc:
            outcome = "unavailable"
            raise InventoryUnavailable(
                retry_after=self._retry_after(exc.retry_after)
            ) from exc
        except UpstreamBadResponse as exc:
            outcome = "bad_response"
            log.error(
                "inventory answer unusable",
                upstream=self._client.name,
                org=org,
                device_id=identifier,
                reason=str(exc),
            )
            raise InventoryBadResponse from exc
        finally:
            self.stats[f"outcome_{outcome}"] += 1
            self.stats["calls"] += attempts
            self.stats["retries"] += max(attempts - 1, 0)
            log.info(
                "inventory lookup",
                upstream=self._client.name,
                org=org,
                device_id=identifier,
                outcome=outcome,
                attempts=attempts,
                breaker=self.breaker.state.value,
                duration_ms=round((self._clock() - started) * 1000, 1),
            )

    async def _attempt(self, org: str, identifier: str) -> DeviceDto | None:
        self.breaker.before_call()
        try:
            dto = await self._client.lookup(org, identifier)
        except (UpstreamUnavailable, UpstreamBadResponse):
            self.breaker.failed()
            raise
        except BaseException:
            self.breaker.abandoned()
            raise
        self.breaker.succeeded()
        return dto

    def _retrying(self, deadline: float) -> AsyncRetrying:
        config = self._config

        def wait(state: RetryCallState) -> float:
            hint = _hint(state)
            if hint is not None:
                return hint
            ceiling = min(
                config.backoff * 2 ** (state.attempt_number - 1), config.backoff_max
            )
            return random.uniform(0, ceiling)  # noqa: S311 (jitter, not secrecy)

        def stop(state: RetryCallState) -> bool:
            out_of_attempts = state.attempt_number >= config.attempts
            out_of_time = self._clock() + state.upcoming_sleep >= deadline
            return out_of_attempts or out_of_time

        return AsyncRetrying(
            retry=retry_if_exception(lambda exc: isinstance(exc, UpstreamUnavailable)),
            wait=wait,
            stop=stop,
            reraise=True,
        )

    def _retry_after(self, hint: float | None) -> int:
        if hint is not None:
            return max(math.ceil(hint), 1)
        if self.breaker.retry_after():
            return int(self.breaker.retry_after())
        return _DEFAULT_RETRY_AFTER


def _hint(state: RetryCallState) -> float | None:
    outcome = state.outcome
    if outcome is None or not outcome.failed:
        return None
    exc = outcome.exception()
    return exc.retry_after if isinstance(exc, UpstreamUnavailable) else None


class RoutedDeviceDirectory:
    """Handsets and routers from one upstream, SIM cards from another.

    A lookup that does not say which kind it wants asks the device upstream
    first, then the SIM upstream.
    """

    def __init__(
        self, *, devices: HttpDeviceDirectory, sims: HttpDeviceDirectory
    ) -> None:
        self._devices = devices
        self._sims = sims

    def breaker_states(self) -> dict[str, str]:
        """The state of each upstream's circuit breaker, by upstream name."""
        return self._devices.breaker_states() | self._sims.breaker_states()

    async def find(
        self, org: str, identifier: str, *, is_sim: bool | None = None
    ) -> Device | None:
        if is_sim is True:
            return await self._sims.find(org, identifier, is_sim=True)
        found = await self._devices.find(org, identifier, is_sim=is_sim)
        if found is not None or is_sim is False:
            return found
        return await self._sims.find(org, identifier, is_sim=True)
