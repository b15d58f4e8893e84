"""A circuit breaker per upstream: stop calling a system that keeps failing.

Closed, it counts consecutive failures; at ``failures`` it opens and refuses
calls for ``cool_down`` seconds; then it lets one trial call through
(half-open): a success closes it, a failure opens it again.

Written here rather than taken from a library: the well-known ones either
block or need Tornado for coroutines, and this one is a small state machine
that the tests drive with their own clock.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from enum import StrEnum

import structlog

log = structlog.get_logger(__name__)


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitOpen(Exception):
    """The breaker refused the call; ``retry_after`` seconds remain of its cool-down."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"circuit open for {retry_after:.1f}s more")
        self.retry_after = retry_after


class CircuitBreaker:
    """Whether an upstream may be called now, from what its last calls did."""

    def __init__(
        self,
        *,
        name: str,
        failures: int,
        cool_down: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self._threshold = failures
        self._cool_down = cool_down
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at < self._cool_down:
            return BreakerState.OPEN
        return BreakerState.HALF_OPEN

    def before_call(self) -> None:
        """Raise CircuitOpen unless a call may go out now."""
        state = self.state
        if state is BreakerState.CLOSED:
            return
        if state is BreakerState.HALF_OPEN and not self._trial_running:
            self._trial_running = True
            return
        raise CircuitOpen(self.retry_after())

    def retry_after(self) -> float:
        """Seconds until a call may go out again (at least one)."""
        if self._opened_at is None:
            return 0.0
        remaining = self._cool_down - (self._clock() - self._opened_at)
        return float(max(math.ceil(remaining), 1))

    def succeeded(self) -> None:
        if self._opened_at is not None:
            log.info("inventory circuit closed", upstream=self.name)
        self._failures = 0
        self._opened_at = None
        self._trial_running = False

    def abandoned(self) -> None:
        """A call ended with neither answer (cancelled): free the trial slot."""
        self._trial_running = False

    def failed(self) -> None:
        self._failures += 1
        reopen = self._trial_running
        self._trial_running = False
        if reopen or (self._opened_at is None and self._failures >= self._threshold):
            self._opened_at = self._clock()
            log.warning(
                "inventory circuit opened",
                upstream=self.name,
                failures=self._failures,
                cool_down=self._cool_down,
            )
