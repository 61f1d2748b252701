"""Command line of the offers service: run it, import offer files, fetch from France Travail, blacklist."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Annotated, Any
from uuid import uuid4

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from offers.adapters.reference import RomeReference, default_geography
from offers.domain.model import InvalidRecord
from offers.files import Unreadable, read_records
from offers.settings import Settings
from offers.translate import prepare
from tdu_shared.contracts.offers import OfferRefreshCompleted, OfferSubmitted
from tdu_shared.envelope import new_envelope
from tdu_shared.kafka import EventPublisher, Outgoing, ensure_topics
from tdu_shared.logs import configure_logging
from tdu_shared.topics import ALL_TOPICS, OFFERS_SUBMITTED, Topics

app = typer.Typer(
    help="Trait d'Union offers service: job offers in, clean and located offers out.", no_args_is_help=True
)
console = Console(stderr=True)
SOURCES = ("france_travail", "partner", "employer")


@app.command()
def serve() -> None:
    """Run the service: the offers.submitted consumer and the HTTP API (port HTTP_PORT, default 8001)."""
    settings = Settings()
    configure_logging("offers", settings.log_level, json=settings.log_json)
    from offers.main import build
    from tdu_shared.runtime import serve as serve_app

    serve_app(build, settings)


@app.command("ban-standin")
def ban_standin(
    recordings: Annotated[Path, typer.Argument(help="JSON file: query -> BAN FeatureCollection answered.")],
    port: Annotated[int, typer.Option(help="Port to listen on (127.0.0.1).")] = 8090,
) -> None:
    """Serve recorded national address base (BAN) answers on GET /search, for GEOCODER_URL in demos."""
    import uvicorn

    from offers.standins import ban_standin_app

    uvicorn.run(ban_standin_app(recordings), host="127.0.0.1", port=port, log_level="warning")


def parse_refresh(value: str | None) -> tuple[str, str] | None:
    if value is None:
        return None
    scope, _, code = value.partition(":")
    if scope not in ("departement", "basin") or not code:
        raise typer.BadParameter("expected departement:<code> or basin:<code>, e.g. departement:57")
    return scope, code


@app.command("import")
def import_file(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, help="JSON array, {'resultats': [...]} pages, or JSON lines."
        ),
    ],
    source: Annotated[str, typer.Option(help="france_travail, partner or employer.")] = "france_travail",
    partner: Annotated[str | None, typer.Option(help="Partner code (source partner).")] = None,
    refresh: Annotated[
        str | None,
        typer.Option(
            help="Full refresh of a scope: departement:57 or basin:4410. "
            "Offers of the scope missing from the file are withdrawn."
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only normalise and count: no Kafka, no store.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as one JSON object.")] = False,
) -> None:
    """Publish every record of FILE to offers.submitted (with a progress bar), or --dry-run to count them."""
    if source not in SOURCES:
        raise typer.BadParameter(f"source must be one of {', '.join(SOURCES)}")
    scope = parse_refresh(refresh)
    if dry_run:
        report = dry_run_counts(file, source, partner)
        if as_json:
            typer.echo(json.dumps(report, ensure_ascii=False))
        else:
            print_report(report)
        return
    settings = Settings()
    configure_logging("offers", settings.log_level, json=settings.log_json)
    sent = asyncio.run(publish_file(file, source, partner, scope, settings))
    if as_json:
        typer.echo(json.dumps({"published": sent}))
    else:
        console.print(f"{sent} offres publiées sur {OFFERS_SUBMITTED.name}")


def dry_run_counts(file: Path, source: str, partner: str | None) -> dict[str, Any]:
    """read/accepted/rejected, and reasons: 'rejected:<field or cause>' for records that can never be
    offers, and for accepted ones why they are kept out of matching or flagged (interim, unlocated ...).
    """
    geo, rome = default_geography(), RomeReference()
    counts: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    for record in read_records(file):
        counts["read"] += 1
        if isinstance(record, Unreadable):
            counts["rejected"] += 1
            reasons["rejected:not JSON"] += 1
            continue
        try:
            prepared = prepare(source, record, partner, geo, rome)
        except InvalidRecord as exc:
            counts["rejected"] += 1
            reasons[f"rejected:{exc.reason.split(':')[0]}"] += 1
            continue
        counts["accepted"] += 1
        reasons.update(prepared.offer.notes)
    return {
        "read": counts["read"],
        "accepted": counts["accepted"],
        "rejected": counts["rejected"],
        "reasons": dict(reasons.most_common()),
    }


def print_report(report: dict[str, Any]) -> None:
    table = Table(
        title=f"{report['read']} lues, {report['accepted']} acceptées, {report['rejected']} rejetées"
    )
    table.add_column("raison")
    table.add_column("offres", justify="right")
    for reason, count in report["reasons"].items():
        table.add_row(reason, str(count))
    Console().print(table)


async def publish_file(
    file: Path, source: str, partner: str | None, scope: tuple[str, str] | None, settings: Settings
) -> int:
    return await publish_records(list(read_records(file)), file.name, source, partner, scope, settings)


async def publish_records(
    records: list[Any],
    label: str,
    source: str,
    partner: str | None,
    scope: tuple[str, str] | None,
    settings: Settings,
    chunk: int = 1000,
) -> int:
    """Publish the records as OfferSubmitted (and the end marker of a full refresh); returns how many."""
    refresh_id = f"refresh-{uuid4().hex}" if scope else None
    topics = Topics(settings.topic_prefix)
    if settings.create_topics:
        await ensure_topics(
            settings.kafka_bootstrap_servers,
            topics,
            ALL_TOPICS,
            replication_factor=settings.kafka_replication_factor,
        )
    geo, rome = default_geography(settings.basins_file), RomeReference()
    sent = 0
    async with EventPublisher(
        settings.kafka_bootstrap_servers, topics, client_id="offers-import"
    ) as publisher:
        with Progress(console=console, transient=False) as progress:
            task = progress.add_task(f"{label} -> {OFFERS_SUBMITTED.name}", total=len(records))
            for start in range(0, len(records), chunk):
                batch = [r for r in records[start : start + chunk] if not isinstance(r, Unreadable)]
                await publisher.publish_many(
                    [submission(r, source, partner, refresh_id, settings, geo, rome) for r in batch]
                )
                sent += len(batch)
                progress.advance(task, len(records[start : start + chunk]))
        if scope and refresh_id:
            done = OfferRefreshCompleted(
                refresh_id=refresh_id,
                source=source,
                partner=partner,
                scope=scope[0],
                scope_code=scope[1],
                submitted=sent,
            )
            envelope = new_envelope(done, producer="offers-import", region=settings.region, basin=None)
            await publisher.publish(OFFERS_SUBMITTED, refresh_id, envelope)
    return sent


@app.command()
def fetch(
    departement: Annotated[str, typer.Option(help="Département code, e.g. 57.")],
    refresh: Annotated[
        bool,
        typer.Option("--refresh", help="Full refresh: offers of the département not fetched are withdrawn."),
    ] = False,
) -> None:
    """Fetch a département's offers from the France Travail API and publish them to offers.submitted.

    Needs FRANCE_TRAVAIL_CLIENT_ID and FRANCE_TRAVAIL_CLIENT_SECRET.
    """
    settings = Settings()
    configure_logging("offers", settings.log_level, json=settings.log_json)
    if not (settings.france_travail_client_id and settings.france_travail_client_secret):
        raise typer.BadParameter("set FRANCE_TRAVAIL_CLIENT_ID and FRANCE_TRAVAIL_CLIENT_SECRET")
    sent = asyncio.run(_fetch(departement, refresh, settings))
    console.print(f"{sent} offres du {departement} publiées sur {OFFERS_SUBMITTED.name}")


async def _fetch(departement: str, refresh: bool, settings: Settings) -> int:
    from offers.adapters.france_travail_api import FranceTravailClient

    client = FranceTravailClient(
        settings.france_travail_api_url,
        settings.france_travail_token_url,
        settings.france_travail_client_id or "",
        settings.france_travail_client_secret.get_secret_value()
        if settings.france_travail_client_secret
        else "",
        scope=settings.france_travail_scope,
        requests_per_second=settings.france_travail_requests_per_second,
    )
    try:
        records = [o async for o in client.offers_of_departement(departement)]
    finally:
        await client.close()
    scope = ("departement", departement) if refresh else None
    return await publish_records(
        records, f"France Travail {departement}", "france_travail", None, scope, settings
    )


def submission(
    record: Any,
    source: str,
    partner: str | None,
    refresh_id: str | None,
    settings: Settings,
    geo: Any,
    rome: Any,
) -> Outgoing:
    """One OfferSubmitted, keyed by the record's id and sent to its basin's partition when it has one."""
    try:
        state = prepare(source, record, partner, geo, rome).state
        key, basin = state.offer_id, state.basin
    except InvalidRecord:
        key, basin = str(record.get("id", "invalid")) if isinstance(record, dict) else "invalid", None
    payload = OfferSubmitted(
        source=source,
        partner=partner,
        record=record if isinstance(record, dict) else {"value": record},
        refresh_id=refresh_id,
    )
    envelope = new_envelope(payload, producer="offers-import", region=settings.region, basin=basin)
    return Outgoing(OFFERS_SUBMITTED, key, envelope)
