"""Loading the device catalog in bulk: check every row, then write all or none.

The rows are read twice rather than held in memory: a first pass checks them
all and builds the report, a second streams the good ones to the catalog in
batches, inside one transaction, so that any failure leaves it as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple, Protocol

import structlog

from masstock.domain.device import Device
from masstock.domain.errors import MasstockError, StorageUnavailable
from masstock.service.ports import Clock, DeviceCatalog

log = structlog.get_logger(__name__)

BATCH_SIZE = 10_000

# One pass over the rows of a catalog: each row's line number in the file,
# with the device it describes or the reason it describes none.
RowSource = Callable[[], Iterable[tuple[int, Device | str]]]


class Stage(StrEnum):
    CHECKING = "checking"
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


class CatalogChanged(MasstockError):
    """The rows differed between the check and the write; nothing was imported."""

    code = "VALIDATION_ERROR"

    def __init__(self) -> None:
        super().__init__(
            "the catalog changed while it was being imported; nothing was imported"
        )


def _quiet(*, stage: Stage, done: int, total: int | None) -> None:
    return None


async def import_catalog(
    catalog: DeviceCatalog,
    *,
    rows: RowSource,
    orgs: Collection[str],
    skip_invalid: bool,
    clock: Clock,
    progress: OnProgress | None = None,
) -> ImportReport:
    """Check every row; unless some are bad, write the good ones, all or none.

    With ``skip_invalid`` the good rows are written even when others are bad.
    """
    progress = progress or _quiet
    good, rejected = _check(rows(), orgs=orgs, progress=progress)
    if not good or (rejected and not skip_invalid):
        log.info("catalog import refused", good=good, rejected=len(rejected))
        return ImportReport(imported=0, rejected=rejected)

    batches = _batches(
        rows(),
        skipped={rejection.line for rejection in rejected},
        orgs=orgs,
        expected=good,
        progress=progress,
    )
    try:
        imported = await catalog.save_devices(batches, at=clock())
    except StorageUnavailable as exc:
        raise StorageUnavailable(
            "Unable to write the device catalog",
            "Nothing was imported. Please try again later.",
        ) from exc

    log.info("catalog imported", imported=imported, rejected=len(rejected))
    return ImportReport(imported=imported, rejected=rejected)


def _check(
    rows: Iterable[tuple[int, Device | str]],
    *,
    orgs: Collection[str],
    progress: OnProgress,
) -> tuple[int, list[Rejection]]:
    first_lines: dict[str, dict[str, int]] = {org: {} for org in orgs}
    rejected: list[Rejection] = []
    count = good = 0
    for count, (line, row) in enumerate(rows, start=1):
        if count % BATCH_SIZE == 0:
            progress(stage=Stage.CHECKING, done=count, total=None)
        if isinstance(row, str):
            rejected.append(Rejection(line, row))
            continue
        if row.org not in orgs:
            rejected.append(Rejection(line, f"org {row.org} is not registered"))
            continue
        first = first_lines[row.org].setdefault(row.identifier, line)
        if first != line:
            reason = f"duplicates line {first} (org {row.org}, {row.identifier})"
            rejected.append(Rejection(line, reason))
            continue
        good += 1

    progress(stage=Stage.CHECKING, done=count, total=count)
    return good, rejected


def _batches(
    rows: Iterable[tuple[int, Device | str]],
    *,
    skipped: Collection[int],
    orgs: Collection[str],
    expected: int,
    progress: OnProgress,
) -> Iterator[list[Device]]:
    batch: list[Device] = []
    written = 0
    for line, row in rows:
        if line in skipped:
            continue
        if isinstance(row, str) or row.org not in orgs:
            raise CatalogChanged
        batch.append(row)
        if len(batch) == BATCH_SIZE:
            yield batch
            written += len(batch)
            progress(stage=Stage.WRITING, done=written, total=expected)
            batch = []
    if batch:
        yield batch
        written += len(batch)
        progress(stage=Stage.WRITING, done=written, total=expected)

    if written != expected:
        raise CatalogChanged
    progress(stage=Stage.SAVING, done=written, total=expected)
