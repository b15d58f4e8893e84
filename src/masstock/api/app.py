"""The Litestar application: routes, error mapping and the services they call."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from litestar import Litestar, Router
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import Provide
from litestar.handlers.base import BaseRouteHandler

from masstock.api import docs
from masstock.api.bodies import MAX_BODY_BYTES
from masstock.api.devices import get_device
from masstock.api.errors import EXCEPTION_HANDLERS
from masstock.api.reservations import cancel_reservation, create_reservation
from masstock.api.services import Services
from masstock.domain.errors import OrganizationNotFound

ServicesFactory = Callable[[], AbstractAsyncContextManager[Services]]


def create_app(open_services: ServicesFactory) -> Litestar:
    """The API, with services opened at start-up and closed at shutdown."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with open_services() as services:
            app.state.services = services
            yield

    orgs = Router(
        path="/v1/orgs/{org:str}",
        route_handlers=[create_reservation, cancel_reservation, get_device],
        guards=[_registered_org],
        tags=["Stock Reservations"],
    )
    return Litestar(
        route_handlers=[orgs, *docs.ROUTES],
        lifespan=[lifespan],
        dependencies={"services": Provide(_services, sync_to_thread=False)},
        exception_handlers=EXCEPTION_HANDLERS,
        request_max_body_size=MAX_BODY_BYTES,
        openapi_config=None,
        debug=False,
    )


def _services(state: State) -> Services:
    services: Services = state.services
    return services


def _registered_org(
    connection: ASGIConnection[Any, Any, Any, Any], _handler: BaseRouteHandler
) -> None:
    org = connection.path_params["org"]
    if org not in _services(connection.app.state).orgs:
        raise OrganizationNotFound(org)
