"""Device catalogs as CSV files, header ``org,identifier,reference,mac,kind``.

Columns may come in any order; ``mac`` may be empty.  Each record is numbered
by the physical line it starts on (the header is line 1), so that an operator
can find it in an editor.
"""

from __future__ import annotations

import csv
import stat
from collections.abc import Generator, Iterable, Iterator
from contextlib import contextmanager
from importlib import resources
from operator import itemgetter
from pathlib import Path

from masstock.domain.device import Device, DeviceFields, device_fields
from masstock.domain.errors import ValidationFailed

COLUMNS = ("org", "identifier", "reference", "mac", "kind")
HEADER = ",".join(COLUMNS)

_SAMPLE = "sample-catalog.csv"
_BUFFER = 1 << 20


class CatalogFileError(ValidationFailed):
    """The file cannot be read as a device catalog at all; nothing is imported."""


def parse_records(
    lines: Iterable[bytes], *, name: str
) -> Iterator[tuple[int, DeviceFields | str]]:
    """Each record of a catalog, by line number: the device's fields, or why none.

    Raises CatalogFileError, naming ``name``, for a bad header, text that is
    not UTF-8, or a record the CSV reader cannot split.
    """
    reader = csv.reader(_decoded(lines, name=name))
    try:
        pick = itemgetter(*_positions(next(reader, None), name=name))
        previous = reader.line_num
        for record in reader:
            line = previous + 1
            previous = reader.line_num
            if len(record) != len(COLUMNS):
                if record:
                    yield line, f"expected {len(COLUMNS)} fields, found {len(record)}"
                continue
            try:
                row: DeviceFields | str = device_fields(*pick(record))
            except ValidationFailed as exc:
                row = exc.message
            yield line, row
    except csv.Error as exc:
        message = f"{name}: line {reader.line_num}: {exc}"
        raise CatalogFileError(message) from None


def parse_rows(
    lines: Iterable[bytes], *, name: str
) -> Iterator[tuple[int, Device | str]]:
    """Each record of a catalog, by line number: the device, or why it is none.

    Raises CatalogFileError as ``parse_records`` does.
    """
    return _as_devices(parse_records(lines, name=name))


def _as_devices(
    records: Iterable[tuple[int, DeviceFields | str]],
) -> Iterator[tuple[int, Device | str]]:
    for line, row in records:
        yield line, row if isinstance(row, str) else Device.of(row)


def _decoded(lines: Iterable[bytes], *, name: str) -> Iterator[str]:
    number = 0
    try:
        for number, raw in enumerate(lines, start=1):
            if number == 1:
                yield raw.decode("utf-8").removeprefix("\ufeff")
            else:
                yield raw.decode("utf-8")
    except UnicodeDecodeError:
        message = f"{name}: line {number} is not UTF-8 text"
        raise CatalogFileError(message) from None


def _positions(header: list[str] | None, *, name: str) -> tuple[int, ...]:
    if not header:
        message = f"{name}: line 1 must be the header {HEADER}"
        raise CatalogFileError(message)
    names = [column.strip() for column in header]

    missing = [column for column in COLUMNS if column not in names]
    unknown = [column for column in names if column not in COLUMNS]
    twice = [column for column in COLUMNS if names.count(column) > 1]
    problems = [
        f"{what} {', '.join(columns)}"
        for what, columns in (
            ("missing", missing),
            ("unknown", unknown),
            ("repeated", twice),
        )
        if columns
    ]
    if problems:
        message = (
            f"{name}: bad header: {'; '.join(problems)} "
            f"(expected {HEADER} in any order)"
        )
        raise CatalogFileError(message)
    return tuple(names.index(column) for column in COLUMNS)


class CatalogFile:
    """A catalog on disk, read afresh on each pass over it."""

    def __init__(self, path: Path, *, name: str | None = None) -> None:
        """Check that ``path`` is a readable catalog with a good header."""
        self.path = path
        self.name = name or str(path)
        self._stamp = self._stat()
        first = self.records()
        next(first, None)
        first.close()

    def records(self) -> Generator[tuple[int, DeviceFields | str], None, None]:
        """One pass over the file's records, as the checked fields of devices.

        Raises CatalogFileError if the file has changed by the end of the pass.
        """
        try:
            with self.path.open("rb", buffering=_BUFFER) as file:
                yield from parse_records(file, name=self.name)
        except OSError as exc:
            raise self._unreadable(exc) from exc
        if self._stat() != self._stamp:
            raise CatalogFileError(f"{self.name}: changed while being imported")

    def rows(self) -> Iterator[tuple[int, Device | str]]:
        """One pass over the file's records, as devices; raises as ``records``."""
        return _as_devices(self.records())

    def count_lines(self) -> int:
        """The file's physical lines, quickly: an estimate of its records."""
        lines = 0
        try:
            with self.path.open("rb") as file:
                while chunk := file.read(_BUFFER):
                    lines += chunk.count(b"\n")
        except OSError as exc:
            raise self._unreadable(exc) from exc
        return lines

    def _stat(self) -> tuple[int, int]:
        try:
            status = self.path.stat()
        except OSError as exc:
            raise self._unreadable(exc) from exc
        if not stat.S_ISREG(status.st_mode):
            raise CatalogFileError(f"{self.name}: not a regular file")
        return status.st_size, status.st_mtime_ns

    def _unreadable(self, exc: OSError) -> CatalogFileError:
        return CatalogFileError(f"{self.name}: {exc.strerror or exc}")


@contextmanager
def sample_catalog() -> Iterator[CatalogFile]:
    """The sample catalog that ships inside the package."""
    resource = resources.files("masstock.data").joinpath(_SAMPLE)
    with resources.as_file(resource) as path:
        yield CatalogFile(path, name=f"sample catalog {_SAMPLE}")
