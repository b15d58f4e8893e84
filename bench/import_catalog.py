"""How fast ``masstock devices import`` loads a catalog, in rows per second.

Generates a CSV of distinct devices in a temporary folder, imports it through
the real command (a new process, as an operator would run it), imports it a
second time (every row an update), then removes everything it made:

    .venv/bin/python bench/import_catalog.py --rows 1000000 \\
        --database-url postgresql://postgres@127.0.0.1:5432/masstock_bench

A PostgreSQL database named in the URL is created for the run and dropped
after it; it must not exist beforehand.  Without ``--database-url`` the run
uses an SQLite file in the temporary folder.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg

ORGS = ("yoigo", "masmovil", "pepephone")
MAX_ROWS = 5_000_000


def write_catalog(path: Path, *, rows: int, invalid: int) -> None:
    """A catalog of ``rows`` distinct devices, then ``invalid`` bad rows."""
    with path.open("w", encoding="utf-8", newline="") as file:
        file.write("org,identifier,reference,mac,kind\n")
        for index in range(rows):
            file.write(_row(index))
        for index in range(invalid):
            file.write(f"yoigo,BAD ID {index},REF-BAD,,device\n")


def _row(index: int) -> str:
    org = ORGS[index % len(ORGS)]
    if index % 3 == 0:
        return f"{org},8934{index:016d},REF-SIM-TRIPLE,,sim\n"
    if index % 5 == 0:
        mac = ":".join(f"{(index >> shift) & 0xFF:02X}" for shift in (16, 8, 0))
        return f"{org},SN-ROUTER-{index:010d},REF-ROUTER-AX3000,A4:91:B1:{mac},device\n"
    return f"{org},35{index:013d},REF-HANDSET-{index % 97:02d},,device\n"


@contextmanager
def scratch_database(url: str | None, folder: Path) -> Iterator[str]:
    """The database to import into, made for this run and removed after it."""
    if url is None or url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///")) if url else folder / "bench.db"
        if path.exists():
            sys.exit(f"import_catalog: {path} exists; name a new file")
        try:
            yield f"sqlite:///{path}"
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return

    server, name = url.rsplit("/", 1)
    admin = f"{server}/postgres"
    try:
        asyncio.run(_admin(admin, f'CREATE DATABASE "{name}"'))
    except asyncpg.DuplicateDatabaseError:
        sys.exit(f"import_catalog: database {name} exists; name a new one")
    try:
        yield url
    finally:
        asyncio.run(_admin(admin, f'DROP DATABASE "{name}" WITH (FORCE)'))


async def _admin(url: str, statement: str) -> None:
    connection = await asyncpg.connect(url, timeout=10)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def count_devices(url: str) -> int:
    """The devices now in the catalog."""
    if url.startswith("sqlite:///"):
        connection = sqlite3.connect(url.removeprefix("sqlite:///"))
        try:
            count: int = connection.execute("SELECT count(*) FROM devices").fetchone()[
                0
            ]
        finally:
            connection.close()
        return count

    async def _count() -> int:
        connection = await asyncpg.connect(url, timeout=10)
        try:
            value: int = await connection.fetchval("SELECT count(*) FROM devices")
        finally:
            await connection.close()
        return value

    return asyncio.run(_count())


def run_import(*, csv: Path, url: str, skip_invalid: bool) -> tuple[float, str]:
    """Run the command once; return its wall time and its summary line."""
    command = [sys.executable, "-m", "masstock", "devices", "import", str(csv)]
    if skip_invalid:
        command.append("--skip-invalid")
    environment = {
        **os.environ,
        "MASSTOCK_DATABASE_URL": url,
        "MASSTOCK_LOG_LEVEL": "warning",
    }

    started = time.perf_counter()
    result = subprocess.run(
        command, env=environment, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - started

    if result.returncode != 0:
        sys.exit(f"import_catalog: import failed:\n{result.stderr}")
    return seconds, result.stdout.strip().splitlines()[-1]


def main() -> None:
    """Generate, import twice, print the rates, clean up."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--invalid", type=int, default=0, help="bad rows to add")
    parser.add_argument("--database-url", help="a database to create and drop")
    options = parser.parse_args()
    if not 1 <= options.rows <= MAX_ROWS:
        parser.error(f"--rows must be between 1 and {MAX_ROWS}")
    if options.invalid < 0:
        parser.error("--invalid must not be negative")

    with tempfile.TemporaryDirectory(prefix="masstock-bench-") as tmp:
        folder = Path(tmp)
        csv = folder / "catalog.csv"
        started = time.perf_counter()
        write_catalog(csv, rows=options.rows, invalid=options.invalid)
        size = csv.stat().st_size / 1e6
        print(
            f"wrote {options.rows} rows ({size:.1f} MB) in "
            f"{time.perf_counter() - started:.1f} s"
        )

        with scratch_database(options.database_url, folder) as url:
            backend = url.split(":", 1)[0]
            for label in ("insert", "update"):
                seconds, summary = run_import(
                    csv=csv, url=url, skip_invalid=options.invalid > 0
                )
                print(f"{backend} {label}: {summary}")
                print(
                    f"{backend} {label}: {options.rows / seconds:,.0f} rows/s "
                    f"end to end ({seconds:.1f} s, process start and schema check "
                    "included)"
                )
            stored = count_devices(url)
            if stored != options.rows:
                sys.exit(f"import_catalog: {stored} devices stored, not {options.rows}")


if __name__ == "__main__":
    main()
