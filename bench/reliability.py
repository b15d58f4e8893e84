"""The reliability suite at its long scale, then the figures each test kept:

    .venv/bin/python bench/reliability.py

Runs ``tests/reliability`` with ``MASSTOCK_RELIABILITY_SCALE=long`` (storm of
four servers, ten kills, five database restarts, and more examples for the
model and the fuzzer), then prints one block of figures per test.  Needs the
PostgreSQL server the test suite uses, and PostgreSQL's ``initdb`` and
``pg_ctl`` for the database restarts.  Extra arguments go to pytest.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(pytest_arguments: list[str]) -> int:
    """Run the long suite, print its figures, and return pytest's exit code."""
    with tempfile.TemporaryDirectory(prefix="masstock-reliability-") as folder:
        figures = Path(folder) / "figures.jsonl"
        env = {
            **os.environ,
            "MASSTOCK_RELIABILITY_SCALE": "long",
            "MASSTOCK_RELIABILITY_FIGURES": str(figures),
        }
        started = time.monotonic()
        code = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "tests/reliability",
                *pytest_arguments,
            ],
            env=env,
            check=False,
        ).returncode
        elapsed = time.monotonic() - started
        lines = (
            figures.read_text(encoding="utf-8").splitlines() if figures.exists() else []
        )

    print(f"\nreliability, long scale: {elapsed:.0f} s, pytest exit code {code}")
    for line in lines:
        entry = json.loads(line)
        print(f"\n{entry.pop('test')}")
        for name, value in entry.items():
            print(f"  {name:<22} {value}")
    return code


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
