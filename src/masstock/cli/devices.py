"""``masstock devices``: load the embedded device catalog from CSV."""

from __future__ import annotations

import asyncio
import time
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from masstock.adapters.device_csv import CatalogFile
    from masstock.domain.errors import MasstockError
    from masstock.service.catalog import ImportReport, OnProgress, Stage
    from masstock.settings import Settings

devices_app = typer.Typer(help="The device catalog.", no_args_is_help=True)


@devices_app.command("import")
def import_devices(
    file: Annotated[
        Path | None,
        typer.Argument(
            help="CSV with the header org,identifier,reference,mac,kind.",
            metavar="FILE",
            show_default=False,
        ),
    ] = None,
    sample: Annotated[
        bool, typer.Option("--sample", help="Load the sample catalog shipped inside.")
    ] = False,
    skip_invalid: Annotated[
        bool,
        typer.Option(
            "--skip-invalid", help="Import the good rows even when some are bad."
        ),
    ] = False,
) -> None:
    """Add or update devices from a CSV file; any bad row stops the import.

    Bad rows are listed by line number.  Exits 0 when imported; 1 when rows
    were rejected (nothing imported) or the database failed; 2 when the file
    cannot be used at all.
    """
    from masstock.adapters.device_csv import CatalogFile, sample_catalog
    from masstock.cli.main import settings_or_exit, upgrade_or_exit
    from masstock.domain.errors import MasstockError

    if (file is None) != sample:
        _fail("give either FILE or --sample", code=2)
    settings = settings_or_exit()

    with ExitStack() as stack:
        try:
            catalog = (
                CatalogFile(file)
                if file is not None
                else stack.enter_context(sample_catalog())
            )
            upgrade_or_exit(settings)
            started = time.perf_counter()
            report = _import(catalog, settings=settings, skip_invalid=skip_invalid)
        except MasstockError as exc:
            _fail_on(exc)
    seconds = time.perf_counter() - started

    for line, reason in report.rejected:
        typer.echo(f"line {line}: {reason}", err=True)
    typer.echo(_summary(report, seconds=seconds))
    if report.rejected and not skip_invalid:
        _fail("nothing imported; fix the rows above or use --skip-invalid", code=1)


def _import(
    catalog: CatalogFile, *, settings: Settings, skip_invalid: bool
) -> ImportReport:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from masstock.bootstrap import open_device_catalog, utc_now
    from masstock.service.catalog import import_catalog

    async def _run(progress: OnProgress | None) -> ImportReport:
        async with open_device_catalog(settings) as devices:
            return await import_catalog(
                devices,
                rows=catalog.records(),
                orgs=frozenset(settings.orgs),
                skip_invalid=skip_invalid,
                clock=utc_now,
                progress=progress,
            )

    console = Console(stderr=True)
    if not console.is_terminal:
        return asyncio.run(_run(None))

    columns = (
        TextColumn("{task.description:>8}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        bars = _Bars(progress, estimate=max(catalog.count_lines() - 1, 0))
        report = asyncio.run(_run(bars))
        bars.finish()
    return report


class _Bars:
    """Each stage of an import as a rich progress bar."""

    def __init__(self, progress: Progress, *, estimate: int) -> None:
        self._progress = progress
        self._estimate = estimate
        self._tasks: dict[Stage, TaskID] = {}
        self._saving = 0

    def __call__(self, *, stage: Stage, done: int, total: int | None) -> None:
        from masstock.service.catalog import Stage

        if stage is Stage.WRITING and total is None:
            total = max(self._estimate, done)
        if stage is Stage.SAVING:
            self._saving = done
            done, total = 0, None
        if stage not in self._tasks:
            self._tasks[stage] = self._progress.add_task(stage.value, total=total)
        self._progress.update(self._tasks[stage], completed=done, total=total)

    def finish(self) -> None:
        """Show the rows saved as done, once the transaction has committed."""
        for task in self._progress.tasks:
            if task.total is None:
                self._progress.update(
                    task.id, total=self._saving, completed=self._saving
                )


def _summary(report: ImportReport, *, seconds: float) -> str:
    rate = report.imported / seconds if seconds > 0 else 0.0
    devices = "device" if report.imported == 1 else "devices"
    rows = "row" if len(report.rejected) == 1 else "rows"
    return (
        f"imported {report.imported} {devices} "
        f"({len(report.rejected)} {rows} rejected) "
        f"in {seconds:.1f} s, {rate:,.0f} rows/s"
    )


def _fail_on(exc: MasstockError) -> NoReturn:
    from masstock.adapters.device_csv import CatalogFileError

    details = f": {exc.details}" if exc.details else ""
    _fail(f"{exc.message}{details}", code=2 if isinstance(exc, CatalogFileError) else 1)


def _fail(message: str, *, code: int) -> NoReturn:
    typer.echo(f"masstock: {message}", err=True)
    raise typer.Exit(code)
