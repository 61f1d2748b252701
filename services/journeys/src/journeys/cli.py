"""The ``journeys`` command: run the service, fire timers, relay the outbox, print KPIs."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from fastapi.exceptions import RequestValidationError

from journeys import handlers, opendata
from journeys.adapters.kafka import kafka_publisher
from journeys.adapters.mongo import (
    MongoContacts,
    MongoJourneys,
    MongoOffers,
    MongoTimers,
    ensure_indexes,
)
from journeys.api import period_of
from journeys.handlers import Ports
from journeys.main import build, mongo_read_models
from journeys.ports import Publisher
from journeys.settings import Settings
from tdu_shared.clock import Clock, FixedClock, SystemClock
from tdu_shared.logs import configure_logging
from tdu_shared.outbox import MongoOutbox
from tdu_shared.runtime import ServiceRuntime
from tdu_shared.runtime import serve as serve_app

app = typer.Typer(
    help="Trait d'Union journeys: application to hire, commitments, reminders and KPIs.", no_args_is_help=True
)


def _clock(as_of: date | None) -> Clock:
    return FixedClock.as_of(as_of) if as_of else SystemClock()


async def _with_ports(settings: Settings, clock: Clock, work: Any) -> Any:
    runtime = ServiceRuntime("journeys", settings)
    ports = Ports(
        MongoJourneys(runtime.db),
        MongoOffers(runtime.db),
        MongoContacts(runtime.db),
        MongoTimers(runtime.db),
        clock,
        settings.region,
        read_models=mongo_read_models(runtime.db),
        outbox=MongoOutbox(runtime.db),
        relay_lease_s=settings.relay_lease_s,
    )
    await runtime.start(consumers=False)
    await ensure_indexes(runtime.db)
    try:
        return await work(ports, kafka_publisher(runtime.publisher))
    finally:
        await runtime.stop()


@app.command()
def serve() -> None:
    """Run the HTTP API, the Kafka consumers, the outbox relay and the timer loop until stopped."""
    settings = Settings()
    configure_logging("journeys", settings.log_level, json=settings.log_json)
    serve_app(build, settings)


AsOfOption = Annotated[
    datetime | None,
    typer.Option("--as-of", formats=["%Y-%m-%d"], help="Act as if today were this day (UTC noon)."),
]


@app.command("fire-timers")
def fire_timers(as_of: AsOfOption = None) -> None:
    """Fire every timer due now (or as of a day), publish the reminders, and print how many fired."""
    settings = Settings()
    configure_logging("journeys", settings.log_level, json=settings.log_json)

    async def work(ports: Ports, publisher: Publisher) -> int:
        fired = await handlers.fire_due_timers(ports, lease_s=settings.timer_lease_s)
        await handlers.relay_once(ports, publisher)
        return fired

    fired = asyncio.run(_with_ports(settings, _clock(as_of.date() if as_of else None), work))
    typer.echo(json.dumps({"fired": fired}))


@app.command()
def relay() -> None:
    """Publish every pending outbox event once (the running service does this continuously)."""
    settings = Settings()
    configure_logging("journeys", settings.log_level, json=settings.log_json)

    async def work(ports: Ports, publisher: Publisher) -> int:
        total = 0
        while sent := await handlers.relay_once(ports, publisher, lease_s=settings.relay_lease_s):
            total += sent
        return total + await handlers.relay_left(ports, publisher)

    typer.echo(json.dumps({"published": asyncio.run(_with_ports(settings, SystemClock(), work))}))


DayOption = Annotated[datetime | None, typer.Option(formats=["%Y-%m-%d"])]


@app.command()
def kpis(
    basin: Annotated[str | None, typer.Option(help="Only this basin (INSEE zone d'emploi code).")] = None,
    start: Annotated[
        datetime | None, typer.Option("--from", formats=["%Y-%m-%d"], help="First day (default 1 January).")
    ] = None,
    end: Annotated[
        datetime | None, typer.Option("--to", formats=["%Y-%m-%d"], help="Day after the last (default now).")
    ] = None,
) -> None:
    """Print the KPIs of the region and of each basin as JSON."""
    settings = Settings()
    configure_logging("journeys", settings.log_level, json=settings.log_json)

    try:
        period = period_of(start.date() if start else None, end.date() if end else None, datetime.now(UTC))
    except RequestValidationError as exc:
        [error] = exc.errors()
        raise typer.BadParameter(error["msg"], param_hint=f"--{error['loc'][-1]}") from None

    async def work(ports: Ports, publisher: Publisher) -> dict[str, Any]:
        return await handlers.compute_kpis(ports, period, basin)

    typer.echo(json.dumps(asyncio.run(_with_ports(settings, SystemClock(), work)), indent=2))


@app.command()
def retention(
    months: Annotated[
        int | None, typer.Option(help="Months after the last journey ended (default RETENTION_MONTHS).")
    ] = None,
    as_of: AsOfOption = None,
) -> None:
    """Erase the personal data of seekers whose every journey ended that long ago (their journeys stay,
    anonymised, and keep counting); print how many. Safe to repeat: run it daily."""
    settings = Settings()
    configure_logging("journeys", settings.log_level, json=settings.log_json)

    async def work(ports: Ports, publisher: Publisher) -> dict[str, int]:
        done = await handlers.apply_retention(ports, publisher, months or settings.retention_months)
        await handlers.relay_once(ports, publisher)
        return done

    clock = _clock(as_of.date() if as_of else None)
    typer.echo(json.dumps(asyncio.run(_with_ports(settings, clock, work))))


@app.command("rebuild-read-models")
def rebuild_read_models() -> None:
    """Recompute the journey lists and KPI counters from every stored journey, list again the journeys
    with unpublished events and the pending timers (after an upgrade); print how many of each.

    Safe to repeat. Run it with the service stopped (a write during the rebuild could be missed until
    that journey's next change).
    """
    settings = Settings()
    configure_logging("journeys", settings.log_level, json=settings.log_json)

    async def work(ports: Ports, publisher: Publisher) -> dict[str, int]:
        return await handlers.rebuild_read_models(ports)

    typer.echo(json.dumps(asyncio.run(_with_ports(settings, SystemClock(), work))))


@app.command("open-data")
def open_data(
    month: Annotated[str | None, typer.Option(help="Month, YYYY-MM (default: the previous one).")] = None,
    out: Annotated[Path | None, typer.Option(help="Also write the CSV, JSON and schema.json there.")] = None,
    preview: Annotated[
        bool,
        typer.Option(
            help="Only write the files (--out), for a month under way too: nothing stored nor served."
        ),
    ] = False,
) -> None:
    """Export a month's results as open data: counts per region and basin, by ROME grand domaine and
    contract type, none below 5 nor to be worked out from the others; stored for the public endpoints
    /open-data/... (the latest one too); print a summary. Safe to repeat (a monthly job)."""
    settings = Settings()
    configure_logging("journeys", settings.log_level, json=settings.log_json)
    now = datetime.now(UTC)
    try:
        chosen = opendata.month_to_export(month, now, preview)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--month") from None
    if preview and out is None:
        raise typer.BadParameter("un aperçu s'écrit dans un dossier : donnez --out", param_hint="--preview")
    report = asyncio.run(opendata.run(settings, chosen, out, now, preview=preview))
    typer.echo(json.dumps(report, ensure_ascii=False))
