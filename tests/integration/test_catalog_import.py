"""The catalog import on each backend: all rows or none, updates, the sample."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from masstock.adapters.device_csv import CatalogFile, sample_catalog
from masstock.bootstrap import open_device_catalog
from masstock.domain.device import Device, DeviceFields, DeviceKind
from masstock.service.catalog import BATCH_SIZE, ImportReport, Rows, import_catalog
from masstock.settings import DEFAULT_ORGS, Settings

HEADER = "org,identifier,reference,mac,kind"
HANDSET = "yoigo,356938035643809,REF-IPHONE-17,,device"
ROUTER = "masmovil,SN-ROUTER-0001,REF-ROUTER-AX3000,a4:91:b1:00:00:01,device"
SIM = "yoigo,8934040000001067556,REF-SIM-TRIPLE-YOIGO,,sim"
MONDAY = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
TUESDAY = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _csv(folder: Path, *lines: str) -> Rows:
    path = folder / "catalog.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return CatalogFile(path).records()


async def _import(
    database_url: str,
    rows: Rows,
    *,
    skip_invalid: bool = False,
    at: datetime = MONDAY,
) -> ImportReport:
    async with open_device_catalog(Settings(database_url=database_url)) as catalog:
        return await import_catalog(
            catalog,
            rows=rows,
            orgs=DEFAULT_ORGS,
            skip_invalid=skip_invalid,
            clock=lambda: at,
        )


async def _find(database_url: str, *, org: str, identifier: str) -> Device | None:
    async with open_device_catalog(Settings(database_url=database_url)) as catalog:
        return await catalog.find(org, identifier)


def _stored(database_url: str) -> dict[tuple[str, str], datetime]:
    """Every device's (org, identifier) and update time, read straight from SQL."""
    query = "SELECT org, identifier, updated_at FROM devices"
    if database_url.startswith("sqlite:"):
        connection = sqlite3.connect(database_url.removeprefix("sqlite:///"))
        try:
            rows = connection.execute(query).fetchall()
        finally:
            connection.close()
        return {(org, ident): datetime.fromisoformat(at) for org, ident, at in rows}

    async def _read() -> list[asyncpg.Record]:
        connection = await asyncpg.connect(database_url)
        try:
            records: list[asyncpg.Record] = await connection.fetch(query)
        finally:
            await connection.close()
        return records

    return {(r["org"], r["identifier"]): r["updated_at"] for r in asyncio.run(_read())}


def test_imported_devices_are_found_by_the_catalog(
    database_url: str, tmp_path: Path
) -> None:
    rows = _csv(tmp_path, HEADER, HANDSET, ROUTER, SIM)

    report = asyncio.run(_import(database_url, rows))

    assert report == ImportReport(imported=3, rejected=[])
    router = asyncio.run(
        _find(database_url, org="masmovil", identifier="SN-ROUTER-0001")
    )
    assert router == Device(
        org="masmovil",
        identifier="SN-ROUTER-0001",
        reference="REF-ROUTER-AX3000",
        mac="A4:91:B1:00:00:01",
        kind=DeviceKind.DEVICE,
    )
    assert _stored(database_url) == {
        ("yoigo", "356938035643809"): MONDAY,
        ("masmovil", "SN-ROUTER-0001"): MONDAY,
        ("yoigo", "8934040000001067556"): MONDAY,
    }


def test_importing_again_updates_existing_devices_and_keeps_the_others(
    database_url: str, tmp_path: Path
) -> None:
    asyncio.run(_import(database_url, _csv(tmp_path, HEADER, HANDSET, ROUTER)))
    changed = "yoigo,356938035643809,REF-IPHONE-17-PRO,00:1A:2B:3C:4D:5E,sim"

    report = asyncio.run(
        _import(database_url, _csv(tmp_path, HEADER, changed), at=TUESDAY)
    )

    assert report.imported == 1
    handset = asyncio.run(
        _find(database_url, org="yoigo", identifier="356938035643809")
    )
    assert handset == Device(
        org="yoigo",
        identifier="356938035643809",
        reference="REF-IPHONE-17-PRO",
        mac="00:1A:2B:3C:4D:5E",
        kind=DeviceKind.SIM,
    )
    assert _stored(database_url) == {
        ("yoigo", "356938035643809"): TUESDAY,
        ("masmovil", "SN-ROUTER-0001"): MONDAY,
    }


