"""Loading the device catalog in bulk: check every row, then write all or none.

The rows are read once.  Each is checked as it comes, and the good ones go
straight on to the catalog in batches, inside one transaction; the bad ones
are collected for the report.  When there are bad ones and the caller did not
ask to skip them, the pass ends by failing inside that transaction, so that
the catalog rolls back and nothing is imported; the rows after the first bad
one are then only checked, not sent.  Any other failure, of the file or of
the database, leaves the catalog as it was too.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple, Protocol

import structlog

from masstock.domain.device import DeviceBatch, DeviceFields
from masstock.domain.errors import StorageUnavailable
from masstock.service.ports import Clock, DeviceCatalog

log = structlog.get_logger(__name__)

BATCH_SIZE = 10_000

# The rows of a catalog, read once: each row's line number in the file, with
# the checked fields of the device it describes or the reason it describes none.
Rows = Iterable[tuple[int, DeviceFields | str]]


class Stage(StrEnum):
    WRITING = "writing"
    SAVING = "saving"


class OnProgress(Protocol):
    """Told how far an import has got, every batch of rows."""

    def __call__(self, *, stage: Stage, done: int, total: int | None) -> None:
        """``done`` rows of ``stage`` so far, out of ``total`` when known."""
        ...


class Rejection(NamedTuple):
    line: int
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportReport:
    """What an import did: devices written, and the rows it turned down."""

    imported: int
    rejected: list[Rejection]


@dataclass(slots=True)
class _Tally:
    good: int = 0
    rejected: list[Rejection] = field(default_factory=list)


class _Refused(Exception):
    """Raised inside the catalog's transaction so that it writes nothing."""


def _quiet(*, stage: Stage, done: int, total: int | None) -> None:
    return None


async def import_catalog(
    catalog: DeviceCatalog,
    *,
    rows: Rows,
    orgs: Collection[str],
    skip_invalid: bool,
    clock: Clock,
    progress: OnProgress | None = None,
) -> ImportReport:
    """Check every row; unless some are bad, write the good ones, all or none.

    With ``skip_invalid`` the good rows are written even when others are bad.
    """
    tally = _Tally()
    batches = _batches(
        rows,
        orgs=orgs,
        tally=tally,
        skip_invalid=skip_invalid,
        progress=progress or _quiet,
    )

    try:
        imported = await catalog.save_devices(batches, at=clock())
    except _Refused:
        log.info(
            "catalog import refused", good=tally.good, rejected=len(tally.rejected)
        )
        return ImportReport(imported=0, rejected=tally.rejected)
    except StorageUnavailable as exc:
        raise StorageUnavailable(
            "Unable to write the device catalog",
            "Nothing was imported. Please try again later.",
        ) from exc

    log.info("catalog imported", imported=imported, rejected=len(tally.rejected))
    return ImportReport(imported=imported, rejected=tally.rejected)


def _batches(
    rows: Rows,
    *,
    orgs: Collection[str],
    tally: _Tally,
    skip_invalid: bool,
    progress: OnProgress,
) -> Iterator[DeviceBatch]:
    """The good rows in batches, the bad ones in ``tally``; _Refused at the end
    if nothing is to be imported."""
    first_lines: dict[str, dict[str, int]] = {org: {} for org in orgs}
    rejected = tally.rejected
    batch: list[DeviceFields] = []
    count = good = 0
    for count, (line, row) in enumerate(rows, start=1):
        if count % BATCH_SIZE == 0:
            progress(stage=Stage.WRITING, done=count, total=None)
        if isinstance(row, str):
            rejected.append(Rejection(line, row))
            continue
        org, identifier = row[0], row[1]
        seen = first_lines.get(org)
        if seen is None:
            rejected.append(Rejection(line, f"org {org} is not registered"))
            continue
        first = seen.setdefault(identifier, line)
        if first != line:
            reason = f"duplicates line {first} (org {org}, {identifier})"
            rejected.append(Rejection(line, reason))
            continue
        good += 1
        if rejected and not skip_invalid:
            continue
        batch.append(row)
        if len(batch) == BATCH_SIZE:
            yield DeviceBatch(batch)
            batch = []

    tally.good = good
    progress(stage=Stage.WRITING, done=count, total=count)
    if not good or (rejected and not skip_invalid):
        raise _Refused
    if batch:
        yield DeviceBatch(batch)
    progress(stage=Stage.SAVING, done=good, total=good)
