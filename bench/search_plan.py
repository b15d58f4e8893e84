"""How a dealer's page of reservations is planned and how fast it comes back.

Loads a PostgreSQL database with N reservations (``generate_series``, no
client round trips), prints the plans of the search's real statements for a
dealer's first page and for a page deep in its history reached by cursor,
then times many page fetches through the search use case:

    .venv/bin/python bench/search_plan.py --rows 10000000 \\
        --database-url postgresql://postgres@127.0.0.1:5432/masstock_search_bench

The database named in the URL is created for the run and dropped after it,
whatever happens; it must not exist beforehand.

The data: two years of reservations, oldest first, over three orgs.  One row
in 101 belongs to a call centre (``CALLCENTRE01``, yoigo); the others
go round ``--dealers`` dealers (default: one per thousand rows), so that each
dealer's rows are spread over the whole table, as a real dealer's are.  Holds
made in the last 72 hours are active; older ones are cancelled (two in three)
or finalized.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog

from masstock.adapters import schema
from masstock.adapters.postgres import PostgresDatabase, PostgresReservationSearch
from masstock.adapters.postgres.search import statement
from masstock.domain.reservation import Status
from masstock.domain.search import Position, SearchFilters, SearchQuery
from masstock.service.search import SearchReservations

MAX_ROWS = 50_000_000
MAX_FETCHES = 100_000
BATCH_ROWS = 1_000_000
CALL_CENTRE = "CALLCENTRE01"
ORGS = ("yoigo", "masmovil", "pepephone")
# Long statements by design: a bulk load, an index build over ten million rows.
BULK_TIMEOUT = 3600.0

_LOAD = """
INSERT INTO reservations (id, org, device_id, dealer_id, is_sim, status,
                          created_at, updated_at, expires_at,
                          closed_at, closed_by, close_reason)
SELECT gen_random_uuid(), d.org, 'IMEI' || lpad(i::text, 13, '0'), d.dealer_id,
       i % 5 = 0,
       CASE WHEN t.active THEN 'CREATED'
            WHEN i % 3 = 0 THEN 'FINALIZED' ELSE 'CANCELLED' END,
       t.at,
       CASE WHEN t.active THEN t.at ELSE t.at + interval '1 hour' END,
       t.at + interval '72 hours',
       CASE WHEN t.active THEN NULL ELSE t.at + interval '1 hour' END,
       CASE WHEN t.active THEN NULL ELSE d.dealer_id END,
       CASE WHEN t.active THEN NULL
            WHEN i % 3 = 0 THEN 'FINALIZED_BY_DEALER'
            ELSE 'CANCELLED_BY_DEALER' END
FROM generate_series($1::bigint, $2::bigint) AS i,
     LATERAL (SELECT $5::timestamptz - interval '730 days'
                     + interval '730 days' * (i::float8 / $3)) AS s(at),
     LATERAL (SELECT s.at, s.at > $5::timestamptz - interval '72 hours')
         AS t(at, active),
     LATERAL (SELECT CASE WHEN i % 101 = 0 THEN 'yoigo'
                          ELSE ($6::text[])[1 + (i % $4) % 3] END,
                     CASE WHEN i % 101 = 0 THEN 'CALLCENTRE01'
                          ELSE 'DEALER' || lpad((i % $4)::text, 6, '0') END
             ) AS d(org, dealer_id)
"""
# Every index and constraint of the table, as the migrations made them, so that
# they can be dropped for the load and built again, identical, after it.
_INDEXES = """
SELECT indexdef FROM pg_indexes
WHERE tablename = 'reservations' AND indexname NOT IN (
    SELECT conname FROM pg_constraint WHERE conrelid = 'reservations'::regclass)
"""
_CONSTRAINTS = """
SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
WHERE conrelid = 'reservations'::regclass AND contype IN ('p', 'u')
"""
_INDEX_NAMES = """
SELECT indexname FROM pg_indexes
WHERE tablename = 'reservations' AND indexname NOT IN (
    SELECT conname FROM pg_constraint WHERE conrelid = 'reservations'::regclass)
