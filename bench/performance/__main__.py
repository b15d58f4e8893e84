"""The service against the database's own limit, measured in one run.

    make bench ARGS="--seconds 10"            # the whole run, about 25 minutes
    make bench ARGS="--quick"                 # every step, tiny, under a minute

One run, on loopback, on this machine: a fresh PostgreSQL database gets a
catalog of devices and a table of past reservations; ``masstock serve`` runs as
in production (N workers, JSON logs at info) and wrk drives each operation;
pgbench then runs the service's own statements and the reference create
transaction at the same concurrency; the same server's constant answer
(``/health/live``) is its floor.  The table grows to ten million reservations
and the creates and lookups run again; the same catalog on SQLite; a million-
row catalog import beside a plain COPY; and a soak at half the peak load that
watches each worker's resident memory.  It prints every figure with its
target and writes ``performance.json`` and ``performance.png``.

Everything is made for the run and removed after it, except the results.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.import_catalog import write_catalog as write_import_catalog
from bench.performance import database, pgbench, procs, wrk
from bench.performance.database import ORG
from bench.performance.report import Check, Report, Row
from masstock.adapters.postgres import devices as pg_devices
from masstock.adapters.postgres import reservations as pg_reservations
from tests.e2e.server import ServerProcess

# Operations whose only right answer is 200; the hot creates may also get 409.
_CONFLICTS_EXPECTED = {"create_hot"}
_HOT_DEVICES = 8


@dataclass(frozen=True, slots=True)
class Options:
    devices: int
    reservations: int
    grown: int
    seconds: float
    connections: int
    workers: int
    import_rows: int
    soak: float
    repeat: int
    server_url: str
    out: Path

    @classmethod
    def parse(cls) -> Options:
        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument("--devices", type=int, default=100_000)
        parser.add_argument("--reservations", type=int, default=10_000)
        parser.add_argument("--grown", type=int, default=10_000_000)
        parser.add_argument("--seconds", type=float, default=10)
        parser.add_argument("--connections", type=int, default=64)
        parser.add_argument("--workers", type=int, default=2)
        parser.add_argument("--import-rows", type=int, default=1_000_000)
        parser.add_argument("--soak", type=float, default=600, help="seconds")
        parser.add_argument(
            "--repeat", type=int, default=3, help="runs of each load; the median counts"
        )
        parser.add_argument(
            "--postgres", default="postgresql://postgres@127.0.0.1:5432"
        )
        parser.add_argument("--out", type=Path, default=Path(".bench/performance"))
        parser.add_argument(
            "--quick", action="store_true", help="every step, tiny: a smoke run"
        )
        args = parser.parse_args()
        if args.quick:
            args.devices, args.reservations, args.grown = 3_000, 1_000, 20_000
            args.seconds, args.connections, args.import_rows = 1, 16, 5_000
            args.soak, args.repeat = 4, 1
        if not 1 <= args.seconds <= 120 or not 1 <= args.connections <= 512:
            parser.error("--seconds must be 1..120 and --connections 1..512")
        if args.soak > 3600 or args.grown > 50_000_000:
            parser.error("--soak is at most 3600 s and --grown 50,000,000")
        return cls(
            devices=args.devices,
            reservations=args.reservations,
            grown=args.grown,
            seconds=args.seconds,
            connections=args.connections,
            workers=args.workers,
            import_rows=args.import_rows,
            soak=args.soak,
            repeat=max(1, args.repeat),
            server_url=args.postgres,
            out=args.out,
        )


class Bench:
    """The run's tools, folder and report, and how one load is measured."""

    def __init__(self, options: Options, folder: Path) -> None:
        self.options = options
        self.folder = folder
        self.wrk = wrk.ensure_installed("wrk", "wrk")
        self.pgbench = wrk.ensure_installed("pgbench", "postgresql-15")
        self.report = Report(
            setup={
                "cores": os.cpu_count(),
                "devices": options.devices,
                "reservations": options.reservations,
                "connections": options.connections,
                "workers": options.workers,
                "seconds": options.seconds,
                "repeat": options.repeat,
            }
        )

    def items(self, name: str, items: list[str]) -> Path:
        return wrk.write_items(self.folder / f"{name}.items", items)

    def http(
        self,
        server: ServerProcess,
        *,
        system: str,
        operation: str,
        items: Path,
        name: str | None = None,
        connections: int | None = None,
    ) -> Row:
        """One wrk load against ``server``, with the CPU both sides spent on it."""
        root = server.pid
        server_cpu, db_cpu = procs.cpu_of_tree(root), procs.cpu_of_command("postgres")
        load = wrk.drive(
            wrk=self.wrk,
            base_url=server.base_url,
            operation=operation,
            items=items,
            org=ORG,
            seconds=self.options.seconds,
            connections=connections or self.options.connections,
        )
        server_cpu = procs.cpu_of_tree(root) - server_cpu
        db_cpu = procs.cpu_of_command("postgres") - db_cpu
        errors = load.unexpected + load.socket_errors
        if operation not in _CONFLICTS_EXPECTED:
            errors += load.conflicts
        row = Row(
            name=name or operation,
            system=system,
            requests=load.requests,
            rate=load.rate,
            p50_ms=load.p50_ms,
            p99_ms=load.p99_ms,
            errors=errors,
            server_cpu_ms=1000 * server_cpu / max(1, load.requests),
            db_cpu_ms=None
            if system.startswith("SQLite")
            else 1000 * db_cpu / max(1, load.requests),
            load_cpu_share=load.load_cpu_seconds / load.seconds,
        )
        return self._add(row)

    def database_limit(self, url: str, *, name: str, script: str) -> Row:
        """pgbench running ``script`` at the same concurrency as the HTTP loads."""
        db_cpu = procs.cpu_of_command("postgres")
        run = pgbench.run(
            pgbench=self.pgbench,
            url=url,
            script=script,
            devices=self.options.devices,
            seconds=self.options.seconds,
            clients=self.options.connections,
        )
        db_cpu = procs.cpu_of_command("postgres") - db_cpu
        row = Row(
            name=name,
            system="pgbench",
            requests=run.transactions,
            rate=run.rate,
            p50_ms=run.p50_ms,
            p99_ms=run.p99_ms,
            errors=run.failed,
            server_cpu_ms=None,
            db_cpu_ms=1000 * db_cpu / max(1, run.transactions),
            load_cpu_share=run.load_cpu_seconds / run.seconds,
        )
        return self._add(row)

    def _add(self, row: Row) -> Row:
        self.report.rows.append(row)
        print(
            f"  {row.key:<42} {row.rate:>9,.0f}/s  p50 {row.p50_ms:6.2f} ms  "
            f"p99 {row.p99_ms:7.2f} ms  errors {row.errors}",
            flush=True,
        )
        return row

    def check(
        self, name: str, figure: float, target: float, unit: str = "", *, at_least: bool
    ) -> None:
        self.report.checks.append(Check(name, figure, target, unit, at_least))


