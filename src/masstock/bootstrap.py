"""The composition root: settings in, a wired application out.

Nothing here runs at import time; uvicorn calls ``app_from_environment`` in
each worker process.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TextIO

import httpx
import structlog
from litestar.types import ASGIApp

from masstock.adapters import logs, schema
from masstock.adapters.inventory import (
    HttpDeviceDirectory,
    InventoryConfig,
    RoutedDeviceDirectory,
)
from masstock.adapters.inventory.auth import (
    ClientCredentials,
    Credentials,
    NoCredentials,
    StaticToken,
)
from masstock.adapters.inventory.client import InventoryClient
from masstock.adapters.metrics import Metrics
from masstock.adapters.postgres import (
    PostgresDatabase,
    PostgresDeviceCatalog,
    PostgresIdempotencyKeys,
    PostgresReservationSearch,
    PostgresReservationStore,
)
from masstock.adapters.ratelimit import open_rate_limiter
from masstock.adapters.sqlite import (
    SqliteDatabase,
    SqliteDeviceCatalog,
    SqliteIdempotencyKeys,
    SqliteReservationSearch,
    SqliteReservationStore,
)
from masstock.adapters.tokens import TokenConfig, open_verifier
from masstock.adapters.tracing import Tracing, tracing_exporter
from masstock.api.access import observed
from masstock.api.app import BackgroundJob, create_app
from masstock.api.services import Services
from masstock.domain.device import DeviceKind
from masstock.service.idempotency import Idempotency
from masstock.service.ports import (
    DeviceDirectory,
    IdempotencyKeys,
    ReservationSearch,
    ReservationStore,
    SchemaProbe,
)
from masstock.service.reservations import Reservations
from masstock.service.search import SearchReservations
from masstock.settings import Settings, load_settings
from masstock.sweeper import sweep_forever

log = structlog.get_logger(__name__)

# Seconds between two samples of the pool and breaker gauges.
_SAMPLE_INTERVAL = 1.0


def utc_now() -> datetime:
    return datetime.now(UTC)


def configure_logging(settings: Settings, stream: TextIO | None = None) -> None:
    """Events with key=value fields: readable in a terminal, JSON in production."""
    logs.configure_logging(
        level=settings.log_level, log_format=settings.log_format, stream=stream
    )


@dataclass(frozen=True, slots=True)
class _Database:
    store: ReservationStore
    search: ReservationSearch
    catalog: SqliteDeviceCatalog | PostgresDeviceCatalog
    probe: SchemaProbe
    keys: IdempotencyKeys
    pool: PostgresDatabase | None = None


async def _sample_forever(
    metrics: Metrics,
    *,
    pool: PostgresDatabase | None,
    inventory: HttpDeviceDirectory | RoutedDeviceDirectory | None,
) -> None:
    while True:
        if pool is not None:
            size, in_use, waiting = pool.usage()
            metrics.pool(size=size, in_use=in_use, waiting=waiting)
        if inventory is not None:
            metrics.breakers(inventory.breaker_states())
        await asyncio.sleep(_SAMPLE_INTERVAL)


async def _stopped(task: asyncio.Task[None]) -> None:
    task.cancel()
    with suppress(asyncio.CancelledError):
        await task


@asynccontextmanager
async def open_services(
    settings: Settings, metrics: Metrics | None = None
) -> AsyncIterator[Services]:
    """Connect to the database and the inventory, and build the use cases over them.

    With ``metrics``, the use cases count what they do there, and the pool and
    the inventory's breakers are sampled into it while the services are open.
    """
    async with AsyncExitStack() as stack:
        database = await stack.enter_async_context(_open_database(settings))
        devices: DeviceDirectory = database.catalog
        inventory = None
        if settings.inventory_url is not None:
            inventory = await stack.enter_async_context(
                open_inventory(settings, metrics=metrics)
            )
            devices = inventory
        tokens = None
        if settings.auth == "jwt":
            tokens = await stack.enter_async_context(
                open_verifier(token_config(settings))
            )
        limiter = None
        if settings.rate_limit is not None:
            limiter = await stack.enter_async_context(
                open_rate_limiter(
                    limits=settings.rate_limit, redis_url=settings.redis_url
                )
            )

        if metrics is not None:
            sampler = asyncio.create_task(
                _sample_forever(metrics, pool=database.pool, inventory=inventory)
            )
            stack.push_async_callback(_stopped, sampler)

        yield Services(
            reservations=Reservations(
                store=database.store,
                devices=devices,
                clock=utc_now,
                holding=settings.holding,
                metrics=metrics,
            ),
            search=SearchReservations(search=database.search, clock=utc_now),
            devices=devices,
            orgs=frozenset(settings.orgs),
            schema_probe=database.probe,
            schema=schema.head_revision(),
            idempotency=Idempotency(
                keys=database.keys,
                clock=utc_now,
                ttl=timedelta(seconds=settings.idempotency_ttl),
            ),
            tokens=tokens,
            limiter=limiter,
        )


@asynccontextmanager
async def _open_database(settings: Settings) -> AsyncIterator[_Database]:
    if settings.is_sqlite:
        sqlite = SqliteDatabase(settings.sqlite_path, busy_timeout=settings.db_timeout)
        await sqlite.open()
        try:
            yield _Database(
                SqliteReservationStore(sqlite),
                SqliteReservationSearch(sqlite),
                SqliteDeviceCatalog(sqlite),
                sqlite,
                SqliteIdempotencyKeys(sqlite),
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
        yield _Database(
            PostgresReservationStore(postgres),
            PostgresReservationSearch(postgres),
            PostgresDeviceCatalog(postgres),
            postgres,
            PostgresIdempotencyKeys(postgres),
            pool=postgres,
        )
    finally:
        await postgres.close()


@asynccontextmanager
async def open_device_catalog(
    settings: Settings,
) -> AsyncIterator[SqliteDeviceCatalog | PostgresDeviceCatalog]:
    """Connect to the configured database and hand over just its device catalog."""
    async with _open_database(settings) as database:
        yield database.catalog


@asynccontextmanager
async def open_inventory(
    settings: Settings, metrics: Metrics | None = None
) -> AsyncIterator[HttpDeviceDirectory | RoutedDeviceDirectory]:
    """The logistics stock API (and its SIM twin, if apart), as a device directory."""
    timeout = httpx.Timeout(
        settings.inventory_read_timeout, connect=settings.inventory_connect_timeout
    )
    async with httpx.AsyncClient(
        timeout=timeout,
        follow_redirects=False,
        limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
    ) as http:
        credentials = _credentials(settings, http)
        config = _inventory_config(settings)

        def upstream(
            name: str, url: str, kind: DeviceKind | None
        ) -> HttpDeviceDirectory:
            client = InventoryClient(
                name=name,
                base_url=url,
                http=http,
                credentials=credentials,
                max_body=settings.inventory_max_body,
                metrics=metrics,
            )
            return HttpDeviceDirectory(client, config=config, kind=kind)

        assert settings.inventory_url is not None  # noqa: S101 (the caller checked)
        sims = settings.sim_inventory_url
        if sims is None or sims == settings.inventory_url:
            yield upstream("inventory", settings.inventory_url, None)
        else:
            yield RoutedDeviceDirectory(
                devices=upstream(
                    "inventory", settings.inventory_url, DeviceKind.DEVICE
                ),
                sims=upstream("sim-inventory", sims, DeviceKind.SIM),
            )


def _inventory_config(settings: Settings) -> InventoryConfig:
    return InventoryConfig(
        deadline=settings.inventory_deadline,
        attempts=settings.inventory_attempts,
        breaker_failures=settings.inventory_breaker_failures,
        breaker_cool_down=settings.inventory_breaker_cool_down,
        cache_size=settings.inventory_cache_size,
        cache_ttl=settings.inventory_cache_ttl,
        cache_negative_ttl=settings.inventory_cache_negative_ttl,
        cache_max_stale=settings.inventory_cache_max_stale,
    )


def token_config(settings: Settings) -> TokenConfig:
    """How bearer tokens are checked, in the token adapter's terms."""
    assert settings.jwt_issuer is not None  # noqa: S101 (validated with auth=jwt)
    assert settings.jwt_audience is not None  # noqa: S101 (validated with auth=jwt)
    return TokenConfig(
        public_key_file=settings.jwt_public_key_file,
        jwks_file=settings.jwt_jwks_file,
        jwks_url=settings.jwt_jwks_url,
        algorithms=settings.jwt_algorithms,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        leeway=settings.jwt_leeway,
        jwks_cache_ttl=settings.jwt_jwks_cache_ttl,
        jwks_min_refresh=settings.jwt_jwks_min_refresh,
        orgs_claim=settings.jwt_orgs_claim,
        dealer_claim=settings.jwt_dealer_claim,
        scope_claim=settings.jwt_scope_claim,
    )


