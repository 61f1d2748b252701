"""``trainings``: run the service, import LHEO catalogues."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from tdu_shared.logs import configure_logging
from trainings.domain.report import ImportReport
from trainings.handlers import DryRun
from trainings.importer import run_import, source_of
from trainings.settings import Settings

app = typer.Typer(
    help="Trait d'Union trainings service: the region's LHEO catalogue in, sessions out.",
    no_args_is_help=True,
)
err = Console(stderr=True)


@app.command()
def serve() -> None:
    """Run the service: HTTP API (port HTTP_PORT, default 8002) and the trainings.submitted consumer."""
    from tdu_shared.runtime import serve as run
    from trainings.main import build

    settings = Settings()
    configure_logging("trainings", settings.log_level, json=settings.log_json)
    run(build, settings)


@app.command("import")
def import_(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="LHEO 2.2/2.3 file.")
    ],
    source: Annotated[
        str | None,
        typer.Option(help="Catalogue source this file is a snapshot of (default: from the file name)."),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Parse and normalise only: no Kafka, no store, nothing published."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object (no progress bar).")] = False,
    validate: Annotated[
        bool,
        typer.Option(
            "--validate", help="Also check the file against the LHEO 2.3 XSD (reported, not refused)."
        ),
    ] = False,
) -> None:
    """Import an LHEO catalogue as a snapshot of its source.

    Sessions new or changed are stored and published on trainings.sessions; sessions of the source that
    the file no longer lists are withdrawn, unless the file breaks (then the line is reported, nothing is
    withdrawn, and the exit code is 1).
    """
    settings = Settings()
    configure_logging("trainings", settings.log_level, json=settings.log_json)
    chosen = source or source_of(file)
    with file.open("rb") as handle:
        report = asyncio.run(
            _import(handle, file.stat().st_size, chosen, dry_run, validate, as_json, settings)
        )
    summary = report.dry_run_summary() if dry_run else report.summary()
    if as_json:
        typer.echo(json.dumps(summary, ensure_ascii=False))
    else:
        _print(summary, dry_run)
    if not report.complete:
        raise typer.Exit(1)


async def _import(
    handle: IO[bytes], size: int, source: str, dry_run: bool, validate: bool, quiet: bool, settings: Settings
) -> ImportReport:
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=quiet or not sys.stderr.isatty(),
        transient=True,
    ) as progress:
        task = progress.add_task(f"import {source}", total=size)

        def advance(_line: int) -> None:
            progress.update(task, completed=handle.tell())

        if dry_run:
            return await run_import(handle, source, DryRun(), validate=validate, on_progress=advance)
        from trainings.main import build_service

        service = build_service(settings)
        await service.runtime.start(consumers=False)
        try:
            return await service.import_file(handle, source, validate, on_progress=advance)
        finally:
            await service.runtime.stop()


def _print(summary: dict[str, Any], dry_run: bool) -> None:
    out = Console()
    keys = ["formations", "actions", "sessions", "funded_sessions", "rejected"]
    if not dry_run:
        keys += ["published", "updated", "unchanged", "withdrawn"]
    out.print(f"source {summary['source']}: " + ", ".join(f"{k} {summary[k]}" for k in keys))
    if summary["reasons"]:
        out.print("rejections: " + ", ".join(f"{k} {v}" for k, v in dict(summary["reasons"]).items()))
    if "violations" in summary:
        violations = summary["violations"]
        out.print(f"LHEO 2.3 schema violations: {violations['count']}")
        for v in violations["first"][:10]:
            out.print(f"  line {v['line']}: {v['message']}")
    if "error" in summary:
        error = summary["error"]
        err.print(
            f"[red]import incomplete, nothing withdrawn: {error['message']} (line {error['line']})[/red]"
        )
