"""The production database: PostgreSQL through an asyncpg pool."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import NamedTuple

import asyncpg
import structlog

from masstock.domain.errors import StorageUnavailable

log = structlog.get_logger(__name__)

# Failures of the database or of the way to it, as opposed to bugs in our SQL:
# connection loss, admin shutdown, too many clients, a read-only standby,
# serialization failures and deadlocks.  Everything else is left to surface
# as an internal error.
_UNAVAILABLE = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.OperatorInterventionError,
    asyncpg.InsufficientResourcesError,
    asyncpg.ReadOnlySQLTransactionError,
    asyncpg.TransactionRollbackError,
    # Seen when the server shuts down under a statement: the connection's
    # protocol is left mid-operation.  The connection is dropped, see below.
    asyncpg.InternalClientError,
)


async def _keep_session(connection: asyncpg.Connection) -> None:
    # Nothing we do leaves session state behind, so skip asyncpg's reset round
    # trip on release; only a transaction cut short by cancellation needs undoing.
    if connection.is_in_transaction():
        await connection.execute("ROLLBACK")


class PoolUsage(NamedTuple):
    size: int
    in_use: int
    waiting: int


class PostgresDatabase:
    """A pool of connections to one PostgreSQL database."""

    def __init__(self, url: str, *, pool_size: int, timeout: float) -> None:
        self._url = url
        self._pool_size = pool_size
        self._timeout = timeout
        self._pool: asyncpg.Pool | None = None
        # Requests take their turn for a connection here, first come first
        # served, so that the pool's own wait never runs: it lets a newcomer
        # overtake a waiter it has just woken, which stretches the tail.
        self._turns = asyncio.Semaphore(pool_size)
        self._in_use = 0
        self._waiting = 0

    @property
    def pool_size(self) -> int:
        return self._pool_size

    def usage(self) -> PoolUsage:
        """How many connections serve requests now, and how many requests wait."""
        return PoolUsage(self._pool_size, self._in_use, self._waiting)

    async def open(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(
                self._url,
                # Every connection is opened at start-up: opened on demand, they
                # would all be opened by the first burst of requests, which would
                # wait behind them.
                min_size=self._pool_size,
                max_size=self._pool_size,
                timeout=self._timeout,
                command_timeout=self._timeout,
                reset=_keep_session,
                server_settings={"application_name": "masstock"},
            )
        except _UNAVAILABLE as exc:
            log.warning("database unavailable", error=repr(exc))
            raise StorageUnavailable from exc

    async def schema_revision(self) -> str | None:
        """The migration the database is at; raises StorageUnavailable if away."""
        async with self.connection() as connection:
            revision: str | None = await connection.fetchval(
                "SELECT version_num FROM alembic_version"
            )
        return revision

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()

    async def _take_turn(self) -> None:
        if not self._turns.locked():
            await self._turns.acquire()  # free: returns at once
            return
        self._waiting += 1
        try:
            async with asyncio.timeout(self._timeout):
                await self._turns.acquire()
        except TimeoutError as exc:
            log.warning("database unavailable", error="no connection free in time")
            raise StorageUnavailable from exc
        finally:
            self._waiting -= 1

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection; the database's failures become StorageUnavailable."""
        if self._pool is None:
            raise RuntimeError("PostgresDatabase.open() was not awaited")
        await self._take_turn()
        self._in_use += 1
        try:
            # A turn guarantees a free connection: no second wait, no timer.
            async with self._pool.acquire() as connection:
                try:
                    yield connection
                except _UNAVAILABLE:
                    # Never hand a connection that failed this way to the next
                    # request: the pool opens a fresh one instead.
                    connection.terminate()
                    raise
        except _UNAVAILABLE as exc:
            log.warning("database unavailable", error=repr(exc))
            raise StorageUnavailable from exc
        finally:
            self._in_use -= 1
            self._turns.release()
