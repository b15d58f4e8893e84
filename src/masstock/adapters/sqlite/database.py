"""The embedded database: one SQLite file, one connection, one thread.

Every unit of work runs whole on the connection's own thread, so the
transactions of concurrent requests never interleave; ``BEGIN IMMEDIATE``
takes the file's write lock first, which keeps other processes (an import
beside a running server) from slipping in between a read and a write.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import structlog

from masstock.domain.errors import StorageUnavailable

T = TypeVar("T")

log = structlog.get_logger(__name__)


class SqliteDatabase:
    """A SQLite file opened for durable, serialized work."""

    def __init__(self, path: str, *, busy_timeout: float = 5.0) -> None:
        self._path = path
        self._busy_ms = int(busy_timeout * 1000)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="sqlite")
        self._connection: sqlite3.Connection | None = None

    async def open(self) -> None:
        await self.run(lambda _: None)

    async def schema_revision(self) -> str | None:
        """The migration the database is at; raises StorageUnavailable if away."""

        def _revision(connection: sqlite3.Connection) -> str | None:
            row = connection.execute(
                "SELECT version_num FROM alembic_version"
            ).fetchone()
            return None if row is None else str(row[0])

        return await self.run(_revision)

    async def close(self) -> None:
        def _close() -> None:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

        await asyncio.get_running_loop().run_in_executor(self._executor, _close)
        self._executor.shutdown()

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` on the connection's thread; map SQLite's failures."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._call, work)

    def _call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        try:
            return work(self._connect())
        except sqlite3.OperationalError as exc:
            log.warning("database unavailable", error=repr(exc))
            raise StorageUnavailable from exc

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(
                self._path, isolation_level=None, check_same_thread=False
            )
            connection.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = FULL")
            self._connection = connection
        return self._connection


@contextmanager
def write_transaction(connection: sqlite3.Connection) -> Iterator[None]:
    """Hold the file's write lock from the first read to the commit."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def to_text(moment: datetime) -> str:
    """A time as SQLite keeps it: UTC, ISO 8601, always to the microsecond.

    One fixed width makes text order the same as time order, which the
    expiry checks and the keyset pages rely on.
    """
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def from_text(text: str) -> datetime:
    return datetime.fromisoformat(text)


def maybe_time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)
