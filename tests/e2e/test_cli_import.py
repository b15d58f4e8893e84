"""``masstock devices import`` as an operator runs it: a real process."""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

HEADER = "org,identifier,reference,mac,kind"
HANDSET = "yoigo,356938035643809,REF-IPHONE-17,,device"
ROUTER = "masmovil,SN-ROUTER-0001,REF-ROUTER-AX3000,A4:91:B1:00:00:01,device"
SIM = "yoigo,8934040000001067556,REF-SIM-TRIPLE-YOIGO,,sim"
SUMMARY = re.compile(
    r"imported (\d+) devices? \((\d+) rows? rejected\) in \d+\.\d s, [\d,]+ rows/s"
)


def _import(
    *args: str, database_url: str, cwd: Path, orgs: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MASSTOCK_DATABASE_URL": database_url}
    env.pop("MASSTOCK_ORGS", None)
    if orgs is not None:
        env["MASSTOCK_ORGS"] = orgs
    return subprocess.run(
        [sys.executable, "-m", "masstock", "devices", "import", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _catalog(folder: Path, *lines: str) -> str:
    path = folder / "catalog.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def _sqlite_devices(path: Path) -> set[tuple[str, str]]:
    connection = sqlite3.connect(path)
    try:
        rows = connection.execute("SELECT org, identifier FROM devices").fetchall()
    finally:
        connection.close()
    return set(rows)


def test_a_catalog_is_imported_into_a_new_database_with_a_summary(
    tmp_path: Path,
) -> None:
    database = tmp_path / "masstock.db"
    catalog = _catalog(tmp_path, HEADER, HANDSET, ROUTER, SIM)

    result = _import(catalog, database_url=f"sqlite:///{database}", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    summary = SUMMARY.fullmatch(result.stdout.strip())
    assert summary is not None, result.stdout
    assert summary.groups() == ("3", "0")
    assert _sqlite_devices(database) == {
        ("yoigo", "356938035643809"),
        ("masmovil", "SN-ROUTER-0001"),
        ("yoigo", "8934040000001067556"),
    }


def test_bad_rows_are_listed_by_line_and_nothing_is_imported(tmp_path: Path) -> None:
    database = tmp_path / "masstock.db"
    catalog = _catalog(
        tmp_path,
        HEADER,
        HANDSET,
        "pepephone,SN-ONT-HG8145X6-82213,REF-ONT-HG8145X6,,device",
        "yoigo,DEVICE123456,REF123456,00:1A:2B:3C:4D,sim",
        SIM,
        HANDSET,
    )

    result = _import(
        catalog, database_url=f"sqlite:///{database}", cwd=tmp_path, orgs="yoigo"
    )

    assert result.returncode == 1
    assert result.stderr.splitlines()[-4:] == [
        "line 3: org pepephone is not registered",
        "line 4: mac '00:1A:2B:3C:4D' is not a MAC address like 00:1A:2B:3C:4D:5E",
        "line 6: duplicates line 2 (org yoigo, 356938035643809)",
        "masstock: nothing imported; fix the rows above or use --skip-invalid",
    ]
    assert result.stdout.startswith("imported 0 devices (3 rows rejected) in ")
    assert _sqlite_devices(database) == set()


def test_skip_invalid_imports_the_good_rows_and_still_lists_the_bad(
    tmp_path: Path,
) -> None:
    database = tmp_path / "masstock.db"
    catalog = _catalog(tmp_path, HEADER, HANDSET, "yoigo,,REF123456,,sim", SIM)

    result = _import(
        catalog, "--skip-invalid", database_url=f"sqlite:///{database}", cwd=tmp_path
    )

    assert result.returncode == 0, result.stderr
    assert "line 3: identifier must not be blank" in result.stderr.splitlines()
    assert result.stdout.startswith("imported 2 devices (1 row rejected) in ")
    assert _sqlite_devices(database) == {
        ("yoigo", "356938035643809"),
        ("yoigo", "8934040000001067556"),
    }


def test_the_sample_catalog_loads_the_contract_device(tmp_path: Path) -> None:
    database = tmp_path / "masstock.db"

    result = _import("--sample", database_url=f"sqlite:///{database}", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert ("yoigo", "DEVICE123456") in _sqlite_devices(database)
    assert re.match(r"imported \d+ devices \(0 rows rejected\)", result.stdout)


@pytest.mark.parametrize(
    ("content", "args", "complaint"),
    [
        (None, ["missing.csv"], "missing.csv: No such file or directory"),
        (b"org,identifier,ref\n", ["catalog.csv"], "catalog.csv: bad header: "),
        (HEADER.encode() + b"\nyoigo,\xff\n", ["catalog.csv"], "not UTF-8 text"),
        (None, [], "give either FILE or --sample"),
    ],
)
def test_an_unusable_input_exits_2_with_one_line_and_touches_no_database(
    tmp_path: Path, content: bytes | None, args: list[str], complaint: str
) -> None:
    if content is not None:
        (tmp_path / "catalog.csv").write_bytes(content)
    database = tmp_path / "masstock.db"

    result = _import(*args, database_url=f"sqlite:///{database}", cwd=tmp_path)

    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("masstock: ")
    assert complaint in result.stderr
    assert not database.exists()


@pytest.mark.postgres
def test_a_catalog_is_imported_into_postgresql(
    postgres_url: str, tmp_path: Path
) -> None:
    catalog = _catalog(tmp_path, HEADER, HANDSET, ROUTER)

    result = _import(catalog, database_url=postgres_url, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("imported 2 devices (0 rows rejected) in ")

    async def _devices() -> list[asyncpg.Record]:
        connection = await asyncpg.connect(postgres_url)
        try:
            rows: list[asyncpg.Record] = await connection.fetch(
                "SELECT org, identifier, mac FROM devices ORDER BY org"
            )
        finally:
            await connection.close()
        return rows

    assert [tuple(row) for row in asyncio.run(_devices())] == [
        ("masmovil", "SN-ROUTER-0001", "A4:91:B1:00:00:01"),
        ("yoigo", "356938035643809", None),
    ]
