"""``masstock fake-inventory``: a stand-in logistics stock API, faults on demand."""

from __future__ import annotations

import asyncio
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

if TYPE_CHECKING:
    from masstock.fake_inventory.catalog import Stock
    from masstock.fake_inventory.server import FakeInventory


class LogLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


# Typer makes each command-line option a parameter; there is no other place.
def fake_inventory(  # noqa: PLR0913
    *,
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port to listen on (0: any free).")
    ],
    catalog: Annotated[
        Path,
        typer.Option(
            help="CSV with the header org,identifier,reference,mac,kind.",
            metavar="FILE.csv",
        ),
    ],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    token: Annotated[
        str | None, typer.Option(help="Require this static bearer token on lookups.")
    ] = None,
    client_id: Annotated[
        str | None, typer.Option(help="The OAuth2 client allowed to get tokens.")
    ] = None,
    client_secret: Annotated[
        str | None, typer.Option(help="That client's secret.")
    ] = None,
    token_ttl: Annotated[
        int, typer.Option(min=1, help="Lifetime of issued tokens, in seconds.")
    ] = 3600,
    log_level: Annotated[
        LogLevel, typer.Option(help="Least level logged to stderr.")
    ] = LogLevel.INFO,
) -> None:
    """Serve the logistics stock API from a catalog, with faults set over HTTP.

    PUT /_admin/faults sets faults (delay, hang, status, error_rate,
    retry_after, reset, truncate, garbage, oversize, redirect, count);
    GET /_admin/calls counts what was asked.  Stops on SIGTERM or SIGINT.
    """
    from masstock.adapters.device_csv import CatalogFile
    from masstock.domain.errors import MasstockError
    from masstock.fake_inventory.catalog import load_stock
    from masstock.fake_inventory.server import serve

    if (client_id is None) != (client_secret is None):
        _fail("give both --client-id and --client-secret, or neither", code=2)
    try:
        source = CatalogFile(catalog)
        stock = load_stock(source.rows(), name=source.name)
    except MasstockError as exc:
        _fail(exc.message, code=2)

    _configure_logging(log_level)
    inventory = _inventory(
        stock,
        token=token,
        client=(client_id, client_secret),
        token_ttl=token_ttl,
    )
    try:
        asyncio.run(serve(inventory, host=host, port=port, on_ready=_say_ready))
    except OSError as exc:
        _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}", code=1)


def _inventory(
    stock: Stock,
    *,
    token: str | None,
    client: tuple[str | None, str | None],
    token_ttl: int,
) -> FakeInventory:
    from masstock.fake_inventory.auth import Client, Gate
    from masstock.fake_inventory.faults import FaultSwitch
    from masstock.fake_inventory.server import FakeInventory

    client_id, secret = client
    registered = (
        Client(client_id=client_id, secret=secret)
        if client_id is not None and secret is not None
        else None
    )
    gate = Gate(token=token, client=registered, token_ttl=token_ttl)
    return FakeInventory(stock=stock, gate=gate, switch=FaultSwitch())


def _configure_logging(level: LogLevel) -> None:
    import logging

    import structlog

    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelName(level.value.upper())
        ),
        logger_factory=structlog.WriteLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )


def _say_ready(url: str) -> None:
    typer.echo(f"fake inventory listening on {url}")
    sys.stdout.flush()


def _fail(message: str, *, code: int) -> NoReturn:
    typer.echo(f"masstock: {message}", err=True)
    raise typer.Exit(code)