def _serve(
    bench: Bench, database_url: str, *, name: str, workers: int
) -> ServerProcess:
    server = ServerProcess(
        database_url=database_url,
        workers=workers,
        env={"MASSTOCK_LOG_LEVEL": "info", "MASSTOCK_LOG_FORMAT": "json"},
        log_path=bench.folder / f"{name}.log",
    )
    server.start(timeout=120)
    return server


def _warm_up(bench: Bench, server: ServerProcess) -> None:
    """One pass of lookups over the catalog, not counted.

    A fresh server meets a cold database: the first reads of a just-imported
    catalog, and the workers' first statements, cost more than any later
    ones.  Steady state is what the loads measure.
    """
    options = bench.options
    devices = bench.items(
        "warm-up", [database.device(n) for n in range(options.devices)]
    )
    wrk.drive(
        wrk=bench.wrk,
        base_url=server.base_url,
        operation="lookup",
        items=devices,
        org=ORG,
        seconds=options.seconds,
        connections=options.connections,
    )


def _lifecycle(
    bench: Bench, server: ServerProcess, url: str, *, system: str, full: bool
) -> None:
    """Every operation, in an order that leaves each the data it needs."""
    options = bench.options
    devices = bench.items(
        "devices", [database.device(n) for n in range(options.devices)]
    )
    holds = bench.items(
        "holds",
        [
            f"{database.device(n)} {database.dealer(n)}"
            for n in range(_HOT_DEVICES, options.devices)
        ],
    )
    if full:
        bench.http(server, system=system, operation="floor", items=devices)
    bench.http(server, system=system, operation="lookup", items=devices)
    database.release_holds(url)
    bench.http(server, system=system, operation="create", items=holds)
    if not full:
        return

    held = database.active_holds(url, limit=options.devices)
    ids = bench.items("held", [reservation for reservation, _ in held])
    bench.http(server, system=system, operation="get", items=ids)
    bench.http(server, system=system, operation="history", items=ids)
    dealers = bench.items("dealers", sorted({dealer for _, dealer in held}))
    bench.http(server, system=system, operation="search", items=dealers)
    cancels = bench.items("cancels", [f"{rid} {dealer}" for rid, dealer in held])
    bench.http(server, system=system, operation="cancel", items=cancels)

    database.release_holds(url)
    hot = bench.items(
        "hot",
        [
            f"{database.device(n % _HOT_DEVICES)} {database.dealer(n)}"
            for n in range(_HOT_DEVICES * 64)
        ],
    )
    bench.http(server, system=system, operation="create_hot", items=hot)
    database.release_holds(url)


