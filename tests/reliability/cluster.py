"""A PostgreSQL cluster of a test's own, to stop and start at will."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.e2e.server import free_port

BINARIES = Path(os.environ.get("MASSTOCK_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))


class TemporaryCluster:
    """``initdb`` in a new folder, on a free loopback port, trust authentication.

    PostgreSQL refuses to run as root, so a root test runs its tools as the
    ``postgres`` user, in a folder that user owns.
    """

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="masstock-cluster-"))
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._as_owner: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.folder, user="postgres")
            self._as_owner = ["runuser", "-u", "postgres", "--"]

    @staticmethod
    def available() -> bool:
        return (BINARIES / "initdb").exists() and (BINARIES / "pg_ctl").exists()

    def create(self) -> None:
        self._run(
            "initdb",
            "--pgdata",
            str(self.folder / "data"),
            "--username",
            "postgres",
            "--auth",
            "trust",
            "--no-sync",
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
        self._pg_ctl("start", "--options", options, "--log", str(self.folder / "log"))

    def stop(self) -> None:
        self._pg_ctl("stop", "--mode", "fast")

    def remove(self) -> None:
        if (self.folder / "data" / "postmaster.pid").exists():
            self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _pg_ctl(self, action: str, *options: str) -> None:
        self._run(
            "pg_ctl", action, "--pgdata", str(self.folder / "data"), "--wait", *options
        )

    def _run(self, tool: str, *arguments: str) -> None:
        subprocess.run(
            [*self._as_owner, str(BINARIES / tool), *arguments],
            check=True,
            capture_output=True,
            timeout=60,
        )
