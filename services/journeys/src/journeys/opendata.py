"""Monthly open data on the results (what is counted and protected: ``domain.opendata``).

``journeys open-data`` builds a month's table from every journey applied before the month's end, read
page by page from the region's journey list (500 at a time, each by ``_id``; the counts are kept, not the
journeys): a monthly batch, not a hot path, so reading every journey is acceptable. The table is stored
(``adapters.opendata``) and served without a credential under ``/open-data/``; ``--out`` also writes it
to files.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, HTTPException
from fastapi import Path as PathParam
from fastapi.responses import Response

from journeys.adapters.mongo import MongoContacts, MongoJourneys, MongoOffers, MongoTimers
from journeys.adapters.opendata import MongoOpenData, StoredExport
from journeys.domain.opendata import (
    Export,
    OfferFacts,
    Tally,
    Territory,
    build_export,
    month_period,
    parse_month,
    previous_month,
    table_schema,
)
from journeys.handlers import Ports
from journeys.ports import JourneyQuery
from journeys.readmodels import encode_cursor
from journeys.settings import Settings
from tdu_shared.clock import SystemClock
from tdu_shared.geo import load_basins
from tdu_shared.mongo import connect

PAGE_SIZE = 500
OFFER_READS = 64
"""Offers read by ``_id`` at once (one round per page of journeys)."""
CACHE = "public, max-age=3600"


class OpenDataStore(Protocol):
    async def save(self, export: StoredExport) -> None: ...

    async def get(self, month: str) -> StoredExport | None: ...

    async def latest(self) -> StoredExport | None: ...


def month_to_export(month: str | None, now: datetime, preview: bool = False) -> str:
    """The month asked (default: the previous one); refused (ValueError) until it has ended: a table of
    a month under way, published again once complete, would let anyone subtract one from the other. A
    ``preview`` (files only, never stored nor served) may show a month under way."""
    chosen = parse_month(month) if month else previous_month(now)
    if not preview and month_period(chosen).end > now.astimezone(UTC):
        raise ValueError(f"le mois {chosen} n'est pas terminé : il s'exporte à partir du 1er du mois suivant")
    return chosen


async def build(
    ports: Ports, month: str, region: Territory, basins: Sequence[Territory], now: datetime
) -> Export:
    """The month's table from every journey applied before its end."""
    period = month_period(month)
    tally = Tally(period)
    offers: dict[str, OfferFacts | None] = {}
    # The region's list is newest first: start from the month's end (later applications have no step in it).
    cursor: str | None = encode_cursor(period.end, "")
    while cursor:
        page = await ports.read_models.page(JourneyQuery(), 0, PAGE_SIZE, ports.journeys, cursor)
        missing = sorted({j.offer_id for j in page.items} - offers.keys())
        for start in range(0, len(missing), OFFER_READS):
            chunk = missing[start : start + OFFER_READS]
            found = await asyncio.gather(*(ports.offers.get(offer_id) for offer_id in chunk))
            for offer_id, offer in zip(chunk, found, strict=True):
                offers[offer_id] = OfferFacts.of(offer.rome_code, offer.contract_type) if offer else None
        for journey in page.items:
            tally.add(journey, offers[journey.offer_id])
        cursor = page.next_cursor
    return build_export(month, region, basins, tally, now)


def stored(export: Export) -> StoredExport:
    return StoredExport(
        export.month,
        export.region.code,
        export.generated_at,
        export.csv(),
        export.json(),
        len(export.rows),
        export.suppressed,
    )


def file_name(region: str, month: str, suffix: str) -> str:
    return f"traitdunion-{region}-{month}.{suffix}"


