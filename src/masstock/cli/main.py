"""``masstock``: serve the API, migrate the schema, load the device catalog."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from masstock.cli.devices import devices_app
from masstock.cli.fake_inventory import fake_inventory
from masstock.cli.keys import keys_app, token_app
from masstock.cli.reservations import reservations_app
from masstock.cli.settings import settings
from masstock.domain.errors import StorageUnavailable
from masstock.settings import Settings, SettingsError, load_settings

app = typer.Typer(
    help="Stock reservations: hold one device for one dealer's customer.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(devices_app, name="devices")
app.add_typer(reservations_app, name="reservations")
app.add_typer(keys_app, name="keys")
app.add_typer(token_app, name="token")
app.command("fake-inventory")(fake_inventory)
app.command("settings")(settings)


def settings_or_exit() -> Settings:
    """The settings, or a one-line error naming the bad one and exit code 2."""
    try:
        return load_settings()
    except SettingsError as exc:
        typer.echo(f"masstock: bad setting {exc}", err=True)
        raise typer.Exit(2) from None


def upgrade_or_exit(settings: Settings) -> str:
    """Bring the schema to head, or say why not and exit with code 1."""
    from masstock.adapters import schema
    from masstock.bootstrap import configure_logging

    configure_logging(settings)
    try:
        return schema.upgrade(settings.database_url)
    except StorageUnavailable as exc:
        typer.echo(f"masstock: {exc.message}: {exc.details}", err=True)
        raise typer.Exit(1) from None


def keys_or_exit(settings: Settings) -> None:
    """Check the issuer's key file, or say why it cannot serve and exit with 2."""
    from masstock.adapters.tokens import KeySourceError, check_key_file
    from masstock.bootstrap import token_config

    try:
        check_key_file(token_config(settings))
    except KeySourceError as exc:
        typer.echo(f"masstock: bad key file {exc}", err=True)
        raise typer.Exit(2) from None


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    workers: Annotated[
        int, typer.Option(min=1, help="Worker processes (PostgreSQL only).")
    ] = 1,
) -> None:
    """Serve the API, after bringing the schema up to date."""
    settings = settings_or_exit()
    if settings.is_sqlite and workers > 1:
        typer.echo(
            "masstock: bad option --workers: SQLite allows one writer process; "
            "use PostgreSQL (MASSTOCK_DATABASE_URL) for more workers",
            err=True,
        )
        raise typer.Exit(2)
    metrics_dir = shared_metrics_dir()
    try:
        if settings.auth == "jwt":
            keys_or_exit(settings)
        tracing_or_exit()
        upgrade_or_exit(settings)
        _serve(settings, host=host, port=port, workers=workers)
    finally:
        metrics_dir.cleanup()


def _serve(settings: Settings, *, host: str, port: int, workers: int) -> None:
    import uvicorn

    # uvicorn drains on SIGTERM, then raises the signal again under whatever
    # handler was there before it; a quiet one lets the drained process exit 0.
    signal.signal(signal.SIGTERM, lambda _signal, _frame: None)
    uvicorn.run(
        "masstock.bootstrap:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        # The service writes its own access events, and uvicorn's own records
        # go through the service's log set-up.
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=settings.shutdown_grace,
        server_header=False,
        log_level=settings.log_level,
    )


def tracing_or_exit() -> None:
    """Check the OTEL_* settings, or name the one that cannot be honoured, exit 2."""
    from masstock.adapters.tracing import TracingSettingError, tracing_exporter

    try:
        tracing_exporter()
    except TracingSettingError as exc:
        typer.echo(f"masstock: bad setting {exc}", err=True)
        raise typer.Exit(2) from None


# Read by prometheus_client when it is imported: set here, before that happens.
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"


def shared_metrics_dir() -> MetricsDir:
    """The folder where the workers add up their metrics, emptied for this run.

    PROMETHEUS_MULTIPROC_DIR if the operator set one (on a read-only root
    filesystem, a writable volume), else a new temporary folder, removed at
    exit.  Set before any worker imports prometheus_client, which reads it then.
    """
    given = os.environ.get(MULTIPROCESS_DIR)
    if given:
        folder = Path(given)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):  # a previous run's values
            stale.unlink()
        return MetricsDir(folder, made=False)
    folder = Path(tempfile.mkdtemp(prefix="masstock-metrics-"))
    os.environ[MULTIPROCESS_DIR] = str(folder)
    return MetricsDir(folder, made=True)


@dataclass(frozen=True, slots=True)
class MetricsDir:
    path: Path
    made: bool

    def cleanup(self) -> None:
        if self.made:
            shutil.rmtree(self.path, ignore_errors=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Bring the schema to the latest version."""
    revision = upgrade_or_exit(settings_or_exit())
    typer.echo(f"schema at revision {revision}")


def run() -> None:
    """The console script's entry point."""
    app()
