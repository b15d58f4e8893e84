"""The benchmark's scratch databases: made for a run, filled, reset, dropped."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg

from bench.performance.pgbench import DEVICE_PREFIX

ORG = "yoigo"
DEALERS = 500


def device(index: int) -> str:
    return f"{DEVICE_PREFIX}{index:07d}"


def dealer(index: int) -> str:
    return f"DEALER-{index % DEALERS:03d}"


def write_catalog(path: Path, devices: int) -> Path:
    with path.open("w", encoding="utf-8") as file:
        file.write("org,identifier,reference,mac,kind\n")
        for index in range(devices):
            file.write(f"{ORG},{device(index)},REF-PERF-{index % 97:02d},,device\n")
    return path


def masstock(database_url: str, *arguments: str) -> None:
    """Run the ``masstock`` command as an operator would, against ``database_url``."""
    subprocess.run(
        [sys.executable, "-m", "masstock", *arguments],
        env={**os.environ, "MASSTOCK_DATABASE_URL": database_url},
        check=True,
        capture_output=True,
    )


def sql(url: str, query: str, *args: Any) -> list[Any]:
    """Run one statement on PostgreSQL or SQLite; the rows it returns."""
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as connection:
            return connection.execute(query.replace("$", "?"), args).fetchall()
    return asyncio.run(_postgres(url, query, *args))


async def _postgres(url: str, query: str, *args: Any) -> list[Any]:
    connection = await asyncpg.connect(url, command_timeout=3600)
    try:
        return list(await connection.fetch(query, *args))
    finally:
        await connection.close()


@contextmanager
def postgres_database(server_url: str, name: str) -> Iterator[str]:
    """A new, empty PostgreSQL database for the run, dropped after it."""
    admin = f"{server_url}/postgres"
    sql(admin, f'CREATE DATABASE "{name}"')
    try:
        yield f"{server_url}/{name}"
    finally:
        sql(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# Reservations of devices outside the catalog, as years of a busy org leave
# them: most closed, with their two events; one in a hundred still held.
# Numbered from $1 to $2.
_GROW_POSTGRES = """
WITH made AS (
    INSERT INTO reservations (id, org, device_id, dealer_id, is_sim, status,
                              created_at, updated_at, expires_at, closed_at,
                              closed_by, close_reason)
    SELECT gen_random_uuid(), '{org}', 'OLD-' || n, 'DEALER-' || lpad((n % {dealers})::text, 3, '0'),
           false, s.status, t.at, t.at + interval '1 hour',
           CASE WHEN s.reason IS NULL THEN now() + interval '30 days'
                ELSE t.at + interval '72 hours' END,
           CASE WHEN s.reason IS NULL THEN NULL ELSE t.at + interval '1 hour' END,
           CASE WHEN s.reason IS NULL THEN NULL
                ELSE 'DEALER-' || lpad((n % {dealers})::text, 3, '0') END,
           s.reason
    FROM generate_series($1::bigint, $2::bigint - 1) AS n,
         LATERAL (SELECT now() - interval '3 years' + n * interval '1 second' / 10 AS at) t,
         LATERAL (SELECT CASE WHEN n % 100 = 0 THEN 'CREATED'
                              WHEN n % 3 = 0 THEN 'CANCELLED' ELSE 'FINALIZED' END AS status,
                         CASE WHEN n % 100 = 0 THEN NULL
                              WHEN n % 3 = 0 THEN 'CANCELLED_BY_DEALER'
                              ELSE 'FINALIZED_BY_DEALER' END AS reason) s
    RETURNING id, org, dealer_id, created_at, closed_at, status
)
INSERT INTO reservation_events (reservation_id, org, kind, actor, at, request_id, expires_at)
SELECT id, org, 'CREATED', dealer_id, created_at, NULL, created_at + interval '72 hours' FROM made
UNION ALL
SELECT id, org, status, dealer_id, closed_at, NULL, NULL FROM made
WHERE status <> 'CREATED'
"""  # noqa: E501 (SQL reads better unwrapped here)

_GROW_CHUNK = 1_000_000


def grow_postgres(url: str, *, upto: int) -> float:
    """Add closed reservations until the table holds ``upto``; seconds it took."""
    started = time.monotonic()
    have = sql(url, "SELECT count(*) FROM reservations")[0][0]
    query = _GROW_POSTGRES.format(org=ORG, dealers=DEALERS)
    for first in range(have, upto, _GROW_CHUNK):
        sql(url, query, first, min(upto, first + _GROW_CHUNK))
    sql(url, "VACUUM ANALYZE reservations")
    sql(url, "VACUUM ANALYZE reservation_events")
    # The bulk insert leaves gigabytes of dirty pages for the checkpointer to
    # write out over the next minutes; measured loads would share the disk and
    # the cores with it.
    sql(url, "CHECKPOINT")
    return time.monotonic() - started


def grow_sqlite(url: str, *, upto: int) -> None:
    """The SQLite twin of :func:`grow_postgres`, for small counts."""
    path = url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as connection:
        have = connection.execute("SELECT count(*) FROM reservations").fetchone()[0]
        rows = [
            (
                str(uuid.uuid4()),
                ORG,
                f"OLD-{n}",
                dealer(n),
                0,
                "FINALIZED",
                "2024-01-01T00:00:00.000000+00:00",
            )
            for n in range(have, upto)
        ]
        connection.executemany(
            "INSERT INTO reservations (id, org, device_id, dealer_id, is_sim, status, "
            "created_at, updated_at, expires_at, closed_at, closed_by, close_reason) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, 'FINALIZED_BY_DEALER')",
            [(*row, row[6], row[6], row[3]) for row in rows],
        )


def release_holds(url: str) -> None:
    """Cancel the catalog's holds, so that the next creates find devices free.

    The past's outstanding holds stay, as they would in a real org: with no
    hold at all, the statistics of the partial indexes of holds say "empty",
    and the planner then scans one of them where the one-hold-per-device
    index is right, until the next ANALYZE (see docs/performance.md).
    """
    sql(
        url,
        "UPDATE reservations SET status = 'CANCELLED', "
        "close_reason = 'CANCELLED_BY_DEALER', closed_by = dealer_id, "
        "closed_at = updated_at, updated_at = updated_at "
        "WHERE status = 'CREATED' AND device_id NOT LIKE 'OLD-%'",
    )
    sqlite = url.startswith("sqlite:")
    sql(url, "ANALYZE reservations" if sqlite else "VACUUM ANALYZE reservations")


def active_holds(url: str, limit: int) -> list[tuple[str, str]]:
    """Up to ``limit`` active holds: (reservation id, dealer)."""
    rows = sql(
        url,
        "SELECT id, dealer_id FROM reservations WHERE status = 'CREATED' "
        "AND device_id LIKE $1 LIMIT $2",
        f"{DEVICE_PREFIX}%",
        limit,
    )
    return [(str(row[0]), row[1]) for row in rows]


def copy_csv(url: str, table: str, path: Path, columns: list[str]) -> float:
    """A plain ``COPY table FROM STDIN`` of a CSV file; seconds it took."""

    async def copy() -> float:
        connection = await asyncpg.connect(url)
        try:
            started = time.monotonic()
            await connection.copy_to_table(
                table, source=path, columns=columns, format="csv", header=True
            )
            return time.monotonic() - started
        finally:
            await connection.close()

    return asyncio.run(copy())
