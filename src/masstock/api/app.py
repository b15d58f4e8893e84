"""The Litestar application: routes, error mapping and the services they call."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from litestar import Litestar, Router
from litestar.datastructures import State

from masstock.api import docs, health, metrics
from masstock.api.auth import admit
from masstock.api.bodies import MAX_BODY_BYTES
from masstock.api.devices import get_device
from masstock.api.errors import EXCEPTION_HANDLERS
from masstock.api.metrics import Telemetry
from masstock.api.reservations import (
    cancel_reservation,
    create_reservation,
    extend_reservation,
    finalize_reservation,
    get_reservation,
    get_reservation_history,
)
from masstock.api.search import search_reservations
from masstock.api.security import security_middleware
from masstock.api.services import Services

ServicesFactory = Callable[[], AbstractAsyncContextManager[Services]]
BackgroundJob = Callable[[Services], Coroutine[None, None, None]]


def create_app(
    open_services: ServicesFactory,
    *,
    telemetry: Telemetry,
    background: Sequence[BackgroundJob] = (),
    max_header_bytes: int,
) -> Litestar:
    """The API, with services opened at start-up and closed at shutdown.

    Each job of ``background`` runs beside the API for as long as it serves.
    """

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with open_services() as services:
            app.state.services = services
            # What start-up made lives as long as the process: keep the
            # collector's full passes, which stall every request, off it.
            gc.freeze()
            jobs = [asyncio.create_task(job(services)) for job in background]
            try:
                yield
            finally:
                for job in jobs:
                    job.cancel()
                for job in jobs:
                    with contextlib.suppress(asyncio.CancelledError):
                        await job

    orgs = Router(
        path="/v1/orgs/{org:str}",
        route_handlers=[
            create_reservation,
            get_reservation,
            search_reservations,
            get_reservation_history,
            cancel_reservation,
            finalize_reservation,
            extend_reservation,
            get_device,
        ],
        before_request=admit,
        tags=["Stock Reservations"],
    )
    return Litestar(
        route_handlers=[
            orgs,
            health.live,
            health.ready,
            metrics.metrics,
            *docs.ROUTES,
        ],
        lifespan=[lifespan],
        state=State({"telemetry": telemetry}),
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[security_middleware(max_header_bytes=max_header_bytes)],
        request_max_body_size=MAX_BODY_BYTES,
        openapi_config=None,
        # Logging is set up once, by the composition root, for every library.
        logging_config=None,
        debug=False,
    )
