"""The ``masstock`` command: its exit codes and what it says."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from masstock.adapters import schema


def _masstock(
    *args: str, env: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "masstock", *args],
        env={**os.environ, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("command", [["serve"], ["db", "upgrade"]])
def test_a_bad_setting_exits_2_with_one_line_naming_it(
    tmp_path: Path, command: list[str]
) -> None:
    result = _masstock(
        *command, env={"MASSTOCK_DATABASE_URL": "mysql://localhost/db"}, cwd=tmp_path
    )

    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "MASSTOCK_DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_more_than_one_worker_on_sqlite_is_refused(tmp_path: Path) -> None:
    result = _masstock("serve", "--workers", "2", env={}, cwd=tmp_path)

    assert result.returncode == 2
    assert "--workers" in result.stderr
    assert "Traceback" not in result.stderr


def test_db_upgrade_creates_the_default_sqlite_file(tmp_path: Path) -> None:
    result = _masstock("db", "upgrade", env={}, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("schema at revision ")
    assert (tmp_path / "masstock.db").is_file()


def test_an_unreachable_database_exits_1_without_a_traceback(tmp_path: Path) -> None:
    url = "postgresql://postgres@127.0.0.1:9/masstock"

    result = _masstock(
        "db", "upgrade", env={"MASSTOCK_DATABASE_URL": url}, cwd=tmp_path
    )

    assert result.returncode == 1
    assert "Unable to migrate the database schema" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_processes_upgrading_together_all_succeed(
    tmp_path: Path, request: pytest.FixtureRequest, backend: str
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'm.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("unmigrated_postgres_url")
    )
    env = {**os.environ, "MASSTOCK_DATABASE_URL": url}

    upgrades = [
        subprocess.Popen(
            [sys.executable, "-m", "masstock", "db", "upgrade"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = [(p.wait(timeout=60), p.communicate()) for p in upgrades]

    assert [code for code, _ in results] == [0, 0, 0, 0], results
    head = schema.head_revision()
    assert {out for _, (out, _) in results} == {f"schema at revision {head}\n"}
