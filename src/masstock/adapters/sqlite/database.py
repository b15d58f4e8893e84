"""The embedded database: one SQLite file, one connection, one thread.

Everything runs on the connection's own thread, one piece at a time, so
transactions never interleave.  ``BEGIN IMMEDIATE`` takes the file's write
lock first, which keeps other processes (an import beside a running server)
from slipping in between a read and a write.

Writes commit in groups.  With ``synchronous=FULL`` each commit waits for the
disk, and that wait, not the work, bounds how many changes a second one file
takes.  So the units of work that queue up while the thread is busy run
together in one transaction, each inside a savepoint of its own, and share one
commit: a unit that raises is undone alone and its caller gets its own error;
a commit that fails fails every unit of its group and keeps none of them.
Each caller hears back only once the commit that holds its unit has
succeeded.  A unit that finds the thread idle does not wait for company: it
runs at once, alone.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

import structlog

from masstock.domain.errors import StorageUnavailable

T = TypeVar("T")

log = structlog.get_logger(__name__)

# Enough to share one commit among every client of a busy server, few enough
# that one group's commit does not keep reads waiting long.
MAX_GROUP = 128


@dataclass(slots=True)
class _Unit(Generic[T]):
    """One caller's write and where its outcome goes once its group is over."""

    work: Callable[[sqlite3.Connection], T]
    outcome: Future[T] = field(default_factory=Future)


class SqliteDatabase:
    """A SQLite file opened for durable, serialized work."""

    def __init__(
        self, path: str, *, busy_timeout: float = 5.0, max_group: int = MAX_GROUP
    ) -> None:
        self._path = path
        self._busy_ms = int(busy_timeout * 1000)
        self._max_group = max_group
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="sqlite")
        self._connection: sqlite3.Connection | None = None
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="sqlite-read")
        self._read_connection: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._pending: deque[_Unit[Any]] = deque()
        self._committing = False
        self._closed = False

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
        """Commit the writes still pending, then close the file."""
        await asyncio.get_running_loop().run_in_executor(self._executor, self._close)
        self._executor.shutdown()
        self._reader.shutdown()
        if self._read_connection is not None:
            self._read_connection.close()

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` alone on the connection's thread; map SQLite's failures.

        For reads, and for a write that must keep a transaction to itself.
        """
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._call, work)

    async def read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` on the reading connection, beside the writes."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._reader, self._call_reader, work)

    def _call_reader(self, work: Callable[[sqlite3.Connection], T]) -> T:
        try:
            return work(self._connect_reader())
        except sqlite3.OperationalError as exc:
            log.warning("database unavailable", error=repr(exc))
            raise StorageUnavailable from exc

    def _connect_reader(self) -> sqlite3.Connection:
        if self._read_connection is None:
            connection = sqlite3.connect(
                self._path, isolation_level=None, check_same_thread=False
            )
            connection.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
            connection.execute("PRAGMA query_only = ON")
            self._read_connection = connection
        return self._read_connection

    async def write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` as one unit of a group commit; return once it is durable.

        ``work`` runs inside the group's transaction, which it must neither
        commit nor roll back, and sees what the units before it wrote.  If it
        raises, its own changes are undone and the error comes back here
        (SQLite's operational errors as StorageUnavailable); the other units
        go on.  If the group cannot commit, every unit of it gets
        StorageUnavailable and none of them is kept.
        """
        unit = _Unit(work)
        with self._lock:
            if self._closed:
                raise StorageUnavailable
            self._pending.append(unit)
            idle = not self._committing
            self._committing = True

        if idle:
            self._executor.submit(self._commit_next)
        return await asyncio.wrap_future(unit.outcome)

    def _call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        try:
            return work(self._connect())
        except sqlite3.OperationalError as exc:
            log.warning("database unavailable", error=repr(exc))
            raise StorageUnavailable from exc

    def _commit_next(self) -> None:
        """Commit one group of the pending units, and come back for the rest.

        Coming back is a new task on the thread, queued behind the reads
        that arrived meanwhile, so that a stream of writes does not starve
        them.
        """
        try:
            self._commit(self._take())
        finally:
            with self._lock:
                more = bool(self._pending) and not self._closed
                self._committing = more
            if more:
                self._executor.submit(self._commit_next)

    def _take(self) -> list[_Unit[Any]]:
        with self._lock:
            taken = min(len(self._pending), self._max_group)
            group = [self._pending.popleft() for _ in range(taken)]
        # A caller that went away before its unit started takes it along.
        return [unit for unit in group if unit.outcome.set_running_or_notify_cancel()]

    def _commit(self, group: list[_Unit[Any]]) -> None:
        if not group:
            return

        try:
            connection = self._connect()
            connection.execute("BEGIN IMMEDIATE")
            outcomes = [_run_unit(connection, unit.work) for unit in group]
            connection.execute("COMMIT")
        except Exception as exc:
            # Whatever stopped the group (the lock, the disk, a lost
            # transaction), no unit of it is kept, and each caller hears so.
            self._roll_back()
            log.warning("group commit failed", error=repr(exc), units=len(group))
            for unit in group:
                unit.outcome.set_exception(_unavailable(exc))
            return

        for unit, (result, error) in zip(group, outcomes, strict=True):
            if error is None:
                unit.outcome.set_result(result)
            else:
                unit.outcome.set_exception(error)

    def _roll_back(self) -> None:
        connection = self._connection
        if connection is None or not connection.in_transaction:
            return
        try:
            connection.execute("ROLLBACK")
        except sqlite3.Error as exc:
            # SQLite undoes an unfinished transaction when it next reads.
            log.warning("rollback failed", error=repr(exc))

    def _close(self) -> None:
        with self._lock:
            self._closed = True
        while group := self._take():
            self._commit(group)
        if self._connection is not None:
            self._connection.close()
            self._connection = None

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


def _run_unit(
    connection: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]
) -> tuple[T | None, BaseException | None]:
    """Run ``work`` in a savepoint: its result, or its error with its changes undone.

    An error that cost the whole transaction (SQLite rolls it all back on
    some I/O errors) is the group's, and propagates.
    """
    connection.execute("SAVEPOINT unit")
    try:
        result = work(connection)
    except Exception as exc:
        if not connection.in_transaction:
            raise
        connection.execute("ROLLBACK TO unit")
        connection.execute("RELEASE unit")
        if isinstance(exc, sqlite3.OperationalError):
            log.warning("database unavailable", error=repr(exc))
            return None, _unavailable(exc)
        return None, exc

    connection.execute("RELEASE unit")
    return result, None


def _unavailable(cause: BaseException) -> StorageUnavailable:
    error = StorageUnavailable()
    error.__cause__ = cause
    return error


@contextmanager
def write_transaction(connection: sqlite3.Connection) -> Iterator[None]:
    """Hold the file's write lock from the first read to the commit, alone."""
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