def write_files(export: StoredExport, out: Path) -> list[str]:
    """The CSV, the JSON and the Table Schema, in ``out`` (created if need be)."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in (
        (file_name(export.region, export.month, "csv"), export.csv),
        (file_name(export.region, export.month, "json"), export.json),
        ("schema.json", json.dumps(table_schema(), ensure_ascii=False, indent=2)),
    ):
        with (out / name).open("w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        written.append(str(out / name))
    return written


async def run(
    settings: Settings, month: str, out: Path | None, now: datetime, *, preview: bool = False
) -> dict[str, Any]:
    """``journeys open-data``: build the month's table from the store, keep it there (not a ``preview``),
    write the files."""
    from journeys.main import mongo_read_models  # the composition root imports this module

    config = load_basins(settings.basins_file)
    ours = config.region == settings.region
    region = Territory(settings.region, config.region_name if ours else settings.region)
    basins = [Territory(b.code, b.name) for b in config.basins] if ours else []
    client = connect(settings.mongodb_url)
    try:
        db = client[settings.mongodb_database]
        ports = Ports(
            MongoJourneys(db),
            MongoOffers(db),
            MongoContacts(db),
            MongoTimers(db),
            SystemClock(),
            settings.region,
            read_models=mongo_read_models(db),
        )
        export = await build(ports, month, region, basins, now)
        kept = stored(export)
        if not preview:
            await MongoOpenData(db).save(kept)
    finally:
        await client.close()
    return {
        "month": month,
        "region": region.code,
        "journeys_read": export.journeys_read,
        "rows": kept.rows,
        "suppressed": kept.suppressed,
        "stored": not preview,
        "files": write_files(kept, out) if out else [],
    }


# ---------------------------------------------------------------- public endpoints

Month = Annotated[
    str,
    PathParam(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="Month, YYYY-MM.", examples=["2026-11"]),
]
CSV_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {"description": "The table (UTF-8, `;`)", "content": {"text/csv": {"schema": {"type": "string"}}}},
    404: {"description": "Nothing exported for that month (yet)"},
}
JSON_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The table and its metadata",
        "content": {"application/json": {"schema": {"type": "object"}}},
    },
    404: {"description": "Nothing exported for that month (yet)"},
}


def open_data_router(store: OpenDataStore) -> APIRouter:
    """Public (no credential): the latest export and each month's, as CSV or JSON, and the schema."""
    api = APIRouter(tags=["open-data"])

    async def latest() -> StoredExport:
        found = await store.latest()
        if found is None:
            raise HTTPException(404, "aucun export de données ouvertes n'a encore été publié")
        return found

    async def of(month: str) -> StoredExport:
        found = await store.get(month)
        if found is None:
            raise HTTPException(
                404,
                f"aucun export de données ouvertes pour {month} : chaque mois est publié au début du mois "
                "suivant (GET /open-data/latest.csv donne le dernier)",
            )
        return found

    @api.get("/open-data/schema.json", summary="Table Schema (Frictionless) of the open-data CSV, in French")
    async def schema() -> dict[str, Any]:
        return table_schema()

    @api.get(
        "/open-data/latest.csv",
        response_class=Response,
        responses=CSV_ANSWER,
        summary="The latest monthly open-data table, CSV",
    )
    async def latest_csv() -> Response:
        return _csv(await latest())

    @api.get(
        "/open-data/latest.json",
        response_class=Response,
        responses=JSON_ANSWER,
        summary="The latest monthly open-data table, JSON",
    )
    async def latest_json() -> Response:
        return _json(await latest())

    @api.get(
        "/open-data/{month}.csv",
        response_class=Response,
        responses=CSV_ANSWER,
        summary="A month's open-data table, CSV",
    )
    async def month_csv(month: Month) -> Response:
        return _csv(await of(month))

    @api.get(
        "/open-data/{month}.json",
        response_class=Response,
        responses=JSON_ANSWER,
        summary="A month's open-data table, JSON",
    )
    async def month_json(month: Month) -> Response:
        return _json(await of(month))

    return api


def _headers(export: StoredExport, suffix: str) -> dict[str, str]:
    return {
        "Content-Disposition": f'inline; filename="{file_name(export.region, export.month, suffix)}"',
        "Cache-Control": CACHE,
        "Access-Control-Allow-Origin": "*",
    }


def _csv(export: StoredExport) -> Response:
    return Response(export.csv, media_type="text/csv; charset=utf-8", headers=_headers(export, "csv"))


def _json(export: StoredExport) -> Response:
    return Response(export.json, media_type="application/json", headers=_headers(export, "json"))