def test_a_file_with_a_bad_row_imports_nothing(
    database_url: str, tmp_path: Path
) -> None:
    asyncio.run(_import(database_url, _csv(tmp_path, HEADER, HANDSET)))
    rows = _csv(
        tmp_path,
        HEADER,
        HANDSET.replace("REF-IPHONE-17", "REF-CHANGED"),
        "yoigo,DEVICE123456,REF123456,00:1A:2B:3C:4D,sim",
        SIM,
    )

    report = asyncio.run(_import(database_url, rows, at=TUESDAY))

    assert report.imported == 0
    assert [(r.line, r.reason[:27]) for r in report.rejected] == [
        (3, "mac '00:1A:2B:3C:4D' is not")
    ]
    assert _stored(database_url) == {("yoigo", "356938035643809"): MONDAY}
    handset = asyncio.run(
        _find(database_url, org="yoigo", identifier="356938035643809")
    )
    assert handset is not None
    assert handset.reference == "REF-IPHONE-17"


def test_skip_invalid_imports_the_good_rows_and_reports_the_bad(
    database_url: str, tmp_path: Path
) -> None:
    rows = _csv(tmp_path, HEADER, HANDSET, "yoigo,,REF123456,,sim", SIM, HANDSET)

    report = asyncio.run(_import(database_url, rows, skip_invalid=True))

    assert report.imported == 2
    assert [rejection.line for rejection in report.rejected] == [3, 5]
    assert set(_stored(database_url)) == {
        ("yoigo", "356938035643809"),
        ("yoigo", "8934040000001067556"),
    }


def test_a_failure_after_batches_were_written_leaves_the_catalog_as_it_was(
    database_url: str, tmp_path: Path
) -> None:
    asyncio.run(_import(database_url, _csv(tmp_path, HEADER, HANDSET)))
    handsets = [
        ("yoigo", f"SN-{number:06d}", "REF-HANDSET", None, "device")
        for number in range(BATCH_SIZE + 1)
    ]
    updated = ("yoigo", "356938035643809", "REF-CHANGED", None, "device")

    def rows() -> Iterator[tuple[int, DeviceFields | str]]:
        yield 2, updated
        yield from enumerate(handsets, start=3)
        yield BATCH_SIZE + 4, "identifier must not be blank"

    report = asyncio.run(_import(database_url, rows(), at=TUESDAY))

    assert report.imported == 0
    assert [rejection.line for rejection in report.rejected] == [BATCH_SIZE + 4]
    assert _stored(database_url) == {("yoigo", "356938035643809"): MONDAY}


def test_the_sample_catalog_loads_with_the_contract_device(database_url: str) -> None:
    with sample_catalog() as sample:
        report = asyncio.run(_import(database_url, sample.records()))

    assert report.rejected == []
    assert report.imported >= 30
    assert {org for org, _ in _stored(database_url)} == {
        "yoigo",
        "masmovil",
        "pepephone",
    }
    contract_device = asyncio.run(
        _find(database_url, org="yoigo", identifier="DEVICE123456")
    )
    assert contract_device == Device(
        org="yoigo",
        identifier="DEVICE123456",
        reference="REF123456",
        mac="00:1A:2B:3C:4D:5E",
        kind=DeviceKind.SIM,
    )


def test_a_reference_keeps_its_backslashes_and_quotes(
    database_url: str, tmp_path: Path
) -> None:
    reference = 'REF\\N "A\\\\B" \\t'
    quoted = reference.replace('"', '""')
    odd_line = f'yoigo,SN-ODD,"{quoted}",,device'

    asyncio.run(_import(database_url, _csv(tmp_path, HEADER, odd_line)))

    odd = asyncio.run(_find(database_url, org="yoigo", identifier="SN-ODD"))
    assert odd is not None
    assert odd.reference == reference
    asyncio.run(_import(database_url, _csv(tmp_path, HEADER, HANDSET)))
    rows = _csv(tmp_path, HEADER, odd_line)
    again = asyncio.run(_import(database_url, rows, at=TUESDAY))
    assert again.imported == 1
    odd = asyncio.run(_find(database_url, org="yoigo", identifier="SN-ODD"))
    assert odd is not None
    assert odd.reference == reference
