"""Journeys benchmark: command throughput on the real store, and KPI computation over a region's year.

Prints one JSON object. Sizes default to the issue's scale: about 50,000 job seekers a year in the region
(KPIs over one year of journeys); store throughput is measured on a smaller sample of journeys taken
through application, immersion and commitment, with their outbox relayed (to an in-memory publisher).

    uv run python bench/journeys_bench.py --kpi-journeys 50000 --store-journeys 300
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import typer

from journeys import handlers
from journeys.adapters.memory import MemoryPublisher
from journeys.adapters.mongo import MongoContacts, MongoJourneys, MongoOffers, MongoTimers, ensure_indexes
from journeys.domain.kpis import Period, kpis
from journeys.domain.model import Journey, Step
from journeys.handlers import Ports
from journeys.testing import EMPLOYER_ID, application, eligibility
from tdu_shared.clock import FixedClock
from tdu_shared.contracts import journeys as c
from tdu_shared.contracts.journeys import JourneyState, Role
from tdu_shared.logs import configure_logging
from tdu_shared.mongo import connect

app = typer.Typer(add_completion=False)
FUNNEL = [
    JourneyState.IMMERSION_SCHEDULED,
    JourneyState.IMMERSION_DONE,
    JourneyState.COMMITTED,
    JourneyState.TRAINING_STARTED,
    JourneyState.TRAINING_COMPLETED,
    JourneyState.HIRED,
]


def synthetic_year(count: int, seed: int = 7) -> list[Journey]:
    """Journeys spread over a year and 16 basins, each going a random way down the funnel."""
    rng = random.Random(seed)
    start = datetime(2027, 1, 1, tzinfo=UTC)
    found = []
    for n in range(count):
        at = start + timedelta(minutes=rng.randrange(365 * 24 * 60))
        j = Journey(
            journey_id=str(n),
            offer_id="O",
            region="44",
            basin=str(4400 + n % 16),
            seeker_id=str(n),
            state=JourneyState.APPLIED,
            created_at=at,
            updated_at=at,
        )
        j.history.append(Step(at, "SubmitApplication", None, JourneyState.APPLIED, Role.SEEKER, str(n)))
        for state in FUNNEL:
            if rng.random() < 0.4:
                break
            at += timedelta(days=rng.randrange(1, 30))
            j.history.append(Step(at, "Step", j.state, state, Role.BASIN_OPERATOR, "O"))
            j.state = state
        found.append(j)
    return found


async def store_run(count: int, mongodb_url: str) -> dict[str, Any]:
    name = f"bench_journeys_{uuid.uuid4().hex[:8]}"
    client = connect(mongodb_url)
    db = client[name]
    await ensure_indexes(db)
    ports = Ports(
        MongoJourneys(db),
        MongoOffers(db),
        MongoContacts(db),
        MongoTimers(db),
        FixedClock(datetime(2027, 1, 4, 9, tzinfo=UTC)),
        "44",
    )
    publisher = MemoryPublisher()
    employer = {"actor_role": Role.EMPLOYER, "actor_id": EMPLOYER_ID}
    try:
        await handlers.on_eligibility_changed(eligibility(), ports)
        started = time.perf_counter()
        for n in range(count):
            jid = (await handlers.execute(application(command_id=f"a{n}"), ports)).journey.journey_id
            await handlers.execute(
                c.ScheduleImmersion(
                    command_id=f"s{n}",
                    journey_id=jid,
                    starts_on=date(2027, 2, 1),
                    ends_on=date(2027, 2, 2),
                    place="Metz",
                    **employer,
                ),
                ports,
            )
            await handlers.execute(
                c.RecordImmersionOutcome(command_id=f"o{n}", journey_id=jid, outcome="positive", **employer),
                ports,
            )
        commands_s = time.perf_counter() - started
        started = time.perf_counter()
        relayed = 0
        while sent := await handlers.relay_once(ports, publisher):
            relayed += sent
        relay_s = time.perf_counter() - started
        return {
            "store_journeys": count,
            "commands": 3 * count,
            "commands_per_s": round(3 * count / commands_s, 1),
            "events_relayed": relayed,
            "relay_events_per_s": round(relayed / relay_s, 1),
        }
    finally:
        await client.drop_database(name)
        await client.close()


@app.command()
def main(
    kpi_journeys: int = typer.Option(50_000, help="Journeys in the KPI computation (a region's year)."),
    store_journeys: int = typer.Option(300, help="Journeys taken through 3 commands each on the real store."),
    mongodb_url: str = typer.Option(
        os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017/"),
        help="Store to measure (MONGODB_URL by default).",
    ),
) -> None:
    """Measure KPI computation time and command/relay throughput; print one JSON object."""
    configure_logging("journeys-bench", "WARNING", json=True)
    year = synthetic_year(kpi_journeys)
    started = time.perf_counter()
    report = kpis(year, Period(datetime(2027, 1, 1, tzinfo=UTC), datetime(2028, 1, 1, tzinfo=UTC)), "44")
    kpi_s = time.perf_counter() - started
    result: dict[str, Any] = {
        "kpi_journeys": kpi_journeys,
        "kpi_seconds": round(kpi_s, 3),
        "kpi_basins": len(report["basins"]),
    }
    if store_journeys:
        result.update(asyncio.run(store_run(store_journeys, mongodb_url)))
    typer.echo(json.dumps(result))


if __name__ == "__main__":
    app()
