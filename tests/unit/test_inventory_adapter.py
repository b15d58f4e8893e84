"""The inventory adapter's parts, on a scripted upstream and a clock the test moves."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from masstock.adapters.inventory.breaker import (
    BreakerState,
    CircuitBreaker,
    CircuitOpen,
)
from masstock.adapters.inventory.cache import DeviceCache
from masstock.adapters.inventory.client import (
    UpstreamBadResponse,
    UpstreamUnavailable,
    _interpret,
    _seconds,
)
from masstock.adapters.inventory.directory import HttpDeviceDirectory, InventoryConfig
from masstock.adapters.inventory.dto import DeviceDto, decode_device, to_device
from masstock.domain.device import Device, DeviceKind
from masstock.domain.errors import InventoryBadResponse, InventoryUnavailable
from masstock.domain.identifiers import is_imei

IMEI = "356938035643809"
HANDSET_DTO = DeviceDto(
    device_id=7, imei=IMEI, reference="REF-IPHONE-17", device_type="HANDSET"
)


class Ticks:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class ScriptedClient:
    """An upstream whose answers the test writes in advance, counting calls."""

    name = "inventory"

    def __init__(self, *answers: DeviceDto | Exception | None) -> None:
        self.answers = list(answers)
        self.calls = 0
        self.gate: asyncio.Event | None = None

    async def lookup(self, org: str, identifier: str) -> DeviceDto | None:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def _directory(
    client: ScriptedClient, clock: Callable[[], float] | None = None, **config: float
) -> HttpDeviceDirectory:
    settings = {"backoff": 0.0, "backoff_max": 0.0, **config}
    return HttpDeviceDirectory(
        client,  # type: ignore[arg-type]
        config=InventoryConfig(**settings),  # type: ignore[arg-type]
        clock=clock or Ticks(),
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (IMEI, True),
        ("490154203237518", True),
        ("356938035643808", False),
        ("35693803564380", False),
        ("3569380356438090", False),
        ("SN-ROUTER-0001", False),
        ("\uff13" * 15, False),
    ],
)
def test_an_imei_is_fifteen_digits_with_a_luhn_check_digit(
    value: str, expected: bool
) -> None:
    assert is_imei(value) is expected


def test_a_device_dto_becomes_the_services_device() -> None:
    dto = decode_device(
        b'{"deviceId": 7, "imei": "356938035643809", "reference": "REF-IPHONE-17",'
        b' "deviceType": "HANDSET", "mac": "a4-91-b1-00-00-01", "colour": "red"}'
    )

    device = to_device(dto, org="yoigo", identifier=IMEI, kind=None)

    assert device == Device(
        org="yoigo",
        identifier=IMEI,
        reference="REF-IPHONE-17",
        mac="A4:91:B1:00:00:01",
        kind=DeviceKind.DEVICE,
    )


@pytest.mark.parametrize(
    ("dto", "kind", "expected"),
    [
        (DeviceDto(device_type="SIM"), None, DeviceKind.SIM),
        (DeviceDto(device_type="sim_card"), None, DeviceKind.SIM),
        (DeviceDto(device_type=None), None, DeviceKind.DEVICE),
        (DeviceDto(device_type="HANDSET"), DeviceKind.SIM, DeviceKind.SIM),
    ],
)
def test_the_kind_comes_from_the_upstream_or_from_its_device_type(
    dto: DeviceDto, kind: DeviceKind | None, expected: DeviceKind
) -> None:
    assert to_device(dto, org="yoigo", identifier="X", kind=kind).kind is expected


def test_missing_fields_fall_back_and_a_bad_mac_is_dropped() -> None:
    device = to_device(
        DeviceDto(model="Pixel 10", mac="not-a-mac"),
        org="yoigo",
        identifier="X",
        kind=None,
    )

    assert (device.reference, device.mac) == ("Pixel 10", None)


@pytest.mark.parametrize(
    ("status", "body", "raised"),
    [
        (500, b"{}", UpstreamUnavailable),
        (502, b"", UpstreamUnavailable),
        (503, b"", UpstreamUnavailable),
        (504, b"", UpstreamUnavailable),
        (429, b"", UpstreamUnavailable),
        (400, b'{"code": "BAD"}', UpstreamBadResponse),
        (403, b"", UpstreamBadResponse),
        (302, b"", UpstreamBadResponse),
        (200, b"<html>oops", UpstreamBadResponse),
        (200, b'{"deviceId": "seven"}', UpstreamBadResponse),
        (200, b"[]", UpstreamBadResponse),
    ],
)
def test_unusable_answers_are_told_apart_from_passing_failures(
    status: int, body: bytes, raised: type[Exception]
) -> None:
    with pytest.raises(raised):
        _interpret(status, body, None)


def test_a_404_is_a_device_the_upstream_does_not_know() -> None:
    assert _interpret(404, b'{"code": "NOT_FOUND"}', None) is None


def test_retry_after_is_read_as_seconds_or_as_a_date() -> None:
    assert _seconds("3") == 3.0
    assert _seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert _seconds("soon") is None
    assert _seconds(None) is None


def test_the_breaker_opens_after_consecutive_failures_and_closes_on_success() -> None:
    clock = Ticks()
    breaker = CircuitBreaker(name="inventory", failures=3, cool_down=10, clock=clock)
    for _ in range(3):
        breaker.before_call()
        breaker.failed()

    with pytest.raises(CircuitOpen) as refused:
        breaker.before_call()
    clock.now += 10
    breaker.before_call()
    breaker.succeeded()

    assert refused.value.retry_after == 10
    assert breaker.state is BreakerState.CLOSED


def test_a_success_between_failures_keeps_the_breaker_closed() -> None:
    breaker = CircuitBreaker(name="inventory", failures=2, cool_down=10, clock=Ticks())

    breaker.failed()
    breaker.succeeded()
    breaker.failed()

    assert breaker.state is BreakerState.CLOSED


def test_half_open_lets_one_trial_through_and_a_failure_reopens() -> None:
    clock = Ticks()
    breaker = CircuitBreaker(name="inventory", failures=1, cool_down=5, clock=clock)
    breaker.failed()
    clock.now += 5

    breaker.before_call()
    with pytest.raises(CircuitOpen):
        breaker.before_call()
    breaker.failed()

    assert breaker.state is BreakerState.OPEN
    assert breaker.retry_after() == 5


def test_an_abandoned_trial_frees_the_half_open_slot() -> None:
    clock = Ticks()
    breaker = CircuitBreaker(name="inventory", failures=1, cool_down=5, clock=clock)
    breaker.failed()
    clock.now += 5
    breaker.before_call()

    breaker.abandoned()

    breaker.before_call()


def test_the_cache_keeps_found_longer_than_not_found_and_stale_up_to_a_bound() -> None:
    clock = Ticks()
    cache = DeviceCache(size=10, ttl=300, negative_ttl=30, max_stale=3600, clock=clock)
    device = to_device(HANDSET_DTO, org="yoigo", identifier=IMEI, kind=None)
    cache.store(("yoigo", IMEI), device)
    cache.store(("yoigo", "UNKNOWN1"), None)

    clock.now += 60
    fresh_found = cache.fresh(("yoigo", IMEI))
    fresh_missing = cache.fresh(("yoigo", "UNKNOWN1"))
    clock.now += 3540
    too_old = cache.stale(("yoigo", IMEI))

    assert fresh_found is not None
    assert fresh_found.device == device
    assert fresh_missing is None
    assert cache.stale(("yoigo", "UNKNOWN1")) is None
    assert too_old is None


def test_the_cache_forgets_the_least_recently_used_past_its_size() -> None:
    cache = DeviceCache(size=2, ttl=300, negative_ttl=30, max_stale=3600, clock=Ticks())

    for n in range(3):
        cache.store(("yoigo", f"IMEI{n}"), None)

    assert cache.stale(("yoigo", "IMEI0")) is None
    assert cache.stale(("yoigo", "IMEI2")) is not None


async def test_concurrent_lookups_of_one_device_make_one_call() -> None:
    client = ScriptedClient(HANDSET_DTO)
    client.gate = asyncio.Event()
    directory = _directory(client)

    lookups = [asyncio.create_task(directory.find("yoigo", IMEI)) for _ in range(20)]
    await asyncio.sleep(0)
    client.gate.set()
    devices = await asyncio.gather(*lookups)

    assert client.calls == 1
    assert {device.reference for device in devices if device} == {"REF-IPHONE-17"}


async def test_a_fresh_answer_spares_the_call() -> None:
    client = ScriptedClient(HANDSET_DTO)
    directory = _directory(client)

    await directory.find("yoigo", IMEI)
    await directory.find("yoigo", IMEI)

    assert client.calls == 1


async def test_passing_failures_are_retried_up_to_the_attempts() -> None:
    client = ScriptedClient(
        UpstreamUnavailable("503"), UpstreamUnavailable("503"), HANDSET_DTO
    )

    device = await _directory(client, attempts=3).find("yoigo", IMEI)

    assert device is not None
    assert client.calls == 3


async def test_when_every_attempt_fails_the_caller_is_told_to_retry_later() -> None:
    client = ScriptedClient(UpstreamUnavailable("503", retry_after=2))

    with pytest.raises(InventoryUnavailable) as caught:
        await _directory(client, attempts=2, deadline=5).find("yoigo", IMEI)

    assert client.calls == 2
    assert caught.value.retry_after == 2


async def test_an_unusable_answer_is_not_retried() -> None:
    client = ScriptedClient(UpstreamBadResponse("garbage"))

    with pytest.raises(InventoryBadResponse):
        await _directory(client, attempts=3).find("yoigo", IMEI)

    assert client.calls == 1


async def test_a_retry_after_beyond_the_deadline_ends_the_tries() -> None:
    client = ScriptedClient(UpstreamUnavailable("429", retry_after=30))

    with pytest.raises(InventoryUnavailable) as caught:
        await _directory(client, attempts=3, deadline=0.5).find("yoigo", IMEI)

    assert client.calls == 1
    assert caught.value.retry_after == 30


async def test_a_stale_answer_stands_in_while_the_upstream_fails() -> None:
    clock = Ticks()
    client = ScriptedClient(HANDSET_DTO, UpstreamUnavailable("down"))
    directory = _directory(client, clock, attempts=1, cache_ttl=60)
    first = await directory.find("yoigo", IMEI)
    clock.now += 120

    second = await directory.find("yoigo", IMEI)

    assert second == first
    assert directory.stats["stale_served"] == 1


async def test_an_open_circuit_refuses_without_calling() -> None:
    client = ScriptedClient(UpstreamUnavailable("down"))
    directory = _directory(client, attempts=1, breaker_failures=2, cache_ttl=0)
    for _ in range(2):
        with pytest.raises(InventoryUnavailable):
            await directory.find("yoigo", IMEI)

    with pytest.raises(InventoryUnavailable) as caught:
        await directory.find("yoigo", IMEI)

    assert client.calls == 2
    assert caught.value.retry_after == 10
