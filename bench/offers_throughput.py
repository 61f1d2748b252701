"""Push N synthetic France Travail-shaped offers through the running offers service; print one JSON object.

Starts `python -m offers serve` as a separate process on its own topic prefix and database (or uses a
service already running with --prefix/--no-start), produces N OfferSubmitted to offers.submitted as fast as
the broker takes them, and reads offers.state until every OfferPublished has arrived. Latency is measured
per offer from the moment its record was acknowledged by the broker to the moment its OfferPublished was read.

    uv run python bench/offers_throughput.py --n 50000
    uv run python bench/offers_throughput.py --n 20000 --instances 2   # two instances, one consumer group
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from tdu_shared.contracts.offers import OfferSubmitted
from tdu_shared.envelope import encode, new_envelope
from tdu_shared.geo import commune_table, load_basins
from tdu_shared.kafka import event_headers, kafka_reachable
from tdu_shared.mongo import connect
from tdu_shared.rome import rome_referential
from tdu_shared.testing.processes import ServiceProcess, free_port
from tdu_shared.topics import OFFERS_STATE, OFFERS_SUBMITTED, Topics, basin_partition

CONTRACTS = [
    ("CDI", "Contrat à durée indéterminée"),
    ("CDD", "CDD - 6 Mois"),
    ("CDD", "CDD - 3 Mois"),
    ("MIS", "Intérim - 1 Mois"),
    ("CDD", "CDD - 12 Mois"),
]


def synthetic_offers(n: int, seed: int = 7) -> list[tuple[dict[str, Any], str | None]]:
    """France Travail-shaped records located in Grand Est communes, with the basin each falls in."""
    rng = random.Random(seed)
    communes = list(commune_table())
    basins = load_basins()
    codes = [c for c in rome_referential()._codes]
    offers = []
    run = uuid.uuid4().hex[:6]
    for i in range(n):
        c = rng.choice(communes)
        kind, label = rng.choice(CONTRACTS)
        lat, lon = c.lat + rng.uniform(-0.01, 0.01), c.lon + rng.uniform(-0.01, 0.01)
        basin = basins.basin_of(lat, lon, c.insee)
        record = {
            "id": f"B{run}{i:07d}",
            "intitule": f"Offre synthétique {i} (H/F)",
            "description": "Poste à pourvoir rapidement. " * 20,
            "dateCreation": "2024-11-25T00:39:42.728Z",
            "dateActualisation": "2024-11-26T13:26:20.088Z",
            "lieuTravail": {
                "libelle": f"{c.insee[:2]} - {c.name}",
                "latitude": lat,
                "longitude": lon,
                "codePostal": c.postal_codes[0] if c.postal_codes else None,
                "commune": c.insee,
            },
            "romeCode": rng.choice(codes),
            "entreprise": {"nom": f"Entreprise {i % 997}"},
            "typeContrat": kind,
            "typeContratLibelle": label,
            "natureContrat": "Contrat travail",
            "contact": {"nom": f"Recruteur {i % 997}", "courriel": f"rh{i % 997}@entreprise.example"},
            "nombrePostes": 1,
            "origineOffre": {"origine": "1", "urlOrigine": "https://example.org"},
        }
        offers.append((record, basin.code if basin else None))
    return offers


async def produce(
    bootstrap: str, topics: Topics, offers: list[tuple[dict[str, Any], str | None]], sent_at: dict[str, float]
) -> float:
    messages = []
    for record, basin in offers:
        envelope = new_envelope(
            OfferSubmitted(source="france_travail", record=record), producer="bench", region="44", basin=basin
        )
        messages.append((record["id"], encode(envelope), basin, event_headers(envelope)))
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_batch_size=512 * 1024,
    )
    await producer.start()
    topic = topics.name(OFFERS_SUBMITTED)
    partitions = len(await producer.partitions_for(topic))
    start = time.monotonic()
    try:
        for i in range(0, len(messages), 2000):
            chunk = messages[i : i + 2000]
            futures = [
                await producer.send(
                    topic, value=v, key=k.encode(), headers=h, partition=basin_partition(b, partitions)
                )
                for k, v, b, h in chunk
            ]
            for (key, *_), future in zip(chunk, futures, strict=True):
                await future
                sent_at[key] = time.monotonic()
    finally:
        await producer.stop()
    return start


async def collect(
    bootstrap: str, topics: Topics, expected: set[str], timeout: float, got_at: dict[str, float]
) -> None:
    consumer = AIOKafkaConsumer(
        topics.name(OFFERS_STATE),
        bootstrap_servers=bootstrap,
        group_id=f"bench-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    deadline = time.monotonic() + timeout
    try:
        while expected - got_at.keys() and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=200, max_records=5000)
            now = time.monotonic()
            for records in batches.values():
                for r in records:
                    headers = dict(r.headers or ())
                    if headers.get("event-type") == b"OfferPublished" and r.key:
                        got_at.setdefault(r.key.decode(), now)
    finally:
        await consumer.stop()


async def wait_for_topics(bootstrap: str, topics: Topics, timeout: float = 60) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        deadline = time.monotonic() + timeout
        while topics.name(OFFERS_STATE) not in await admin.list_topics():
            if time.monotonic() > deadline:
                raise TimeoutError("the service did not create its topics")
            await asyncio.sleep(0.5)
    finally:
        await admin.close()


async def cleanup(bootstrap: str, mongodb_url: str, topics: Topics, database: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if t.startswith(topics.prefix)]
        if names:
            await admin.delete_topics(names)
    finally:
        await admin.close()
    client = connect(mongodb_url)
    try:
        await client.drop_database(database)
    finally:
        await client.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    mongodb_url = os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017/")
    if not await kafka_reachable(bootstrap):
        raise SystemExit(f"Kafka does not answer at {bootstrap}")
    tag = uuid.uuid4().hex[:8]
    topics = Topics(args.prefix if args.prefix is not None else f"bench{tag}.")
    database = args.database or f"bench_offers_{tag}"
    offers = synthetic_offers(args.n)
    services: list[ServiceProcess] = []
    for instance in range(
        0 if args.no_start else args.instances
    ):  # one consumer group: they share partitions
        port = free_port()
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "MONGODB_URL": mongodb_url,
            "MONGODB_DATABASE": database,
            "TOPIC_PREFIX": topics.prefix,
            "HTTP_PORT": str(port),
            "LOG_LEVEL": "WARNING",
            "BATCH_SIZE": str(args.batch_size),
        }
        log = Path(tempfile.gettempdir()) / f"offers-bench-{tag}-{instance}.log"
        services.append(ServiceProcess("offers", ["serve"], env, log, port=port).start(ready_timeout=120))
    try:
        await wait_for_topics(bootstrap, topics)
        await asyncio.sleep(3.0 if len(services) > 1 else 0.0)  # the group settles who owns which partition
        sent_at: dict[str, float] = {}
        got_at: dict[str, float] = {}
        expected = {r["id"] for r, _ in offers}
        collector = asyncio.create_task(collect(bootstrap, topics, expected, args.timeout, got_at))
        await asyncio.sleep(1.0)  # the collector joins before the first event
        start = await produce(bootstrap, topics, offers, sent_at)
        produced = time.monotonic()
        await collector
        done = [k for k in expected if k in got_at]
        latencies = [(got_at[k] - sent_at[k]) * 1000 for k in done]
        end = max(got_at.values()) if got_at else time.monotonic()
        return {
            "offers": args.n,
            "published": len(done),
            "batch_size": args.batch_size,
            "instances": len(services) or None,
            "produce_s": round(produced - start, 2),
            "total_s": round(end - start, 2),
            "offers_per_s": round(len(done) / (end - start), 1) if done else 0.0,
            "latency_ms_p50": round(statistics.median(latencies), 1) if latencies else None,
            "latency_ms_p99": round(percentile(latencies, 0.99), 1) if latencies else None,
            "service_logs": [str(service.log_path) for service in services],
        }
    finally:
        for service in services:
            service.stop()
        if not args.keep:
            await cleanup(bootstrap, mongodb_url, topics, database)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=50_000, help="number of offers (default 50,000)")
    parser.add_argument("--batch-size", type=int, default=1000, help="BATCH_SIZE of the service")
    parser.add_argument(
        "--instances", type=int, default=1, help="service processes in one consumer group (default 1)"
    )
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for every OfferPublished")
    parser.add_argument("--prefix", default=None, help="topic prefix of an already running service")
    parser.add_argument("--database", default=None, help="database of an already running service")
    parser.add_argument(
        "--no-start", action="store_true", help="use a service already running (with --prefix)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the bench topics and database")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args))))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