"""
_NTH_OF_DEALER = """
SELECT created_at, id FROM reservations WHERE org = $1 AND dealer_id = $2
ORDER BY created_at DESC, id DESC OFFSET $3 LIMIT 1
"""


@contextmanager
def scratch_database(url: str) -> Iterator[str]:
    """The database named by ``url``, made for this run and dropped after it."""
    server, name = url.rsplit("/", 1)
    admin = f"{server}/postgres"
    try:
        asyncio.run(_admin(admin, f'CREATE DATABASE "{name}"'))
    except asyncpg.DuplicateDatabaseError:
        sys.exit(f"search_plan: database {name} exists; name a new one")
    try:
        yield url
    finally:
        asyncio.run(_admin(admin, f'DROP DATABASE "{name}" WITH (FORCE)'))
        print(f"dropped database {name}")


async def _admin(url: str, sql: str) -> None:
    connection = await asyncpg.connect(url, timeout=10)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def load(
    connection: asyncpg.Connection, *, rows: int, dealers: int, now: datetime
) -> None:
    """Fill the table, build its indexes again, and gather statistics."""
    indexes = [row[0] for row in await connection.fetch(_INDEXES)]
    constraints = list(await connection.fetch(_CONSTRAINTS))
    for row in await connection.fetch(_INDEX_NAMES):
        await connection.execute(f'DROP INDEX "{row[0]}"')
    for name, _ in constraints:
        await connection.execute(f'ALTER TABLE reservations DROP CONSTRAINT "{name}"')

    started = time.perf_counter()
    for first in range(1, rows + 1, BATCH_ROWS):
        last = min(first + BATCH_ROWS - 1, rows)
        await connection.execute(
            _LOAD, first, last, rows, dealers, now, list(ORGS), timeout=BULK_TIMEOUT
        )
        print(f"  inserted {last:,} rows ({time.perf_counter() - started:.0f} s)")

    started = time.perf_counter()
    await connection.execute("SET maintenance_work_mem = '1GB'")
    for name, definition in constraints:
        await connection.execute(
            f'ALTER TABLE reservations ADD CONSTRAINT "{name}" {definition}',
            timeout=BULK_TIMEOUT,
        )
    for definition in indexes:
        await connection.execute(definition, timeout=BULK_TIMEOUT)
    await connection.execute("VACUUM (ANALYZE) reservations", timeout=BULK_TIMEOUT)
    print(
        f"  indexes built and table analyzed in {time.perf_counter() - started:.0f} s"
    )


async def explain(
    connection: asyncpg.Connection,
    title: str,
    filters: SearchFilters,
    *,
    after: Position | None,
    now: datetime,
) -> None:
    """Print the plan the search's own statement gets, run for real."""
    query, values = statement(filters, after=after, limit=51, now=now)
    plan = await connection.fetch(
        f"EXPLAIN (ANALYZE, BUFFERS, TIMING) {query}", *values
    )
    print(f"\n-- {title}")
    for row in plan:
        print(f"   {row[0]}")


async def explain_generic(
    connection: asyncpg.Connection,
    filters: SearchFilters,
    *,
    after: Position,
    now: datetime,
) -> None:
    """Print the generic plan a reused prepared statement may settle on."""
    query, values = statement(filters, after=after, limit=51, now=now)
    # EXPLAIN EXECUTE takes no parameters: the values go in as quoted literals.
    literals = [
        await connection.fetchval("SELECT quote_literal($1::text)", str(value))
        for value in values
    ]
    await connection.execute("SET plan_cache_mode = force_generic_plan")
    await connection.execute(f"PREPARE dealer_page AS {query}")
    try:
        plan = await connection.fetchval(
            f"EXPLAIN (FORMAT JSON) EXECUTE dealer_page({', '.join(literals)})"
        )
    finally:
        await connection.execute("DEALLOCATE dealer_page")
        await connection.execute("RESET plan_cache_mode")
    print("\n-- the deep page again, as a generic plan (prepared statement reuse)")
    for line in _plan_lines(json.loads(plan)[0]["Plan"]):
        print(f"   {line}")


def _plan_lines(node: dict[str, Any], depth: int = 0) -> Iterator[str]:
    index = f" using {node['Index Name']}" if "Index Name" in node else ""
    direction = f" {node['Scan Direction']}" if "Scan Direction" in node else ""
    yield f"{'  ' * depth}{node['Node Type']}{direction}{index}"
    for key in ("Index Cond", "Filter"):
        if key in node:
            yield f"{'  ' * depth}  {key}: {node[key]}"
    for child in node.get("Plans", []):
        yield from _plan_lines(child, depth + 1)


async def timed(
    label: str, fetches: int, fetch: Callable[[int], Awaitable[int]]
) -> None:
    """Run ``fetch`` ``fetches`` times; print p50, p99 and max in milliseconds."""
    times: list[float] = []
    items = 0
    for n in range(fetches):
        started = time.perf_counter()
        items += await fetch(n)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    p50 = statistics.median(times)
    p99 = times[min(len(times) - 1, round(len(times) * 0.99))]
    print(
        f"{label:<46} n={fetches:<6} p50={p50:6.2f} ms  p99={p99:6.2f} ms  "
        f"max={times[-1]:6.2f} ms  items/page={items / fetches:5.1f}"
    )


def dealer(n: int) -> tuple[str, str]:
    """The org and id of regular dealer number ``n``."""
    return ORGS[n % 3], f"DEALER{n:06d}"