def _database_limits(bench: Bench, url: str) -> None:
    find, add = pg_devices.FIND_DEVICE, pg_reservations.ADD_RESERVATION
    bench.database_limit(
        url, name="lookup, service SQL", script=pgbench.lookup_script(find, ORG)
    )
    bench.database_limit(
        url, name="create, service SQL", script=pgbench.create_script(find, add, ORG)
    )
    bench.database_limit(
        url, name="create, reference tx", script=pgbench.reference_create_script(ORG)
    )
    database.sql(
        url,
        "DELETE FROM reservation_events WHERE reservation_id IN "
        "(SELECT id FROM reservations WHERE device_id LIKE $1)",
        f"{pgbench.HELD_PREFIX}%",
    )
    held = f"{pgbench.HELD_PREFIX}%"
    database.sql(url, "DELETE FROM reservations WHERE device_id LIKE $1", held)
    database.sql(url, "VACUUM ANALYZE reservations")


def _postgres(bench: Bench, catalog: Path) -> None:
    options = bench.options
    name = f"masstock_perf_{os.getpid()}"
    with database.postgres_database(options.server_url, name) as url:
        print(f"PostgreSQL: catalog of {options.devices:,} devices", flush=True)
        database.masstock(url, "db", "upgrade")
        database.masstock(url, "devices", "import", str(catalog))
        database.grow_postgres(url, upto=options.reservations)
        server = _serve(bench, url, name="postgres", workers=options.workers)
        try:
            _warm_up(bench, server)
            system = f"PostgreSQL, {options.reservations:,} reservations"
            for _ in range(options.repeat):
                _lifecycle(bench, server, url, system=system, full=True)
                _database_limits(bench, url)

            print(f"growing to {options.grown:,} reservations", flush=True)
            took = database.grow_postgres(url, upto=options.grown)
            bench.report.notes.append(
                f"grew the table to {options.grown:,} reservations in {took:.0f} s"
            )
            # The server idled while the table grew: asyncpg closes connections
            # idle for five minutes, and the first requests would reopen them.
            _warm_up(bench, server)
            grown = f"PostgreSQL, {options.grown:,} reservations"
            for _ in range(options.repeat):
                _lifecycle(bench, server, url, system=grown, full=False)
            bench.report.keep_medians()
            if options.soak:
                _soak(bench, server, url, system=grown)
        finally:
            server.stop()


def _sqlite(bench: Bench, catalog: Path) -> None:
    options = bench.options
    url = f"sqlite:///{bench.folder / 'perf.db'}"
    print(f"SQLite: catalog of {options.devices:,} devices", flush=True)
    database.masstock(url, "db", "upgrade")
    database.masstock(url, "devices", "import", str(catalog))
    database.grow_sqlite(url, upto=options.reservations)
    server = _serve(bench, url, name="sqlite", workers=1)
    try:
        _warm_up(bench, server)
        system = f"SQLite, {options.reservations:,} reservations"
        for _ in range(options.repeat):
            _lifecycle(bench, server, url, system=system, full=False)
        bench.report.keep_medians()
    finally:
        server.stop()