def _credentials(settings: Settings, http: httpx.AsyncClient) -> Credentials:
    if settings.inventory_client_id is not None:
        assert settings.inventory_token_url is not None  # noqa: S101 (validated)
        assert settings.inventory_client_secret is not None  # noqa: S101 (validated)
        return ClientCredentials(
            token_url=settings.inventory_token_url,
            client_id=settings.inventory_client_id,
            client_secret=settings.inventory_client_secret.get_secret_value(),
            http=http,
        )
    token = settings.inventory_bearer_token()
    return NoCredentials() if token is None else StaticToken(token)


def build_app(settings: Settings) -> ASGIApp:
    """The API over the database that ``settings`` names, observed and traced."""
    configure_logging(settings)
    if settings.auth == "none":
        log.warning(
            "authentication is off",
            hint="every request may act for any org and dealer; "
            "set MASSTOCK_AUTH=jwt in production",
        )

    metrics = Metrics()

    async def sweep(services: Services) -> None:
        await sweep_forever(
            services.reservations,
            services.idempotency,
            interval=settings.sweep_interval,
            batch=settings.sweep_batch,
            swept=metrics.swept,
        )

    exporter = tracing_exporter()
    tracing = None if exporter is None else Tracing(exporter)

    @asynccontextmanager
    async def services() -> AsyncIterator[Services]:
        try:
            async with open_services(settings, metrics) as opened:
                yield opened
        finally:
            metrics.process_exited()
            if tracing is not None:
                tracing.shutdown()

    jobs: list[BackgroundJob] = [sweep] if settings.sweep_interval > 0 else []
    app: ASGIApp = observed(
        create_app(
            services,
            telemetry=metrics,
            background=jobs,
            max_header_bytes=settings.max_header_bytes,
        ),
        observe=metrics.request,
        spans=tracing,
    )
    return app if tracing is None else tracing.instrument(app)


def app_from_environment() -> ASGIApp:
    """uvicorn's factory: settings from the environment, checked by the CLI."""
    return build_app(load_settings())
