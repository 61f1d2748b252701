"""Journey lists and KPIs served by the running service on the real store, as journeys accumulate.

Stores journeys (the documents the write path stores, generated: a year of applications over 16 basins
and 400 employers, each taken a random way down the funnel, some abandoned or declined) in bulk, builds
the read models from them (``journeys rebuild-read-models``' code), starts ``journeys serve`` on that
database, then measures ``GET /journeys?basin=…&page_size=50`` (pages 1-5 by page number and by cursor,
several basins) and ``GET /kpis?basin=…`` / ``GET /kpis`` latency, with the CPU seconds the service and the
store spent. Repeats at each checkpoint (e.g. 4,000 then 50,000 journeys: from 4,000 on, a basin has 5 full
pages). Prints one JSON object.

    uv run python bench/journeys_read_models.py --checkpoints 4000,50000

``--service-src DIR`` runs the service from another source tree (e.g. an older version, for a before and
after) and ``--no-read-models`` skips the read-model build (code without read models).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import typer
from pymongo import InsertOne

from journeys.adapters.documents import journey_to_doc
from journeys.domain.model import Journey, Step
from tdu_dev.testing.access import session
from tdu_dev.testing.measure import cpu_seconds, store_pid
from tdu_dev.testing.processes import ServiceProcess, free_port
from tdu_shared.contracts.journeys import JourneyState, Role
from tdu_shared.logs import configure_logging
from tdu_shared.mongo import bulk_write, connect

app = typer.Typer(add_completion=False)
S = JourneyState
BASINS = [str(4401 + n) for n in range(16)]
FUNNEL = [
    ("ScheduleImmersion", S.IMMERSION_SCHEDULED, Role.EMPLOYER),
    ("RecordImmersionOutcome", S.IMMERSION_DONE, Role.EMPLOYER),
    ("SignHiringPromise", S.PROMISE_SIGNED, Role.EMPLOYER),
    ("SignTrainingCommitment", S.COMMITTED, Role.TRAINING_PROVIDER),
    ("ConfirmTrainingStart", S.TRAINING_STARTED, Role.TRAINING_PROVIDER),
    ("CompleteTraining", S.TRAINING_COMPLETED, Role.TRAINING_PROVIDER),
    ("RecordHire", S.HIRED, Role.EMPLOYER),
]
REASONS = ["déménagement", "santé", "autre emploi", "mobilité"]
OPERATOR = session("basin_operator", "bench-operator@traitdunion.test")


def journey(n: int, rng: random.Random, year_start: datetime) -> Journey:
    """One journey as the write path leaves it: application, then a random way down the funnel."""
    at = year_start + timedelta(seconds=rng.randrange(330 * 86_400), milliseconds=rng.randrange(1000))
    seeker = f"bench-seeker-{n}"
    basin = BASINS[n % len(BASINS)]
    employer = f"bench-employer-{rng.randrange(400)}"
    j = Journey(
        journey_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench-journey-{n}")),
        offer_id=f"bench-offer-{rng.randrange(3000)}",
        region="44",
        basin=basin,
        seeker_id=seeker,
        state=S.APPLIED,
        created_at=at,
        updated_at=at,
        offer_title="Soudeur / Soudeuse",
        employer_id=employer,
    )
    j.history.append(Step(at, "SubmitApplication", None, S.APPLIED, Role.SEEKER, seeker))
    for action, state, role in FUNNEL:
        if rng.random() < 0.3:
            if rng.random() < 0.3:
                at += timedelta(days=rng.randrange(1, 20))
                reason = {"reason": rng.choice(REASONS)}
                j.history.append(
                    Step(at, "AbandonJourney", j.state, S.ABANDONED, Role.SEEKER, seeker, reason)
                )
                j.abandoned_at_step, j.abandon_reason, j.state = j.state, reason["reason"], S.ABANDONED
            elif j.state == S.APPLIED:
                at += timedelta(days=rng.randrange(1, 10))
                reason = {"reason": "poste pourvu"}
                j.history.append(Step(at, "DeclineApplication", j.state, S.DECLINED, role, employer, reason))
                j.state = S.DECLINED
            break
        at += timedelta(days=rng.randrange(1, 40), minutes=rng.randrange(600))
        if state == S.COMMITTED:
            j.session_id, j.provider_id, j.promise_signed, j.commitment_signed = (
                "S1",
                "bench-provider",
                True,
                True,
            )
        actor = employer if role == Role.EMPLOYER else "bench-provider"
        j.history.append(Step(at, action, j.state, state, role, actor, {}))
        j.state = state
    j.updated_at = at
    j.revision = len(j.history)
    return j


def stored_document(j: Journey) -> dict[str, Any]:
    """The journey document as ``MongoJourneys`` stores it, everything published."""
    doc = journey_to_doc(j)
    doc.update(
        outbox=[],
        pending_timers=[],
        keys=[f"bench:{j.journey_id}:{n}" for n in range(len(j.history))],
        has_pending=False,
        relay_lease=datetime(1970, 1, 1, tzinfo=UTC),
        anonymised=False,
    )
    return doc


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p99_ms": round(p99 * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


def timed(http: httpx.Client, url: str, samples: list[float], check: Callable[[Any], bool]) -> Any:
    started = time.perf_counter()
    response = http.get(url, headers=OPERATOR)
    samples.append(time.perf_counter() - started)
    response.raise_for_status()
    body = response.json()
    if not check(body):
        raise RuntimeError(f"unexpected answer to {url}: {str(body)[:300]}")
    return body


def measure(port: int, rounds: int, cursors: bool, service: int | None, store: int | None) -> dict[str, Any]:
    base = f"http://127.0.0.1:{port}"
    lists: list[float] = []
    by_cursor: list[float] = []
    kpis_basin: list[float] = []
    kpis_all: list[float] = []
    cpu_before = (cpu_seconds(service), cpu_seconds(store))
    basins = BASINS[:4]
    with httpx.Client(base_url=base, timeout=600) as http:
        for _ in range(rounds):
            for basin in basins:
                for page in range(1, 6):
                    url = f"/journeys?basin={basin}&page_size=50&page={page}"
                    timed(http, url, lists, lambda b: b["total"] > 0 and len(b["items"]) <= 50)
                if cursors:
                    cursor = None
                    for _ in range(5):
                        url = f"/journeys?basin={basin}&page_size=50" + (
                            f"&cursor={cursor}" if cursor else ""
                        )
                        answer = timed(http, url, by_cursor, lambda b: 0 < len(b["items"]) <= 50)
                        cursor = answer["next_cursor"]
                        if cursor is None:
                            break
                timed(
                    http,
                    f"/kpis?basin={basin}&from=2027-01-01&to=2028-01-01",
                    kpis_basin,
                    lambda b: b["region"]["journeys"] > 0,
                )
            timed(http, "/kpis?from=2027-01-01&to=2028-01-01", kpis_all, lambda b: len(b["basins"]) == 16)
    cpu_after = (cpu_seconds(service), cpu_seconds(store))
    requests = len(lists) + len(by_cursor) + len(kpis_basin) + len(kpis_all)
    cpu = {}
    for name, before, after in (
        ("service", cpu_before[0], cpu_after[0]),
        ("store", cpu_before[1], cpu_after[1]),
    ):
        if before is not None and after is not None:
            cpu[f"{name}_cpu_s"] = round(after - before, 2)
            cpu[f"{name}_cpu_ms_per_request"] = round((after - before) * 1000 / requests, 2)
    return {
        "list_by_basin_page": percentiles(lists),
        **({"list_by_basin_cursor": percentiles(by_cursor)} if by_cursor else {}),
        "kpis_by_basin": percentiles(kpis_basin),
        "kpis_all_basins": percentiles(kpis_all),
        "requests": requests,
        **cpu,
    }


async def load(mongodb_url: str, database: str, journeys: list[Journey]) -> float:
    client = connect(mongodb_url)
    try:
        started = time.perf_counter()
        await bulk_write(client[database]["journeys"], [InsertOne(stored_document(j)) for j in journeys])
        return time.perf_counter() - started
    finally:
        await client.close()


async def build_read_models(mongodb_url: str, database: str) -> dict[str, Any]:
    from journeys.adapters.mongo import MongoJourneys
    from journeys.main import mongo_read_models

    client = connect(mongodb_url)
    try:
        db = client[database]
        started = time.perf_counter()
        count = await mongo_read_models(db).rebuild(await MongoJourneys(db).all())
        return {"journeys": count, "seconds": round(time.perf_counter() - started, 1)}
    finally:
        await client.close()


@app.command()
def main(
    checkpoints: str = typer.Option("4000,50000", help="Measure when this many journeys are stored."),
    rounds: int = typer.Option(5, help="Rounds of requests per checkpoint (4 basins x 5 pages each)."),
    read_models: bool = typer.Option(True, help="Build the read models (off for code without them)."),
    service_src: str = typer.Option("", help="Run the service from this src/ directory."),
    mongodb_url: str = typer.Option(os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017/")),
    kafka: str = typer.Option(os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")),
) -> None:
    """Store journeys in bulk, serve them, measure list and KPI latency at each checkpoint; print JSON."""
    configure_logging("journeys-bench", "WARNING", json=True)
    sizes = sorted(int(s) for s in checkpoints.split(","))
    rng = random.Random(7)
    everything = [journey(n, rng, datetime(2027, 1, 1, tzinfo=UTC)) for n in range(sizes[-1])]
    database = f"bench_journeys_rm_{uuid.uuid4().hex[:8]}"
    result: dict[str, Any] = {"database": database, "read_models": read_models, "checkpoints": []}
    loaded = 0
    logs = Path(tempfile.mkdtemp(prefix="journeys-bench-"))
    for size in sizes:
        load_s = asyncio.run(load(mongodb_url, database, everything[loaded:size]))
        loaded = size
        point: dict[str, Any] = {"journeys": size, "load_seconds": round(load_s, 1)}
        if read_models:
            point["read_model_build"] = asyncio.run(build_read_models(mongodb_url, database))
        port = free_port()
        env = {
            "MONGODB_URL": mongodb_url,
            "MONGODB_DATABASE": database,
            "KAFKA_BOOTSTRAP_SERVERS": kafka,
            "TOPIC_PREFIX": f"{database}.",
            "CREATE_TOPICS": "true",
            "HTTP_PORT": str(port),
            "LOG_JSON": "true",
            "LOG_LEVEL": "WARNING",
        }
        if service_src:
            env["PYTHONPATH"] = f"{Path(service_src).resolve()}:{os.environ.get('PYTHONPATH', '')}"
        service = ServiceProcess("journeys", ["serve"], env, logs / f"serve-{size}.log", port=port)
        service.start(ready_timeout=180)
        try:
            time.sleep(3)  # start-up work (relay pass, gauges) out of the way
            pid = service.proc.pid if service.proc else None
            point.update(measure(port, rounds, read_models, pid, store_pid(mongodb_url)))
        finally:
            service.stop()
        result["checkpoints"].append(point)
        typer.echo(json.dumps(point), err=True)
    typer.echo(json.dumps(result))


if __name__ == "__main__":
    app()
