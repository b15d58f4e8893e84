"""The fake inventory's fault switches: what the admin API accepts, what it deals."""

from __future__ import annotations

import random

import pytest

from masstock.fake_inventory.faults import (
    NO_PLAN,
    BadFaults,
    Faults,
    FaultSwitch,
    Plan,
    parse_faults,
)


def _switch(seed: int = 1) -> FaultSwitch:
    # A seeded generator makes the chances repeatable; nothing here is a secret.
    return FaultSwitch(rng=random.Random(seed))  # noqa: S311


def test_no_faults_means_every_lookup_is_answered_normally() -> None:
    switch = _switch()

    plans = [switch.take() for _ in range(3)]

    assert plans == [NO_PLAN, NO_PLAN, NO_PLAN]


def test_faults_without_a_count_last_until_changed() -> None:
    switch = _switch()
    switch.set(Faults(status=503))

    plans = [switch.take() for _ in range(5)]

    assert {plan.status for plan in plans} == {503}
    assert switch.current == Faults(status=503)


def test_counted_faults_apply_to_that_many_lookups_then_clear() -> None:
    switch = _switch()
    switch.set(Faults(reset=True, count=2))

    plans = [switch.take() for _ in range(3)]

    assert [plan.reset for plan in plans] == [True, True, False]
    assert switch.current == Faults()


def test_the_count_shown_is_the_lookups_left() -> None:
    switch = _switch()
    switch.set(Faults(delay=0.5, count=3))

    switch.take()

    assert switch.current.as_json() == {"delay": 0.5, "count": 2}


def test_clearing_stops_the_faults_at_once() -> None:
    switch = _switch()
    switch.set(Faults(hang=True))

    switch.clear()

    assert switch.take() == NO_PLAN


def test_an_error_rate_strikes_about_that_share_of_lookups() -> None:
    switch = _switch(seed=2026)
    switch.set(Faults(error_rate=0.25))

    statuses = [switch.take().status for _ in range(2000)]

    assert 0.22 < statuses.count(500) / 2000 < 0.28
    assert set(statuses) == {500, None}


def test_the_same_seed_strikes_the_same_lookups() -> None:
    first, second = _switch(seed=7), _switch(seed=7)
    first.set(Faults(error_rate=0.5))
    second.set(Faults(error_rate=0.5))

    firsts = [first.take().status for _ in range(50)]
    seconds = [second.take().status for _ in range(50)]

    assert firsts == seconds


def test_an_error_rate_of_one_strikes_every_lookup_and_zero_none() -> None:
    always, never = _switch(), _switch()
    always.set(Faults(error_rate=1.0))
    never.set(Faults(error_rate=0.0, delay=0.1))

    struck = [always.take().status for _ in range(20)]
    spared = [never.take().status for _ in range(20)]

    assert set(struck) == {500}
    assert set(spared) == {None}


def test_retry_after_alone_answers_429_with_its_header() -> None:
    plan = Faults(retry_after=3).plan(error_hit=False)

    assert plan == Plan(status=429, retry_after=3)


def test_a_fixed_status_wins_over_an_error_hit_and_carries_retry_after() -> None:
    plan = Faults(status=503, retry_after=3, error_rate=1.0).plan(error_hit=True)

    assert plan.status == 503
    assert plan.retry_after == 3


def test_an_error_hit_with_retry_after_answers_500_with_the_header() -> None:
    plan = Faults(error_rate=0.5, retry_after=1).plan(error_hit=True)

    assert (plan.status, plan.retry_after) == (500, 1)


def test_a_plan_names_its_faults_for_the_log() -> None:
    plan = Faults(delay=0.2, truncate=True).plan(error_hit=False)

    assert plan.describe() == "delay,truncate"
    assert NO_PLAN.describe() == "none"


def test_every_fault_can_be_set_at_once() -> None:
    document: dict[str, object] = {
        "delay": 1,
        "hang": False,
        "status": 503,
        "error_rate": 0.5,
        "retry_after": 2,
        "reset": False,
        "truncate": True,
        "garbage": False,
        "oversize": 2_000_000,
        "redirect": "http://elsewhere.invalid/device",
        "count": 4,
    }

    faults = parse_faults(document)

    assert faults == Faults(
        delay=1.0,
        status=503,
        error_rate=0.5,
        retry_after=2,
        truncate=True,
        oversize=2_000_000,
        redirect="http://elsewhere.invalid/device",
        count=4,
    )


def test_an_empty_object_sets_no_faults() -> None:
    faults = parse_faults({})

    assert faults == Faults()
    assert faults.as_json() == {}


def test_a_null_field_is_the_same_as_an_absent_one() -> None:
    faults = parse_faults({"status": None, "hang": None})

    assert faults == Faults()


def test_the_faults_shown_are_the_ones_that_are_on() -> None:
    faults = parse_faults({"hang": False, "delay": 0.25, "redirect": "/elsewhere"})

    assert faults.as_json() == {"delay": 0.25, "redirect": "/elsewhere"}


@pytest.mark.parametrize(
    ("document", "named"),
    [
        ([], "JSON object"),
        ("hang", "JSON object"),
        ({"latency": 1}, "unknown fault latency"),
        ({"delay": "1"}, "delay must be a number"),
        ({"delay": True}, "delay must be a number"),
        ({"delay": -0.1}, "delay must be between 0 and 3600"),
        ({"delay": float("nan")}, "delay must be between"),
        ({"hang": 1}, "hang must be true or false"),
        ({"reset": "yes"}, "reset must be true or false"),
        ({"status": 200}, "status must be at least 400"),
        ({"status": 600}, "status must be at most 599"),
        ({"status": 503.0}, "status must be an integer"),
        ({"status": True}, "status must be an integer"),
        ({"error_rate": 1.5}, "error_rate must be between 0 and 1"),
        ({"retry_after": -1}, "retry_after must be at least 0"),
        ({"retry_after": 1.5}, "retry_after must be an integer"),
        ({"oversize": 0}, "oversize must be at least 1"),
        ({"oversize": 1 << 30}, "oversize must be at most"),
        ({"count": 0}, "count must be at least 1"),
        ({"redirect": 302}, "redirect must be a string"),
        ({"redirect": ""}, "redirect must be printable"),
        ({"redirect": "ftp://elsewhere.invalid/"}, "http(s) URL"),
        ({"redirect": "elsewhere"}, "http(s) URL"),
        ({"redirect": "http://a.invalid/\r\nX-Evil: 1"}, "redirect must be printable"),
        ({"redirect": "http://a.invalid/a b"}, "must not contain spaces"),
    ],
)
def test_a_bad_fault_is_refused_naming_it(document: object, named: str) -> None:
    with pytest.raises(BadFaults) as refused:
        parse_faults(document)

    assert named in str(refused.value)
