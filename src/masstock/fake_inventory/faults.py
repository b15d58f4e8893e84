"""The fault switches: what the next device lookups suffer.

One set of faults is in force at a time, replaced whole through the admin API.
Each lookup takes a plan from the switch, its chances already drawn.  When
several faults are set, the server applies the plan in this order: ``delay``
first, then ``hang``, ``reset``, an error status, ``redirect``, ``garbage``;
failing all of those the lookup is answered, its body cut short (``truncate``)
or padded (``oversize``).

The error status is ``status`` when set, else 500 on an ``error_rate`` hit,
else 429 when ``retry_after`` is set; ``retry_after`` adds its ``Retry-After``
header to whichever error status is answered.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, fields, replace
from urllib.parse import urlsplit

MAX_DELAY = 3600.0
MAX_OVERSIZE = 64 * 1024 * 1024
MAX_URL_LENGTH = 2048


class BadFaults(ValueError):
    """The admin API was sent faults it cannot apply; the message says why."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Faults:
    """The faults in force; ``count`` is how many lookups they have left."""

    delay: float = 0.0
    hang: bool = False
    status: int | None = None
    error_rate: float = 0.0
    retry_after: int | None = None
    reset: bool = False
    truncate: bool = False
    garbage: bool = False
    oversize: int | None = None
    redirect: str | None = None
    count: int | None = None

    def as_json(self) -> dict[str, object]:
        """The faults that are on, as the admin API shows them."""
        return {
            field.name: getattr(self, field.name)
            for field in fields(self)
            if getattr(self, field.name) != field.default
        }

    def plan(self, *, error_hit: bool) -> Plan:
        """What one lookup suffers, given whether ``error_rate`` struck it."""
        status = self.status
        if status is None and error_hit:
            status = 500
        if status is None and self.retry_after is not None:
            status = 429
        return Plan(
            delay=self.delay,
            hang=self.hang,
            reset=self.reset,
            status=status,
            retry_after=self.retry_after if status is not None else None,
            redirect=self.redirect,
            garbage=self.garbage,
            truncate=self.truncate,
            oversize=self.oversize,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """What one lookup suffers; ``status`` is the error it answers, if any."""

    delay: float = 0.0
    hang: bool = False
    reset: bool = False
    status: int | None = None
    retry_after: int | None = None
    redirect: str | None = None
    garbage: bool = False
    truncate: bool = False
    oversize: int | None = None

    def describe(self) -> str:
        """The faults of this plan, for a log line; ``none`` when it has none."""
        names = [
            field.name
            for field in fields(self)
            if getattr(self, field.name) != field.default
        ]
        return ",".join(names) or "none"


NO_FAULTS = Faults()
NO_PLAN = Plan()


class FaultSwitch:
    """Holds the faults in force and deals them out, one lookup at a time."""

    def __init__(self, *, rng: random.Random | None = None) -> None:
        self._faults = NO_FAULTS
        # Chances of a fault, not secrets: a seedable generator is what tests need.
        self._rng = rng or random.Random()  # noqa: S311

    @property
    def current(self) -> Faults:
        """The faults in force, with the lookups they have left as ``count``."""
        return self._faults

    def set(self, faults: Faults) -> None:
        """Replace the faults in force."""
        self._faults = faults

    def clear(self) -> None:
        """Let every lookup be answered normally again."""
        self._faults = NO_FAULTS

    def take(self) -> Plan:
        """The plan for one lookup; a counted set of faults clears when spent."""
        faults = self._faults
        if faults == NO_FAULTS:
            return NO_PLAN
        if faults.count is not None:
            left = faults.count - 1
            self._faults = replace(faults, count=left) if left else NO_FAULTS

        error_hit = faults.error_rate > 0 and self._rng.random() < faults.error_rate
        return faults.plan(error_hit=error_hit)


def parse_faults(document: object) -> Faults:
    """The faults a PUT body asks for, or BadFaults naming the first bad field."""
    if not isinstance(document, dict):
        raise BadFaults("faults must be a JSON object")
    known = {field.name for field in fields(Faults)}
    unknown = sorted(str(name) for name in document if name not in known)
    if unknown:
        message = f"unknown fault {unknown[0]}; known: {', '.join(sorted(known))}"
        raise BadFaults(message)

    return Faults(
        delay=_number(document, "delay", high=MAX_DELAY) or 0.0,
        hang=_flag(document, "hang"),
        status=_integer(document, "status", low=400, high=599),
        error_rate=_number(document, "error_rate", high=1.0) or 0.0,
        retry_after=_integer(document, "retry_after", low=0, high=int(MAX_DELAY)),
        reset=_flag(document, "reset"),
        truncate=_flag(document, "truncate"),
        garbage=_flag(document, "garbage"),
        oversize=_integer(document, "oversize", low=1, high=MAX_OVERSIZE),
        redirect=_url(document, "redirect"),
        count=_integer(document, "count", low=1, high=None),
    )


def _number(document: dict[str, object], name: str, *, high: float) -> float | None:
    value = document.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadFaults(f"{name} must be a number")
    if not math.isfinite(value) or not 0 <= value <= high:
        raise BadFaults(f"{name} must be between 0 and {high:g}")
    return float(value)


def _integer(
    document: dict[str, object], name: str, *, low: int, high: int | None
) -> int | None:
    value = document.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadFaults(f"{name} must be an integer")
    if value < low:
        raise BadFaults(f"{name} must be at least {low}")
    if high is not None and value > high:
        raise BadFaults(f"{name} must be at most {high}")
    return value


def _flag(document: dict[str, object], name: str) -> bool:
    value = document.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise BadFaults(f"{name} must be true or false")
    return value


def _url(document: dict[str, object], name: str) -> str | None:
    value = document.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadFaults(f"{name} must be a string")
    if not 0 < len(value) <= MAX_URL_LENGTH or not value.isprintable():
        message = f"{name} must be printable, 1 to {MAX_URL_LENGTH} characters"
        raise BadFaults(message)
    if " " in value:
        raise BadFaults(f"{name} must not contain spaces")
    parts = urlsplit(value)
    absolute = parts.scheme in {"http", "https"} and bool(parts.netloc)
    if not absolute and not value.startswith("/"):
        raise BadFaults(f"{name} must be an http(s) URL or a path starting with /")
    return value