async def benchmark(url: str, options: argparse.Namespace) -> None:
    """Load, explain, time."""
    now = datetime.now(UTC)
    rows: int = options.rows
    dealers: int = options.dealers or max(1, rows // 1000)
    picker = random.Random(options.seed)

    connection = await asyncpg.connect(url, timeout=10)
    try:
        print(f"loading {rows:,} reservations, {dealers:,} dealers and a call centre")
        await load(connection, rows=rows, dealers=dealers, now=now)
        size = await connection.fetchval(
            "SELECT pg_size_pretty(pg_total_relation_size('reservations'))"
        )
        count = await connection.fetchval(
            "SELECT count(*) FROM reservations WHERE org = 'yoigo' AND dealer_id = $1",
            CALL_CENTRE,
        )
        print(f"  table and indexes: {size}; {CALL_CENTRE} holds {count:,} rows")

        org, dealer_id = dealer(picker.randrange(dealers))
        regular = SearchFilters(org=org, dealer_id=dealer_id)
        centre = SearchFilters(org="yoigo", dealer_id=CALL_CENTRE)
        middle = await connection.fetchrow(
            _NTH_OF_DEALER, "yoigo", CALL_CENTRE, count // 2
        )
        deep = Position(middle["created_at"], middle["id"])
        await explain(
            connection, f"{dealer_id}: first page", regular, after=None, now=now
        )
        await explain(
            connection,
            f"{dealer_id}: what it holds (status=CREATED), first page",
            SearchFilters(org=org, dealer_id=dealer_id, status=Status.CREATED),
            after=None,
            now=now,
        )
        await explain(
            connection, f"{CALL_CENTRE}: first page", centre, after=None, now=now
        )
        await explain(
            connection,
            f"{CALL_CENTRE}: page {count // 2:,} rows deep, by cursor",
            centre,
            after=deep,
            now=now,
        )
        await explain_generic(connection, centre, after=deep, now=now)
    finally:
        await connection.close()

    database = PostgresDatabase(url, pool_size=1, timeout=30.0)
    await database.open()
    try:
        await time_pages(database, options, dealers=dealers, picker=picker)
    finally:
        await database.close()


async def time_pages(
    database: PostgresDatabase,
    options: argparse.Namespace,
    *,
    dealers: int,
    picker: random.Random,
) -> None:
    """Time pages through the search use case: parse, query, render as of now."""
    searches = SearchReservations(
        search=PostgresReservationSearch(database), clock=lambda: datetime.now(UTC)
    )
    fetches: int = options.fetches
    print(
        f"\npages of 50 through the search use case, one connection, {fetches:,} each"
    )

    async def first_page(_: int) -> int:
        org, dealer_id = dealer(picker.randrange(dealers))
        page = await searches.page(org, SearchQuery(dealer_id=dealer_id))
        return len(page.items)

    async def holds(_: int) -> int:
        org, dealer_id = dealer(picker.randrange(dealers))
        query = SearchQuery(dealer_id=dealer_id, status="CREATED")
        return len((await searches.page(org, query)).items)

    walker = dealer(0)
    walk: str | None = None

    async def next_page(_: int) -> int:
        nonlocal walker, walk
        if walk is None:
            walker = dealer(picker.randrange(dealers))
        org, dealer_id = walker
        page = await searches.page(org, SearchQuery(dealer_id=dealer_id, cursor=walk))
        walk = page.next_cursor
        return len(page.items)

    centre: str | None = None

    async def centre_page(_: int) -> int:
        nonlocal centre
        query = SearchQuery(dealer_id=CALL_CENTRE, cursor=centre)
        page = await searches.page("yoigo", query)
        centre = page.next_cursor
        return len(page.items)

    await timed("first page, random dealer", fetches, first_page)
    await timed("every page in turn, random dealers", fetches, next_page)
    await timed("what it holds (CREATED), random dealer", fetches, holds)
    await timed(f"{CALL_CENTRE}, page after page by cursor", fetches, centre_page)


def main() -> None:
    """Create, load, explain, time, drop."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dealers", type=int, help="default: one per 1,000 rows")
    parser.add_argument("--fetches", type=int, default=1_000, help="per series")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument(
        "--database-url",
        required=True,
        help="postgresql://.../NAME: a database to create and drop",
    )
    options = parser.parse_args()
    if not 1 <= options.rows <= MAX_ROWS:
        parser.error(f"--rows must be between 1 and {MAX_ROWS:,}")
    if options.dealers is not None and options.dealers < 1:
        parser.error("--dealers must be at least 1")
    if not 1 <= options.fetches <= MAX_FETCHES:
        parser.error(f"--fetches must be between 1 and {MAX_FETCHES:,}")
    if not options.database_url.startswith(("postgresql://", "postgres://")):
        parser.error("--database-url must name a PostgreSQL database")

    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING)
    )
    started = time.perf_counter()
    with scratch_database(options.database_url) as url:
        schema.upgrade(url)
        asyncio.run(benchmark(url, options))
    print(f"done in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
