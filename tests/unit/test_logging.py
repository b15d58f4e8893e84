"""Log events as the service writes them: one event, one line, one write."""

from __future__ import annotations

import asyncio
import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import PurePosixPath

import pytest
import structlog

from masstock.bootstrap import configure_logging
from masstock.settings import load_settings


class _Stream(io.StringIO):
    """A stand-in for stderr that remembers each write."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return super().write(text)


@pytest.fixture
def stderr() -> Iterator[_Stream]:
    yield _Stream()
    structlog.reset_defaults()


@pytest.mark.parametrize("log_format", ["json", "console"])
def test_each_event_is_written_whole_in_one_call(
    stderr: _Stream, monkeypatch: pytest.MonkeyPatch, log_format: str
) -> None:
    # Workers share one log file: an event split over two writes can be cut
    # in two by another worker's event.
    monkeypatch.setenv("MASSTOCK_LOG_FORMAT", log_format)
    configure_logging(load_settings(), stderr)
    log = structlog.get_logger("masstock.test")

    log.info("reservation created", org="yoigo", dealer_id="DEALER001")
    log.info("reservation closed", org="yoigo", dealer_id="DEALER001")

    assert len(stderr.writes) == 2
    assert all(write.endswith("\n") for write in stderr.writes)
    assert all(write.count("\n") == 1 for write in stderr.writes)


def test_json_events_carry_their_fields_and_level(
    stderr: _Stream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MASSTOCK_LOG_FORMAT", "json")
    configure_logging(load_settings(), stderr)

    structlog.get_logger("masstock.test").info("reservation created", org="yoigo")

    event = json.loads(stderr.writes[0])
    assert event["event"] == "reservation created"
    assert event["org"] == "yoigo"
    assert event["level"] == "info"
    assert event["timestamp"].endswith("Z")


def test_events_below_the_level_are_not_written(
    stderr: _Stream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MASSTOCK_LOG_LEVEL", "warning")
    configure_logging(load_settings(), stderr)
    log = structlog.get_logger("masstock.test")

    log.info("reservation created", org="yoigo")
    log.warning("database unavailable")

    assert len(stderr.writes) == 1
    assert "database unavailable" in stderr.writes[0]


def test_json_timestamps_are_utc_now_to_the_microsecond(
    stderr: _Stream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MASSTOCK_LOG_FORMAT", "json")
    configure_logging(load_settings(), stderr)
    before = datetime.now(UTC)

    structlog.get_logger("masstock.test").info("reservation created")

    stamp = json.loads(stderr.writes[0])["timestamp"]
    at = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", stamp)
    assert before - timedelta(seconds=1) < at <= datetime.now(UTC)


def test_values_json_cannot_hold_are_written_as_text(
    stderr: _Stream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MASSTOCK_LOG_FORMAT", "json")
    configure_logging(load_settings(), stderr)

    where = PurePosixPath("/var/lib/masstock")
    structlog.get_logger("masstock.test").info("odd", path=where)

    assert json.loads(stderr.writes[0])["path"] == "/var/lib/masstock"


def test_events_of_one_turn_of_the_loop_leave_in_whole_lines_and_few_writes(
    stderr: _Stream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MASSTOCK_LOG_FORMAT", "json")
    configure_logging(load_settings(), stderr)
    log = structlog.get_logger("masstock.test")

    async def burst() -> int:
        for n in range(200):
            log.info("reservation created", device_id=f"IMEI-{n:04}")
        written_before_the_turn_ended = len(stderr.writes)
        await asyncio.sleep(0)
        return written_before_the_turn_ended

    before_the_end = asyncio.run(burst())

    events = [json.loads(line) for line in stderr.getvalue().splitlines()]
    assert [e["device_id"] for e in events] == [f"IMEI-{n:04}" for n in range(200)]
    assert 1 < len(stderr.writes) < 200
    assert before_the_end < len(stderr.writes)
    assert all(write.endswith("\n") for write in stderr.writes)
    assert all(len(write.encode()) <= 4096 for write in stderr.writes)