def _soak(bench: Bench, server: ServerProcess, url: str, *, system: str) -> None:
    """Create-then-cancel at half the peak create rate, sampling each worker's RSS."""
    options = bench.options
    peak = bench.report.row(f"{system}: create").rate
    database.release_holds(url)
    churn = bench.items(
        "churn", [f"{database.device(n)} DEALER-CHURN" for n in range(options.devices)]
    )
    workers = [  # uvicorn's worker processes, not its supervisor or helpers
        pid for pid in procs.tree(server.pid) if "spawn_main" in procs.command_line(pid)
    ]
    samples: dict[int, list[int]] = {pid: [] for pid in workers}
    print(f"soak: {options.soak:.0f} s at {peak / 2:,.0f} req/s", flush=True)

    def sample() -> None:
        for pid in workers:
            samples[pid].append(procs.resident_bytes(pid))

    started = time.monotonic()
    load = _in_background(
        lambda: wrk.drive(
            wrk=bench.wrk,
            base_url=server.base_url,
            operation="churn",
            items=churn,
            org=ORG,
            seconds=options.soak,
            connections=options.connections,
            rate=peak / 2,
        )
    )
    interval = max(1.0, options.soak / 60)
    while load.running():
        sample()
        time.sleep(interval)
    result = load.result()
    database.release_holds(url)

    bench.report.notes.append(
        f"soak: {result.requests:,} requests in {time.monotonic() - started:.0f} s, "
        f"{result.rate:,.0f}/s, p99 {result.p99_ms:.1f} ms, "
        f"errors {result.unexpected + result.socket_errors + result.conflicts}"
    )
    growths = []
    for pid, sizes in samples.items():
        settled = sizes[len(sizes) // 10] if sizes else 0  # after the warm-up tenth
        final = sizes[-1] if sizes else 0
        growths.append(100 * (final - settled) / max(1, settled))
        bench.report.notes.append(
            f"worker {pid}: RSS {settled / 2**20:.1f} MiB after warm-up, "
            f"{final / 2**20:.1f} MiB at the end"
        )
    bench.check(
        "memory: RSS growth per worker over the soak",
        max(growths, default=0.0),
        10,
        "%",
        at_least=False,
    )


@dataclass
class _Background:
    thread: object
    box: list[wrk.Load]

    def running(self) -> bool:
        return not self.box

    def result(self) -> wrk.Load:
        return self.box[0]


def _in_background(work: Callable[[], wrk.Load]) -> _Background:
    import threading  # noqa: PLC0415

    box: list[wrk.Load] = []
    thread = threading.Thread(target=lambda: box.append(work()), daemon=True)
    thread.start()
    return _Background(thread, box)


def _import(bench: Bench) -> None:
    options = bench.options
    csv = bench.folder / "import.csv"
    write_import_catalog(csv, rows=options.import_rows, invalid=0)
    name = f"masstock_perf_import_{os.getpid()}"
    with database.postgres_database(options.server_url, name) as url:
        database.masstock(url, "db", "upgrade")
        started = time.monotonic()
        database.masstock(url, "devices", "import", str(csv))
        imported = time.monotonic() - started

        database.sql(url, "CREATE TABLE plain (LIKE devices INCLUDING ALL)")
        database.sql(url, "ALTER TABLE plain ALTER updated_at SET DEFAULT now()")
        copied = database.copy_csv(
            url, "plain", csv, ["org", "identifier", "reference", "mac", "kind"]
        )
    rows = options.import_rows
    bench.report.notes.append(
        f"import of {rows:,} rows: masstock devices import {imported:.1f} s "
        f"({rows / imported:,.0f} rows/s), plain COPY {copied:.1f} s "
        f"({rows / copied:,.0f} rows/s)"
    )
    bench.check(
        "import: devices import rate / plain COPY rate",
        100 * copied / imported,
        25,
        "%",
        at_least=True,
    )


def _checks(bench: Bench) -> None:
    options, report = bench.options, bench.report
    base = f"PostgreSQL, {options.reservations:,} reservations"
    grown = f"PostgreSQL, {options.grown:,} reservations"
    lite = f"SQLite, {options.reservations:,} reservations"
    create = report.row(f"{base}: create").rate
    lookup = report.row(f"{base}: lookup").rate
    reference = report.row("pgbench: create, reference tx").rate
    floor = report.row(f"{base}: floor").rate
    bench.check(
        "create, distinct devices / pgbench reference create",
        100 * create / reference,
        35,
        "%",
        at_least=True,
    )
    bench.check(
        "device lookup / the same server's constant JSON",
        100 * lookup / floor,
        60,
        "%",
        at_least=True,
    )
    service = [row for row in report.rows if row.system not in {"pgbench"}]
    bench.check(
        f"p99, worst service load at {options.connections} connections",
        max(row.p99_ms for row in service),
        50,
        " ms",
        at_least=False,
    )
    errors = sum(row.errors for row in service)
    bench.check("errors, all service loads", errors, 0, at_least=False)
    for operation in ("create", "lookup"):
        big = report.row(f"{grown}: {operation}").rate
        small = report.row(f"{base}: {operation}").rate
        bench.check(
            f"growth: {operation} at {options.grown:,} / at {options.reservations:,}",
            100 * big / small,
            90,
            "%",
            at_least=True,
        )
    bench.check(
        "SQLite create / PostgreSQL create",
        100 * report.row(f"{lite}: create").rate / create,
        60,
        "%",
        at_least=True,
    )


def main() -> None:
    options = Options.parse()
    with tempfile.TemporaryDirectory(prefix="masstock-perf-") as tmp:
        bench = Bench(options, Path(tmp))
        catalog = database.write_catalog(bench.folder / "catalog.csv", options.devices)
        _postgres(bench, catalog)
        _sqlite(bench, catalog)
        _import(bench)
        _checks(bench)
        bench.report.print()
        document, chart = bench.report.write(options.out)
    print(f"\nwrote {document} and {chart}")


if __name__ == "__main__":
    main()
