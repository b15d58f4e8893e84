"""Recent answers of an upstream: fresh ones spare a call, stale ones cover an outage.

Found devices stay fresh for ``ttl`` seconds, "not found" for the shorter
``negative_ttl``; either may still be served while the upstream fails, up to
``max_stale`` seconds old.  The least recently used entries go first once
``size`` entries are held.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from cachetools import LRUCache

from masstock.domain.device import Device

Key = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Entry:
    device: Device | None
    stored_at: float


class DeviceCache:
    """A bounded map of (org, identifier) to the upstream's last answer."""

    def __init__(
        self,
        *,
        size: int,
        ttl: float,
        negative_ttl: float,
        max_stale: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._entries: LRUCache[Key, Entry] = LRUCache(maxsize=size)
        self._ttl = ttl
        self._negative_ttl = negative_ttl
        self._max_stale = max_stale
        self._clock = clock

    def fresh(self, key: Key) -> Entry | None:
        """The answer for ``key`` if it is recent enough to use without a call."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        limit = self._ttl if entry.device is not None else self._negative_ttl
        return entry if self._age(entry) < limit else None

    def stale(self, key: Key) -> Entry | None:
        """The answer for ``key`` if it may still stand in while the upstream fails."""
        entry = self._entries.get(key)
        if entry is None or self._age(entry) >= self._max_stale:
            return None
        return entry

    def store(self, key: Key, device: Device | None) -> None:
        if self._ttl <= 0:
            return
        self._entries[key] = Entry(device, self._clock())

    def _age(self, entry: Entry) -> float:
        return self._clock() - entry.stored_at
