"""Claiming, finishing and abandoning idempotency keys, over an in-memory store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from masstock.domain.errors import (
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    StorageUnavailable,
)
from masstock.service.idempotency import IN_FLIGHT_TIMEOUT, Idempotency
from masstock.service.ports import Claim, KeyCompletion, StoredResponse
from tests.unit.fakes import FakeClock

ANSWER = StoredResponse(200, "application/json", b'{"reservation_id":"r-1"}')


@dataclass
class Row:
    fingerprint: str
    claimed_at: datetime
    expires_at: datetime
    stored: StoredResponse | None = None


class FakeKeys:
    """Keys in a dict, with the databases' rules."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str, str], Row] = {}
        self.down = False

    async def claim(
        self,
        *,
        org: str,
        caller: str,
        key: str,
        fingerprint: str,
        now: datetime,
        expires_at: datetime,
        stale_before: datetime,
    ) -> Claim:
        row = self.rows.get((org, caller, key))
        if row is None or row.expires_at <= now:
            self.rows[(org, caller, key)] = Row(fingerprint, now, expires_at)
            return Claim("claimed")
        if row.fingerprint != fingerprint:
            return Claim("reused")
        if row.stored is not None:
            return Claim("replay", row.stored)
        if row.claimed_at < stale_before:
            row.claimed_at = now
            return Claim("claimed")
        return Claim("in_use")

    async def complete(
        self, *, org: str, caller: str, key: str, stored: StoredResponse
    ) -> None:
        self.rows[(org, caller, key)].stored = stored

    async def release(self, *, org: str, caller: str, key: str) -> None:
        if self.down:
            raise StorageUnavailable
        if self.rows[(org, caller, key)].stored is None:
            del self.rows[(org, caller, key)]

    async def purge(self, *, now: datetime) -> int:
        due = [k for k, row in self.rows.items() if row.expires_at <= now]
        for k in due:
            del self.rows[k]
        return len(due)


@pytest.fixture
def keys() -> FakeKeys:
    return FakeKeys()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def idempotency(keys: FakeKeys, clock: FakeClock) -> Idempotency:
    return Idempotency(keys=keys, clock=clock, ttl=timedelta(hours=24))


async def test_a_first_request_claims_its_key(idempotency: Idempotency) -> None:
    claim = await idempotency.begin(
        org="yoigo", caller="", key="pos-1", fingerprint="f1"
    )

    assert claim == Claim("claimed")


async def test_a_finished_request_is_replayed(idempotency: Idempotency) -> None:
    await idempotency.begin(org="yoigo", caller="", key="pos-1", fingerprint="f1")
    completion = KeyCompletion(
        org="yoigo", caller="", key="pos-1", render=lambda _: ANSWER
    )
    await idempotency.finish(completion, ANSWER)

    claim = await idempotency.begin(
        org="yoigo", caller="", key="pos-1", fingerprint="f1"
    )

    assert claim == Claim("replay", ANSWER)


async def test_an_answer_written_with_the_change_is_not_written_again(
    idempotency: Idempotency, keys: FakeKeys
) -> None:
    await idempotency.begin(org="yoigo", caller="", key="pos-1", fingerprint="f1")
    completion = KeyCompletion(
        org="yoigo", caller="", key="pos-1", render=lambda _: ANSWER, written=True
    )

    await idempotency.finish(completion, ANSWER)

    assert keys.rows[("yoigo", "", "pos-1")].stored is None


async def test_another_request_under_the_key_is_refused(
    idempotency: Idempotency,
) -> None:
    await idempotency.begin(org="yoigo", caller="", key="pos-1", fingerprint="f1")

    with pytest.raises(IdempotencyKeyReused):
        await idempotency.begin(org="yoigo", caller="", key="pos-1", fingerprint="f2")


async def test_a_retry_during_the_first_request_is_told_it_is_in_use(
    idempotency: Idempotency,
) -> None:
    await idempotency.begin(org="yoigo", caller="", key="pos-1", fingerprint="f1")

    with pytest.raises(IdempotencyKeyInUse):
        await idempotency.begin(org="yoigo", caller="", key="pos-1", fingerprint="f1")


