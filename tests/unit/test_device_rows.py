"""Catalog rows: what makes a device, how a CSV is read, what an import refuses."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from masstock.adapters.device_csv import (
    CatalogFile,
    CatalogFileError,
    parse_records,
    parse_rows,
)
from masstock.domain.device import Device, DeviceBatch, DeviceKind
from masstock.domain.errors import ValidationFailed
from masstock.service.catalog import BATCH_SIZE, Rejection, Rows, Stage, import_catalog

HEADER = b"org,identifier,reference,mac,kind\n"
HANDSET = b"yoigo,356938035643809,REF-IPHONE-17,,device\n"
ROUTER = b"masmovil,SN-ROUTER-0001,REF-ROUTER-AX3000,a4-91-b1-00-00-01,device\n"
SIM = b"yoigo,8934040000001067556,REF-SIM-TRIPLE-YOIGO,,sim\n"
ORGS = frozenset({"yoigo", "masmovil"})
NOON = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def _fields(**changes: str) -> dict[str, str]:
    fields = {
        "org": "yoigo",
        "identifier": "356938035643809",
        "reference": "REF-IPHONE-17",
        "mac": "",
        "kind": "device",
    }
    return {**fields, **changes}


def _rows(*lines: bytes) -> list[tuple[int, Device | str]]:
    return list(parse_rows(lines, name="catalog.csv"))


def test_a_record_becomes_a_device_with_its_mac_normalized() -> None:
    device = Device.from_fields(
        **_fields(identifier="SN-ROUTER-0001", mac="a4-91-b1-00-00-01")
    )

    assert device == Device(
        org="yoigo",
        identifier="SN-ROUTER-0001",
        reference="REF-IPHONE-17",
        mac="A4:91:B1:00:00:01",
        kind=DeviceKind.DEVICE,
    )


def test_an_empty_mac_means_the_device_has_none() -> None:
    device = Device.from_fields(**_fields(mac=""))

    assert device.mac is None


def test_a_reference_of_128_characters_is_accepted() -> None:
    device = Device.from_fields(**_fields(reference="R" * 128))

    assert len(device.reference) == 128


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"org": ""}, "org must not be blank"),
        ({"org": "yo igo"}, "org may contain only letters, digits"),
        ({"identifier": "  "}, "identifier must not be blank"),
        ({"identifier": "3" * 65}, "identifier must be at most 64 characters"),
        ({"identifier": "IMEI 356938035643809"}, "identifier may contain only"),
        ({"reference": " "}, "reference must not be blank"),
        ({"reference": "R" * 129}, "reference must be at most 128 characters"),
        ({"reference": "REF\x07BELL"}, "reference must be printable text"),
        ({"mac": "00:1A:2B:3C:4D"}, "mac '00:1A:2B:3C:4D' is not a MAC address"),
        ({"mac": "00:1A-2B:3C:4D:5E"}, "is not a MAC address"),
        ({"kind": "SIM"}, "kind must be sim or device, not 'SIM'"),
        ({"kind": ""}, "kind must be sim or device"),
    ],
)
def test_a_bad_field_is_refused_with_a_reason_naming_it(
    changes: dict[str, str], reason: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        Device.from_fields(**_fields(**changes))

    assert reason in refused.value.message


def test_each_record_is_numbered_by_the_line_it_starts_on() -> None:
    rows = _rows(
        HEADER,
        HANDSET,
        b"\n",
        b'yoigo,DEVICE123456,"REF123456\n',
        b'continued",00:1A:2B:3C:4D:5E,sim\n',
        SIM,
    )

    assert [line for line, _ in rows] == [2, 4, 6]
    assert isinstance(rows[1][1], str)
    assert rows[1][1] == "reference must be printable text"


def test_columns_may_come_in_any_order() -> None:
    rows = _rows(
        b"kind,mac,reference,identifier,org\n",
        b"sim,00:1A:2B:3C:4D:5E,REF123456,DEVICE123456,yoigo\n",
    )

    assert rows == [
        (
            2,
            Device(
                org="yoigo",
                identifier="DEVICE123456",
                reference="REF123456",
                mac="00:1A:2B:3C:4D:5E",
                kind=DeviceKind.SIM,
            ),
        )
    ]


def test_a_byte_order_mark_and_crlf_line_ends_are_accepted() -> None:
    rows = _rows(b"\xef\xbb\xbf" + HEADER.replace(b"\n", b"\r\n"), b"\r\n", SIM)

    assert [line for line, _ in rows] == [3]
    assert isinstance(rows[0][1], Device)


def test_a_record_with_too_few_fields_is_refused() -> None:
    rows = _rows(HEADER, b"yoigo,356938035643809\n")

    assert rows == [(2, "expected 5 fields, found 2")]


@pytest.mark.parametrize(
    ("header", "complaint"),
    [
        (b"org,identifier,reference,kind\n", "missing mac"),
        (b"org,identifier,reference,mac,kind,colour\n", "unknown colour"),
        (b"org,identifier,reference,mac,kind,mac\n", "repeated mac"),
        (b"Org,Identifier,Reference,MAC,Kind\n", "missing org, identifier"),
    ],
)
def test_a_bad_header_is_refused_naming_the_columns(
    header: bytes, complaint: str
) -> None:
    with pytest.raises(CatalogFileError) as refused:
        _rows(header, HANDSET)

    assert refused.value.message.startswith("catalog.csv: bad header: ")
    assert complaint in refused.value.message


def test_an_empty_file_asks_for_the_header() -> None:
    with pytest.raises(CatalogFileError) as refused:
        _rows()

    assert refused.value.message == (
        "catalog.csv: line 1 must be the header org,identifier,reference,mac,kind"
    )


def test_text_that_is_not_utf8_is_refused_naming_its_line() -> None:
    with pytest.raises(CatalogFileError) as refused:
        _rows(HEADER, HANDSET, b"yoigo,DEVICE123456,REF\xe9456,,sim\n")

    assert refused.value.message == "catalog.csv: line 3 is not UTF-8 text"


def test_a_file_that_changes_during_a_pass_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "catalog.csv"
    path.write_bytes(HEADER + HANDSET)
    catalog = CatalogFile(path)
    rows = catalog.records()
    next(rows)
    path.write_bytes(HEADER + HANDSET + SIM)

    with pytest.raises(CatalogFileError) as refused:
        list(rows)

    assert refused.value.message == f"{path}: changed while being imported"


class FakeCatalog:
    """The catalog port in memory, all or nothing like the real ones."""

    def __init__(self) -> None:
        self.devices: dict[tuple[str, str], Device] = {}
        self.saves = 0

    async def save_devices(
        self, batches: Iterable[DeviceBatch], *, at: datetime
    ) -> int:
        staged = {(d.org, d.identifier): d for batch in batches for d in batch}
        self.devices.update(staged)
        self.saves += 1
        return len(staged)


def _source(*lines: bytes) -> Rows:
    return parse_records(lines, name="catalog.csv")


async def test_a_duplicate_row_names_the_line_it_duplicates() -> None:
    catalog = FakeCatalog()

    report = await import_catalog(
        catalog,
        rows=_source(HEADER, HANDSET, SIM, HANDSET),
        orgs=ORGS,
        skip_invalid=False,
        clock=lambda: NOON,
    )

    assert report.rejected == [
        Rejection(4, "duplicates line 2 (org yoigo, 356938035643809)")
    ]


async def test_the_same_identifier_in_two_orgs_is_two_devices() -> None:
    catalog = FakeCatalog()

    report = await import_catalog(
        catalog,
        rows=_source(HEADER, HANDSET, HANDSET.replace(b"yoigo", b"masmovil")),
        orgs=ORGS,
        skip_invalid=False,
        clock=lambda: NOON,
    )

    assert report.imported == 2
    assert report.rejected == []


async def test_a_row_of_an_unregistered_org_is_rejected() -> None:
    catalog = FakeCatalog()

    report = await import_catalog(
        catalog,
        rows=_source(HEADER, HANDSET, b"lebara,DEVICE123456,REF123456,,sim\n"),
        orgs=ORGS,
        skip_invalid=False,
        clock=lambda: NOON,
    )

    assert report.rejected == [Rejection(3, "org lebara is not registered")]


async def test_one_bad_row_means_nothing_is_saved() -> None:
    catalog = FakeCatalog()

    report = await import_catalog(
        catalog,
        rows=_source(HEADER, HANDSET, b"yoigo,DEVICE123456,REF123456,zz,sim\n", SIM),
        orgs=ORGS,
        skip_invalid=False,
        clock=lambda: NOON,
    )

    assert report.imported == 0
    assert [rejection.line for rejection in report.rejected] == [3]
    assert catalog.saves == 0


async def test_skip_invalid_saves_the_good_rows_and_reports_the_bad() -> None:
    catalog = FakeCatalog()

    report = await import_catalog(
        catalog,
        rows=_source(HEADER, HANDSET, b"yoigo,DEVICE123456,REF123456,zz,sim\n", SIM),
        orgs=ORGS,
        skip_invalid=True,
        clock=lambda: NOON,
    )

    assert report.imported == 2
    assert [rejection.line for rejection in report.rejected] == [3]
    assert set(catalog.devices) == {
        ("yoigo", "356938035643809"),
        ("yoigo", "8934040000001067556"),
    }


async def test_a_bad_row_after_a_full_batch_still_saves_nothing() -> None:
    catalog = FakeCatalog()
    handsets = [
        f"yoigo,SN-{number:06d},REF-HANDSET,,device\n".encode()
        for number in range(BATCH_SIZE + 1)
    ]

    report = await import_catalog(
        catalog,
        rows=_source(HEADER, *handsets, b"yoigo,,REF,,sim\n"),
        orgs=ORGS,
        skip_invalid=False,
        clock=lambda: NOON,
    )

    assert report.imported == 0
    assert [rejection.line for rejection in report.rejected] == [BATCH_SIZE + 3]
    assert catalog.devices == {}


async def test_progress_is_told_each_stage_with_its_rows() -> None:
    catalog = FakeCatalog()
    told: list[tuple[Stage, int, int | None]] = []

    await import_catalog(
        catalog,
        rows=_source(HEADER, HANDSET, ROUTER, SIM),
        orgs=ORGS,
        skip_invalid=False,
        clock=lambda: NOON,
        progress=lambda *, stage, done, total: told.append((stage, done, total)),
    )

    assert told == [
        (Stage.WRITING, 3, 3),
        (Stage.SAVING, 3, 3),
    ]
