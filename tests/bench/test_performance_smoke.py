"""The performance benchmark runs end to end, tiny: every load, no thresholds.

Figures are not judged here (timed assertions have no place in a test suite);
what is checked is that each step ran, answered as it should and was reported.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import POSTGRES_ADMIN_URL

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.postgres


def test_the_benchmark_measures_every_load_and_writes_its_report(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    server = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]

    finished = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.performance",
            "--quick",
            "--postgres",
            server,
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )

    assert finished.returncode == 0, finished.stdout + finished.stderr
    report = json.loads((out / "performance.json").read_text())
    assert (out / "performance.png").read_bytes().startswith(b"\x89PNG")
    rows = {row["key"]: row for row in report["rows"]}
    base, grown, lite = (
        "PostgreSQL, 1,000 reservations",
        "PostgreSQL, 20,000 reservations",
        "SQLite, 1,000 reservations",
    )
    operations = ("floor", "lookup", "create", "get", "history", "search", "cancel")
    expected = [f"{base}: {operation}" for operation in operations]
    expected += [f"{base}: create_hot", f"{grown}: lookup", f"{grown}: create"]
    expected += [f"{lite}: lookup", f"{lite}: create"]
    expected += [
        "pgbench: lookup, service SQL",
        "pgbench: create, service SQL",
        "pgbench: create, reference tx",
    ]
    assert sorted(rows) == sorted(expected)
    for key, row in rows.items():
        assert row["requests"] > 0, key
        assert row["errors"] == 0, key
    checks = {check["name"] for check in report["checks"]}
    assert len(checks) == 9
    assert "SQLite create / PostgreSQL create" in checks
    assert any(note.startswith("soak:") for note in report["notes"])
    assert "devices import rate" in finished.stdout