async def test_a_claim_left_by_a_dead_request_is_taken_over(
    idempotency: Idempotency, clock: FakeClock
) -> None:
    await idempotency.begin(org="yoigo", caller="", key="pos-1", fingerprint="f1")
    clock.advance(IN_FLIGHT_TIMEOUT.total_seconds() + 1)

    claim = await idempotency.begin(
        org="yoigo", caller="", key="pos-1", fingerprint="f1"
    )

    assert claim == Claim("claimed")


async def test_an_abandoned_claim_lets_the_retry_run_afresh(
    idempotency: Idempotency,
) -> None:
    await idempotency.begin(org="yoigo", caller="", key="pos-1", fingerprint="f1")

    await idempotency.abandon(org="yoigo", caller="", key="pos-1")
    claim = await idempotency.begin(
        org="yoigo", caller="", key="pos-1", fingerprint="f1"
    )

    assert claim == Claim("claimed")


async def test_abandoning_while_the_database_is_away_leaves_the_claim_to_go_stale(
    idempotency: Idempotency, keys: FakeKeys
) -> None:
    await idempotency.begin(org="yoigo", caller="", key="pos-1", fingerprint="f1")
    keys.down = True

    await idempotency.abandon(org="yoigo", caller="", key="pos-1")

    assert ("yoigo", "", "pos-1") in keys.rows


async def test_keys_past_their_time_are_purged(
    idempotency: Idempotency, clock: FakeClock
) -> None:
    await idempotency.begin(org="yoigo", caller="", key="pos-1", fingerprint="f1")
    clock.advance(24 * 3600)

    purged = await idempotency.purge()

    assert purged == 1


async def test_the_same_key_from_two_callers_is_claimed_by_each(
    idempotency: Idempotency,
) -> None:
    await idempotency.begin(
        org="yoigo", caller="pos-madrid", key="pos-1", fingerprint="f1"
    )

    claim = await idempotency.begin(
        org="yoigo", caller="pos-bilbao", key="pos-1", fingerprint="f2"
    )

    assert claim == Claim("claimed")


async def _answer(
    idempotency: Idempotency, *, caller: str, answer: StoredResponse
) -> None:
    await idempotency.begin(org="yoigo", caller=caller, key="pos-1", fingerprint="f1")
    completion = KeyCompletion(
        org="yoigo", caller=caller, key="pos-1", render=lambda _: answer
    )
    await idempotency.finish(completion, answer)


async def test_each_caller_replays_its_own_answer_under_a_shared_key(
    idempotency: Idempotency,
) -> None:
    madrid = StoredResponse(200, "application/json", b'{"reservation_id":"r-1"}')
    bilbao = StoredResponse(200, "application/json", b'{"reservation_id":"r-2"}')
    await _answer(idempotency, caller="pos-madrid", answer=madrid)
    await _answer(idempotency, caller="pos-bilbao", answer=bilbao)

    from_madrid = await idempotency.begin(
        org="yoigo", caller="pos-madrid", key="pos-1", fingerprint="f1"
    )
    from_bilbao = await idempotency.begin(
        org="yoigo", caller="pos-bilbao", key="pos-1", fingerprint="f1"
    )

    assert from_madrid == Claim("replay", madrid)
    assert from_bilbao == Claim("replay", bilbao)


async def test_abandoning_a_claim_leaves_another_callers_key_alone(
    idempotency: Idempotency, keys: FakeKeys
) -> None:
    await idempotency.begin(
        org="yoigo", caller="pos-madrid", key="pos-1", fingerprint="f1"
    )
    await idempotency.begin(
        org="yoigo", caller="pos-bilbao", key="pos-1", fingerprint="f1"
    )

    await idempotency.abandon(org="yoigo", caller="pos-madrid", key="pos-1")

    assert list(keys.rows) == [("yoigo", "pos-bilbao", "pos-1")]
