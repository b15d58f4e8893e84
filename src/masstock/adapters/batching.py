"""Concurrent lookups that share round trips to the database.

A lookup that arrives while few are out goes at once, alone.  When
``in_flight`` batches are already out, lookups wait together and leave as one
batch the moment a slot frees up.  Under light load nothing waits; under heavy
load one round trip answers many requests, and the queue stays first come,
first served.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

Key = TypeVar("Key", bound=Hashable)
Value = TypeVar("Value")

FetchMany = Callable[[Sequence[Key]], Awaitable[dict[Key, Value]]]
Waiter = asyncio.Future[Value | None]


class BatchedLookups(Generic[Key, Value]):
    """Look keys up through ``fetch_many``, batching whatever queues meanwhile."""

    def __init__(
        self, fetch_many: FetchMany[Key, Value], *, in_flight: int, max_batch: int
    ) -> None:
        self._fetch_many = fetch_many
        self._slots = in_flight
        self._max_batch = max_batch
        self._waiting: dict[Key, list[Waiter[Value]]] = {}

    async def get(self, key: Key) -> Value | None:
        """The value for ``key``, or None when ``fetch_many`` did not find it."""
        future: Waiter[Value] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, []).append(future)
        if self._slots > 0:
            self._send()
        return await future

    def _send(self) -> None:
        keys = list(self._waiting)[: self._max_batch]
        batch = {key: self._waiting.pop(key) for key in keys}
        self._slots -= 1
        task = asyncio.get_running_loop().create_task(self._fetch(batch))
        task.add_done_callback(self._sent)

    def _sent(self, _task: asyncio.Task[None]) -> None:
        self._slots += 1
        if self._waiting:
            self._send()

    async def _fetch(self, batch: dict[Key, list[Waiter[Value]]]) -> None:
        try:
            found = await self._fetch_many(list(batch))
        except asyncio.CancelledError:
            for future in _futures(batch):
                future.cancel()
            raise
        except Exception as exc:  # every waiter hears of it
            for future in _futures(batch):
                if not future.done():
                    future.set_exception(exc)
            return

        for key, futures in batch.items():
            value = found.get(key)
            for future in futures:
                if not future.done():
                    future.set_result(value)


def _futures(batch: dict[Key, list[Waiter[Value]]]) -> list[Waiter[Value]]:
    return [future for futures in batch.values() for future in futures]
