"""The benchmark's figures: one row per measured load, ratios against targets."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Row:
    """One load on one system: the service, pgbench, or a plain command."""

    name: str
    system: str
    requests: int
    rate: float
    p50_ms: float
    p99_ms: float
    errors: int
    server_cpu_ms: float | None
    db_cpu_ms: float | None
    load_cpu_share: float
    runs: tuple[float, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.system}: {self.name}"


@dataclass(frozen=True, slots=True)
class Check:
    """A target: ``figure`` against ``target`` (``at_least`` or at most)."""

    name: str
    figure: float
    target: float
    unit: str
    at_least: bool = True

    @property
    def met(self) -> bool:
        if self.at_least:
            return self.figure >= self.target
        return self.figure <= self.target


@dataclass(slots=True)
class Report:
    setup: dict[str, object]
    rows: list[Row] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def keep_medians(self) -> None:
        """One row per load: of its repeated runs, the one of median rate."""
        by_key: dict[str, list[Row]] = {}
        for row in self.rows:
            by_key.setdefault(row.key, []).append(row)
        self.rows = []
        for runs in by_key.values():
            if len(runs) == 1 and runs[0].runs:  # kept by an earlier call
                self.rows.append(runs[0])
                continue
            ranked = sorted(runs, key=lambda run: run.rate)
            median = ranked[(len(ranked) - 1) // 2]
            self.rows.append(replace(median, runs=tuple(run.rate for run in runs)))

    def row(self, key: str) -> Row:
        for row in self.rows:
            if row.key == key:
                return row
        raise KeyError(key)

    def print(self) -> None:
        print()
        print(", ".join(f"{name} {value}" for name, value in self.setup.items()))
        header = (
            f"{'load':<42} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} "
            f"{'srv CPU ms/req':>14} {'db CPU ms/req':>13}"
        )
        print(header)
        print("-" * len(header))
        for row in self.rows:
            print(
                f"{row.key:<42} {row.rate:>9,.0f} {row.p50_ms:>8.2f} "
                f"{row.p99_ms:>8.2f} {row.errors:>7} {_ms(row.server_cpu_ms):>14} "
                f"{_ms(row.db_cpu_ms):>13}"
            )
        print()
        for check in self.checks:
            sign = ">=" if check.at_least else "<="
            verdict = "met" if check.met else "NOT MET"
            print(
                f"{check.name:<58} {check.figure:>9.2f}{check.unit:<3} "
                f"target {sign} {check.target:g}{check.unit}  {verdict}"
            )
        for note in self.notes:
            print(f"note: {note}")

    def write(self, folder: Path) -> tuple[Path, Path]:
        folder.mkdir(parents=True, exist_ok=True)
        data = {
            "setup": self.setup,
            "rows": [{**asdict(row), "key": row.key} for row in self.rows],
            "checks": [{**asdict(check), "met": check.met} for check in self.checks],
            "notes": self.notes,
        }
        document = folder / "performance.json"
        document.write_text(json.dumps(data, indent=2) + "\n")
        return document, self._chart(folder / "performance.png")

    def _chart(self, path: Path) -> Path:
        import matplotlib as mpl  # noqa: PLC0415 (only the chart needs it)

        mpl.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415

        rows = [row for row in self.rows if row.system != "import"]
        figure, (rates, tails) = plt.subplots(
            1, 2, figsize=(14, 0.45 * len(rows) + 1.5), sharey=True
        )
        labels = [row.key for row in rows]
        rates.barh(labels, [row.rate for row in rows], color="#3b7dd8")
        rates.set_xlabel("requests (transactions) per second")
        rates.invert_yaxis()
        tails.barh(labels, [row.p99_ms for row in rows], color="#d8743b")
        tails.axvline(50, color="black", linestyle=":", linewidth=1)
        tails.set_xlabel("p99 latency, ms (dotted: 50 ms target)")
        figure.suptitle(
            "masstock: the service beside PostgreSQL's own limit, one run, one machine"
        )
        figure.tight_layout()
        figure.savefig(path, dpi=100)
        plt.close(figure)
        return path


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
