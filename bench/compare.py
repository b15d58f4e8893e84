"""Two revisions of the service side by side: what a change costs the hot path.

    make bench-compare ARGS="--base 2383ed6"          # HEAD against 2383ed6
    make bench-compare ARGS="--base main~3 --seconds 5 --repeat 5"

The base revision is checked out into a worktree under ``.bench/`` with its own
virtual environment (from its own uv.lock); the work tree as it stands is the
other side.  Each side gets its own PostgreSQL database with the same catalog
and its own ``masstock serve`` (2 workers, JSON logs at info, as in
production), both warmed up.  Then each load runs on one side, then the other,
``--repeat`` times, so that whatever else the machine does falls on both; the
median of each side's runs is compared.  Loopback only, bounded in time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.performance import database, procs, wrk
from bench.performance.database import ORG
from tests.e2e.server import ServerProcess

ROOT = Path(__file__).resolve().parents[1]
LOADS = ("floor", "lookup", "create")


@dataclass
class Side:
    """One revision: its code, its database, its server."""

    name: str
    python: Path
    url: str = ""
    server: ServerProcess | None = None
    runs: dict[str, list[wrk.Load]] = field(default_factory=dict)
    # Server CPU per request of each run, in microseconds.
    cpu: dict[str, list[float]] = field(default_factory=dict)

    @property
    def running(self) -> ServerProcess:
        if self.server is None:
            raise RuntimeError(f"{self.name} is not served")
        return self.server


def _worktree(revision: str) -> Path:
    """The base revision, checked out once, with its own environment."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", revision],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    folder = ROOT / ".bench" / f"compare-{commit}"
    if not folder.exists():
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(folder), commit],
            cwd=ROOT,
            check=True,
        )
    uv = ROOT / ".tools" / "bin" / "uv"
    subprocess.run(
        [str(uv), "sync", "--frozen", "--quiet"],
        cwd=folder,
        check=True,
        env={**os.environ, "UV_PROJECT_ENVIRONMENT": str(folder / ".venv")},
    )
    return folder


def _masstock(side: Side, *arguments: str) -> None:
    """Run the side's own ``masstock`` (its own migrations) on its database."""
    subprocess.run(
        [str(side.python), "-m", "masstock", *arguments],
        env={**os.environ, "MASSTOCK_DATABASE_URL": side.url},
        check=True,
        capture_output=True,
    )


@contextmanager
def _served(side: Side, log: Path) -> Iterator[None]:
    server = ServerProcess(
        database_url=side.url,
        workers=2,
        env={"MASSTOCK_LOG_LEVEL": "info", "MASSTOCK_LOG_FORMAT": "json"},
        log_path=log,
        python=str(side.python),
    )
    server.start(timeout=120)
    side.server = server
    try:
        yield
    finally:
        server.stop()


def _drive(side: Side, operation: str, items: Path, seconds: float) -> wrk.Load:
    before = procs.cpu_of_tree(side.running.pid)
    load = wrk.drive(
        wrk=wrk.ensure_installed("wrk", "wrk"),
        base_url=side.running.base_url,
        operation=operation,
        items=items,
        org=ORG,
        seconds=seconds,
        connections=64,
    )
    used = procs.cpu_of_tree(side.running.pid) - before
    side.cpu.setdefault(operation, []).append(1e6 * used / max(1, load.requests))
    return load


def _median(runs: list[wrk.Load]) -> wrk.Load:
    ordered = sorted(runs, key=lambda load: load.rate)
    return ordered[len(ordered) // 2]


def _report(base: Side, head: Side) -> None:
    print(
        f"\n{'load':<8} {'side':<8} {'req/s (runs)':<34} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'CPU us/req':>11}"
    )
    for operation in LOADS:
        for side in (base, head):
            median = _median(side.runs[operation])
            rates = "; ".join(f"{load.rate:,.0f}" for load in side.runs[operation])
            cpu = statistics.median(side.cpu[operation])
            print(
                f"{operation:<8} {side.name:<8} {median.rate:>8,.0f} ({rates})"
                f"{'':<4} {median.p50_ms:>8.2f} {median.p99_ms:>8.2f} {cpu:>11.0f}"
            )
        ratio = _median(head.runs[operation]).rate / _median(base.runs[operation]).rate
        errors = sum(
            load.unexpected + load.socket_errors + load.conflicts
            for side in (base, head)
            for load in side.runs[operation]
        )
        cost = statistics.median(head.cpu[operation]) - statistics.median(
            base.cpu[operation]
        )
        print(
            f"{operation:<8} head/base {100 * ratio:6.1f}%   errors {errors}   "
            f"CPU {cost:+.0f} us/req"
        )
    ratios = [
        statistics.median(load.rate for load in head.runs[op])
        / statistics.median(load.rate for load in base.runs[op])
        for op in LOADS
    ]
    print(
        f"\ngeometric mean of head/base: {100 * statistics.geometric_mean(ratios):.1f}%"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="HEAD~1", help="the revision to compare with")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432")
    args = parser.parse_args()
    if not 1 <= args.seconds <= 60 or not 1 <= args.repeat <= 9:
        parser.error("--seconds must be 1..60 and --repeat 1..9")

    folder = ROOT / ".bench" / "compare"
    folder.mkdir(parents=True, exist_ok=True)
    base_tree = _worktree(args.base)
    base = Side("base", base_tree / ".venv" / "bin" / "python")
    head = Side("head", Path(sys.executable))
    catalog = database.write_catalog(folder / "catalog.csv", args.devices)
    devices = wrk.write_items(
        folder / "devices.items", [database.device(n) for n in range(args.devices)]
    )
    holds = wrk.write_items(
        folder / "holds.items",
        [f"{database.device(n)} {database.dealer(n)}" for n in range(args.devices)],
    )

    with ExitStack() as stack:
        for side in (base, head):
            name = f"masstock_compare_{side.name}_{os.getpid()}"
            side.url = stack.enter_context(
                database.postgres_database(args.postgres, name)
            )
            _masstock(side, "devices", "import", str(catalog))
            stack.enter_context(_served(side, folder / f"{side.name}.log"))
            _drive(side, "lookup", devices, args.seconds)  # warm-up, not counted
            side.cpu.clear()
        print(f"base {args.base} ({base_tree.name}) against the work tree", flush=True)

        for operation in LOADS:
            items = holds if operation == "create" else devices
            for _ in range(args.repeat):
                for side in (base, head):
                    if operation == "create":
                        database.release_holds(side.url)
                    load = _drive(side, operation, items, args.seconds)
                    side.runs.setdefault(operation, []).append(load)
                    print(
                        f"  {operation:<8} {side.name:<6} {load.rate:>8,.0f}/s  "
                        f"p99 {load.p99_ms:7.2f} ms",
                        flush=True,
                    )
    _report(base, head)


if __name__ == "__main__":
    main()
