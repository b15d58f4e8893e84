"""The composition root: settings in, a wired application out.

Nothing here runs at import time; uvicorn calls ``app_from_environment`` in
each worker process.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import structlog
from litestar import Litestar

from masstock.adapters.postgres import (
    PostgresDatabase,
    PostgresDeviceCatalog,
    PostgresReservationSearch,
    PostgresReservationStore,
)
from masstock.adapters.sqlite import (
    SqliteDatabase,
    SqliteDeviceCatalog,
    SqliteReservationSearch,
    SqliteReservationStore,
)
from masstock.api.app import create_app
from masstock.api.services import Services
from masstock.service.ports import ReservationSearch
from masstock.service.reservations import Reservations
from masstock.service.search import SearchReservations
from masstock.settings import Settings, load_settings
from masstock.sweeper import sweep_forever


def utc_now() -> datetime:
    return datetime.now(UTC)


def configure_logging(settings: Settings) -> None:
    """Events with key=value fields: readable in a terminal, JSON in production."""
    level = logging.getLevelName(settings.log_level.upper())
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if settings.log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )


@asynccontextmanager
async def open_services(settings: Settings) -> AsyncIterator[Services]:
    """Connect to the configured database and build the use cases over it."""
    if settings.is_sqlite:
        sqlite = SqliteDatabase(settings.sqlite_path, busy_timeout=settings.db_timeout)
        await sqlite.open()
        try:
            yield _services(
                settings,
                store=SqliteReservationStore(sqlite),
                search=SqliteReservationSearch(sqlite),
                devices=SqliteDeviceCatalog(sqlite),
            )
        finally:
            await sqlite.close()
        return

    postgres = PostgresDatabase(
        settings.database_url,
        pool_size=settings.db_pool_size,
        timeout=settings.db_timeout,
    )
    await postgres.open()
    try:
        yield _services(
            settings,
            store=PostgresReservationStore(postgres),
            search=PostgresReservationSearch(postgres),
            devices=PostgresDeviceCatalog(postgres),
        )
    finally:
        await postgres.close()


@asynccontextmanager
async def open_device_catalog(
    settings: Settings,
) -> AsyncIterator[SqliteDeviceCatalog | PostgresDeviceCatalog]:
    """Connect to the configured database and hand over just its device catalog."""
    if settings.is_sqlite:
        sqlite = SqliteDatabase(settings.sqlite_path, busy_timeout=settings.db_timeout)
        await sqlite.open()
        try:
            yield SqliteDeviceCatalog(sqlite)
        finally:
            await sqlite.close()
        return

    postgres = PostgresDatabase(
        settings.database_url, pool_size=1, timeout=settings.db_timeout
    )
    await postgres.open()
    try:
        yield PostgresDeviceCatalog(postgres)
    finally:
        await postgres.close()


def _services(
    settings: Settings,
    *,
    store: SqliteReservationStore | PostgresReservationStore,
    search: ReservationSearch,
    devices: SqliteDeviceCatalog | PostgresDeviceCatalog,
) -> Services:
    reservations = Reservations(
        store=store, devices=devices, clock=utc_now, holding=settings.holding
    )
    return Services(
        reservations=reservations,
        search=SearchReservations(search=search, clock=utc_now),
        devices=devices,
        orgs=frozenset(settings.orgs),
    )


def build_app(settings: Settings) -> Litestar:
    """The API over the database that ``settings`` names."""
    configure_logging(settings)

    async def sweep(services: Services) -> None:
        await sweep_forever(
            services.reservations,
            interval=settings.sweep_interval,
            batch=settings.sweep_batch,
        )

    return create_app(
        lambda: open_services(settings),
        background=sweep if settings.sweep_interval > 0 else None,
    )


def app_from_environment() -> Litestar:
    """uvicorn's factory: settings from the environment, checked by the CLI."""
    return build_app(load_settings())
