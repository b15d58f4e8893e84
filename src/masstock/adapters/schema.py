"""Bringing a database's schema to the latest migration, once, whoever asks."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import structlog
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, create_engine, event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import create_async_engine

from masstock.domain.errors import StorageUnavailable

log = structlog.get_logger(__name__)

_MIGRATIONS = Path(__file__).with_name("migrations")


def upgrade(database_url: str) -> str:
    """Apply every pending migration and return the revision now in force."""
    try:
        if database_url.startswith("sqlite:"):
            revision = _upgrade_sqlite(database_url)
        else:
            revision = asyncio.run(_upgrade_postgres(database_url))
    except (SQLAlchemyError, OSError) as exc:
        raise StorageUnavailable(
            "Unable to migrate the database schema", str(exc).splitlines()[0]
        ) from exc

    log.info("schema upgraded", revision=revision)
    return revision


def head_revision() -> str:
    """The newest migration that ships with this version."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {_MIGRATIONS}")
    return head


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return config


def _run(connection: Connection) -> str:
    config = _config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
    return MigrationContext.configure(connection).get_current_revision() or ""


def _upgrade_sqlite(database_url: str) -> str:
    engine = create_engine(database_url.replace("sqlite:", "sqlite+pysqlite:", 1))

    # Take the write lock before Alembic reads the current revision, so that
    # processes starting together apply each migration exactly once.
    @event.listens_for(engine, "connect")
    def _manual_transactions(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("PRAGMA busy_timeout = 30000")
        dbapi_connection.execute("PRAGMA journal_mode = WAL")

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    try:
        with engine.connect() as connection:
            revision = _run(connection)
            connection.commit()
            return revision
    finally:
        engine.dispose()


async def _upgrade_postgres(database_url: str) -> str:
    url = database_url.split("://", 1)[1]
    engine = create_async_engine(f"postgresql+asyncpg://{url}")
    try:
        async with engine.connect() as connection:
            revision = await connection.run_sync(_run)
            await connection.commit()
            return revision
    finally:
        await engine.dispose()
