"""``masstock reservations``: operators' work on reservations."""

from __future__ import annotations

import asyncio

import typer

reservations_app = typer.Typer(help="Reservations.", no_args_is_help=True)


@reservations_app.command("expire")
def expire() -> None:
    """Write down every hold whose time ran out, once (for cron)."""
    from masstock.bootstrap import open_services
    from masstock.cli.main import settings_or_exit, upgrade_or_exit
    from masstock.domain.errors import StorageUnavailable

    settings = settings_or_exit()
    upgrade_or_exit(settings)

    async def _expire() -> int:
        async with open_services(settings) as services:
            return await services.reservations.expire_due(limit=settings.sweep_batch)

    try:
        expired = asyncio.run(_expire())
    except StorageUnavailable as exc:
        typer.echo(f"masstock: {exc.message}: {exc.details}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"expired {expired} reservation{'' if expired == 1 else 's'}")
