"""Concurrent lookups sharing round trips: who waits, who goes, who hears what."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from masstock.adapters.batching import BatchedLookups


class Upstream:
    """Answers batches when told to, and remembers every batch it was sent."""

    def __init__(self, known: dict[str, int]) -> None:
        self.known = known
        self.batches: list[list[str]] = []
        self.release = asyncio.Event()
        self.failure: Exception | None = None

    async def fetch_many(self, keys: Sequence[str]) -> dict[str, int]:
        self.batches.append(list(keys))
        await self.release.wait()
        if self.failure is not None:
            raise self.failure
        return {key: self.known[key] for key in keys if key in self.known}


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_lone_lookup_goes_at_once_and_alone() -> None:
    upstream = Upstream({"a": 1})
    upstream.release.set()
    lookups = BatchedLookups(upstream.fetch_many, in_flight=1, max_batch=8)

    assert await lookups.get("a") == 1
    assert upstream.batches == [["a"]]


async def test_lookups_that_queue_behind_a_full_house_leave_as_one_batch() -> None:
    upstream = Upstream({"a": 1, "b": 2, "c": 3})
    lookups = BatchedLookups(upstream.fetch_many, in_flight=1, max_batch=8)

    first = asyncio.create_task(lookups.get("a"))
    await _settle()
    queued = [asyncio.create_task(lookups.get(key)) for key in ("b", "c", "zz")]
    await _settle()
    assert upstream.batches == [["a"]]  # the others wait for the slot

    upstream.release.set()
    assert await first == 1
    assert await asyncio.gather(*queued) == [2, 3, None]
    assert upstream.batches == [["a"], ["b", "c", "zz"]]


async def test_the_same_key_asked_twice_in_a_batch_is_fetched_once() -> None:
    upstream = Upstream({"a": 1, "b": 2})
    lookups = BatchedLookups(upstream.fetch_many, in_flight=1, max_batch=8)

    first = asyncio.create_task(lookups.get("a"))
    await _settle()
    twins = [asyncio.create_task(lookups.get("b")) for _ in range(3)]
    upstream.release.set()

    assert await first == 1
    assert await asyncio.gather(*twins) == [2, 2, 2]
    assert upstream.batches == [["a"], ["b"]]


async def test_a_batch_never_exceeds_its_size_and_the_queue_keeps_its_order() -> None:
    upstream = Upstream({str(n): n for n in range(10)})
    lookups = BatchedLookups(upstream.fetch_many, in_flight=1, max_batch=4)

    first = asyncio.create_task(lookups.get("0"))
    await _settle()
    rest = [asyncio.create_task(lookups.get(str(n))) for n in range(1, 10)]
    upstream.release.set()

    assert await first == 0
    assert await asyncio.gather(*rest) == list(range(1, 10))
    expected = [["0"], ["1", "2", "3", "4"], ["5", "6", "7", "8"], ["9"]]
    assert upstream.batches == expected


async def test_every_waiter_of_a_failed_batch_hears_the_failure() -> None:
    upstream = Upstream({"a": 1})
    upstream.failure = ConnectionError("database away")
    lookups = BatchedLookups(upstream.fetch_many, in_flight=1, max_batch=8)

    waiters = [asyncio.create_task(lookups.get(key)) for key in ("a", "b", "a")]
    await _settle()
    upstream.release.set()
    results = await asyncio.gather(*waiters, return_exceptions=True)

    assert all(isinstance(result, ConnectionError) for result in results)


async def test_a_failure_frees_the_slot_for_the_next_lookups() -> None:
    upstream = Upstream({"a": 1})
    upstream.failure = ConnectionError("database away")
    upstream.release.set()
    lookups = BatchedLookups(upstream.fetch_many, in_flight=1, max_batch=8)

    with pytest.raises(ConnectionError):
        await lookups.get("a")
    upstream.failure = None

    assert await lookups.get("a") == 1


async def test_a_waiter_that_gives_up_does_not_disturb_the_others() -> None:
    upstream = Upstream({"a": 1, "b": 2})
    lookups = BatchedLookups(upstream.fetch_many, in_flight=1, max_batch=8)

    first = asyncio.create_task(lookups.get("a"))
    await _settle()
    impatient = asyncio.create_task(lookups.get("b"))
    patient = asyncio.create_task(lookups.get("b"))
    await _settle()
    impatient.cancel()
    upstream.release.set()

    assert await first == 1
    assert await patient == 2
    with pytest.raises(asyncio.CancelledError):
        await impatient
