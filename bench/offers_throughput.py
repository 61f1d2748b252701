"""Offers ingest as users see it: a second France Travail import on top of a first; prints one JSON object.

Real France Travail records (the service's test fixture and the demo file, 579 records) are varied into
distinct offers: each keeps the shape and texts of a real record, with its own id, dates, employer,
workplace (a Grand Est commune for most, as a regional import has, with or without coordinates; the
record's own place for the rest) and, for about a third, a recruiter e-mail shared by that employer's
offers. The benchmark starts `python -m offers serve` (N instances in one consumer group) on its own
topic prefix and database, then

1. imports ``--first`` offers and waits until every OfferPublished is read (the store then holds them);
2. measures a second import of ``--n`` records: ``--updates`` of them newer versions of first-import
   offers (OfferUpdated), ``--unchanged`` identical resubmissions (nothing), the rest new offers
   (OfferPublished), and waits for every event owed.

It prints, for the second import: offers/s overall and over its first and last 10%; p50/p99 latency
from broker acknowledgement to the event read; CPU milliseconds per offer of the service, FerretDB (or
MongoDB), Kafka and the producer, read from /proc (they stay meaningful on a busy machine, where
wall-clock rates do not); the rate that CPU allows on two idle cores; the store commands per 1,000
offers (serverStatus); and the store's raw ``insert_many`` rate of the same documents (the records as
submitted, and the documents the service stored for them) in a scratch collection, with the ratio.

    uv run python bench/offers_throughput.py --n 20000
    uv run python bench/offers_throughput.py --n 20000 --instances 2   # two instances, one consumer group
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from tdu_dev.testing.measure import cpu_seconds
from tdu_dev.testing.processes import ServiceProcess, free_port
from tdu_shared.contracts.offers import OfferSubmitted
from tdu_shared.envelope import encode, new_envelope
from tdu_shared.geo import commune_table, load_basins
from tdu_shared.kafka import event_headers, kafka_reachable
from tdu_shared.kafka_auth import connection
from tdu_shared.mongo import Document, connect
from tdu_shared.topics import OFFERS_STATE, OFFERS_SUBMITTED, Topics, basin_partition

ROOT = Path(__file__).resolve().parent.parent
REAL_FILES = [
    ROOT / "services/offers/tests/fixtures/france_travail_grand_est_sample.json",
    ROOT / "deploy/demo/data/offres_K23xx_521_2024-11-28.json",
]
EMPLOYERS = 3000
IDLE_CORES = 2
Message = tuple[str, bytes, int, list[tuple[str, bytes]]]  # key, value, partition, headers


# ---------------------------------------------------------------- offers made from real records


def real_records() -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for path in REAL_FILES:
        records += json.loads(path.read_text(encoding="utf-8"))
    return records


@dataclass
class Workload:
    first: list[dict[str, Any]]
    second: list[dict[str, Any]]
    expected: dict[str, str]  # offer id -> event type the second import owes
    kinds: dict[str, int] = field(default_factory=dict)


class Variations:
    """Distinct offers from real records: own id, dates, employer, workplace, sometimes an e-mail."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.base = real_records()
        self.communes = [c for c in commune_table() if c.postal_codes]
        self.run = uuid.uuid4().hex[:5].upper()
        self.start = datetime(2024, 11, 1, 8, 0, tzinfo=UTC)

    def offer(self, i: int) -> dict[str, Any]:
        rng = self.rng
        record = copy.deepcopy(self.base[i % len(self.base)])
        created = self.start + timedelta(minutes=rng.randrange(30 * 24 * 60))
        record["id"] = f"{self.run}{i:07d}"
        record["dateCreation"] = _iso(created)
        record["dateActualisation"] = _iso(created + timedelta(hours=rng.randrange(72)))
        employer = rng.randrange(EMPLOYERS)
        record["entreprise"] = {**record.get("entreprise", {}), "nom": f"{_company(employer)}"}
        where = rng.random()
        if where < 0.75:
            record["lieuTravail"] = self.place(with_coordinates=True)
        elif where < 0.85:
            record["lieuTravail"] = self.place(with_coordinates=False)
        if rng.random() < 0.35:
            record["contact"] = {
                **record.get("contact", {}),
                "nom": f"{_company(employer)} - Service recrutement",
                "courriel": f"recrutement{employer}@{_company(employer).lower().replace(' ', '-')}.fr",
            }
        return record

    def place(self, *, with_coordinates: bool) -> dict[str, Any]:
        c = self.rng.choice(self.communes)
        place: dict[str, Any] = {
            "libelle": f"{c.insee[:2]} - {c.name.upper()}",
            "codePostal": c.postal_codes[0],
            "commune": c.insee,
        }
        if with_coordinates:
            place["latitude"] = round(c.lat + self.rng.uniform(-0.02, 0.02), 6)
            place["longitude"] = round(c.lon + self.rng.uniform(-0.02, 0.02), 6)
        return place

    def newer(self, record: dict[str, Any]) -> dict[str, Any]:
        changed = copy.deepcopy(record)
        updated = datetime.fromisoformat(record["dateActualisation"].replace("Z", "+00:00"))
        changed["dateActualisation"] = _iso(updated + timedelta(days=1 + self.rng.randrange(5)))
        changed["intitule"] = f"{record['intitule']} - poste renouvelé"[:300]
        changed["nombrePostes"] = (record.get("nombrePostes") or 1) + 1
        return changed


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _company(n: int) -> str:
    return f"Entreprise {n:04d}"


def workload(first: int, n: int, updates: float, unchanged: float, seed: int) -> Workload:
    v = Variations(seed)
    old = [v.offer(i) for i in range(first)]
    picked = v.rng.sample(range(first), min(first, int(n * updates) + int(n * unchanged)))
    changed = [v.newer(old[i]) for i in picked[: int(n * updates)]]
    same = [copy.deepcopy(old[i]) for i in picked[int(n * updates) :]]
    fresh = [v.offer(first + i) for i in range(n - len(changed) - len(same))]
    second = changed + same + fresh
    v.rng.shuffle(second)
    expected = {r["id"]: "OfferUpdated" for r in changed} | {r["id"]: "OfferPublished" for r in fresh}
    kinds = {"updates": len(changed), "unchanged": len(same), "new": len(fresh)}
    return Workload(old, second, expected, kinds)


def messages(records: list[dict[str, Any]], partitions: int) -> list[Message]:
    """OfferSubmitted as `offers import` sends them: key = offer id, partition = the basin's."""
    basins = load_basins()
    out = []
    for record in records:
        place = record.get("lieuTravail", {})
        lat, lon, insee = place.get("latitude"), place.get("longitude"), place.get("commune")
        if lat is None and insee:
            commune = commune_table().by_insee(insee)
            lat, lon = (commune.lat, commune.lon) if commune else (None, None)
        basin = basins.basin_of(lat, lon, insee) if lat is not None and lon is not None else None
        code = basin.code if basin else None
        envelope = new_envelope(
            OfferSubmitted(source="france_travail", record=record), producer="bench", region="44", basin=code
        )
        out.append(
            (record["id"], encode(envelope), basin_partition(code, partitions), event_headers(envelope))
        )
    return out


# ---------------------------------------------------------------- processes and their CPU


def listening_pid(port: int) -> int | None:
    """The process listening on a local TCP port (from /proc/net/tcp*), to read its CPU time."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{cols[9]}]")
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) in inodes:
                    return int(proc.name)
        except OSError:
            continue
    return None


def produce_in_child(bootstrap: str, topic: str, batch: list[Message], out: str) -> None:
    """The producer runs in its own process, so its CPU time is its own."""

    async def send() -> dict[str, float]:
        producer = AIOKafkaProducer(
            **connection(bootstrap), acks="all", enable_idempotence=True, linger_ms=5,
            max_batch_size=512 * 1024,
        )  # fmt: skip
        await producer.start()
        acked: dict[str, float] = {}
        try:
            for i in range(0, len(batch), 2000):
                chunk = batch[i : i + 2000]
                futures = [
                    await producer.send(topic, value=v, key=k.encode(), headers=h, partition=p)
                    for k, v, p, h in chunk
                ]
                for (key, *_), future in zip(chunk, futures, strict=True):
                    await future
                    acked[key] = time.monotonic()
        finally:
            await producer.stop()
        return acked

    acked = asyncio.run(send())
    Path(out).write_text(json.dumps(acked))


async def produce(bootstrap: str, topic: str, batch: list[Message]) -> tuple[dict[str, float], float]:
    """Sends in a child process; returns the acknowledgement times and the child's CPU seconds."""
    out = str(Path(tempfile.gettempdir()) / f"offers-bench-acks-{uuid.uuid4().hex}.json")
    child = multiprocessing.get_context("fork").Process(
        target=produce_in_child, args=(bootstrap, topic, batch, out)
    )
    child.start()
    assert child.pid is not None
    cpu = 0.0
    while child.is_alive():
        now = cpu_seconds(child.pid)
        if now is None:  # it has just exited
            break
        cpu = now
        await asyncio.sleep(0.05)
    child.join()
    return read_and_remove(out), cpu


def read_and_remove(path: str) -> dict[str, float]:
    acked: dict[str, float] = json.loads(Path(path).read_text())
    Path(path).unlink()
    return acked


async def collect(
    bootstrap: str,
    topic: str,
    partitions: int,
    expected: dict[str, str],
    timeout: float,
    got_at: dict[str, float],
) -> None:
    """Reads the state topic until every expected (offer id, event type) arrived."""
    consumer = AIOKafkaConsumer(**connection(bootstrap), enable_auto_commit=False)
    await consumer.start()
    consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
    await consumer.seek_to_end()  # only the events of this import, not those of the one before
    ready.set()
    deadline = time.monotonic() + timeout
    try:
        while len(got_at) < len(expected) and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=200, max_records=5000)
            now = time.monotonic()
            for records in batches.values():
                for r in records:
                    key = r.key.decode() if r.key else ""
                    kind = dict(r.headers or ()).get("event-type", b"").decode()
                    if expected.get(key) == kind:
                        got_at.setdefault(key, now)
    finally:
        await consumer.stop()


ready = asyncio.Event()


async def import_and_wait(
    bootstrap: str, topics: Topics, batch: list[Message], expected: dict[str, str], timeout: float
) -> tuple[dict[str, float], dict[str, float], float]:
    ready.clear()
    got_at: dict[str, float] = {}
    collector = asyncio.create_task(
        collect(bootstrap, topics.name(OFFERS_STATE), OFFERS_STATE.partitions, expected, timeout, got_at)
    )
    await ready.wait()
    acked, producer_cpu = await produce(bootstrap, topics.name(OFFERS_SUBMITTED), batch)
    await collector
    return acked, got_at, producer_cpu


# ---------------------------------------------------------------- store


async def store_commands(mongodb_url: str) -> dict[str, int]:
    client = connect(mongodb_url)
    try:
        status = await client.admin.command("serverStatus")
    finally:
        await client.close()
    commands = status.get("metrics", {}).get("commands", {})
    return {k: int(v.get("total", 0)) for k, v in commands.items() if isinstance(v, dict)}


async def raw_insert(
    mongodb_url: str, database: str, docs: list[Document], store_pid: int | None
) -> dict[str, Any]:
    """insert_many of ``docs`` (chunks of 1,000) into a scratch collection: wall rate and store CPU."""
    client = connect(mongodb_url)
    scratch = client[database][f"scratch_{uuid.uuid4().hex[:8]}"]
    try:
        await scratch.insert_one({"_id": "first"})
        await asyncio.sleep(1.0)  # the local store indexes _id of a new collection within 0.5 s
        cpu0, start = (cpu_seconds(store_pid) or 0.0) if store_pid else 0.0, time.monotonic()
        for i in range(0, len(docs), 1000):
            await scratch.insert_many(docs[i : i + 1000], ordered=False)
        seconds = time.monotonic() - start
        cpu = ((cpu_seconds(store_pid) or 0.0) - cpu0) if store_pid else None
    finally:
        await scratch.drop()
        await client.close()
    return {
        "docs": len(docs),
        "docs_per_s": round(len(docs) / seconds, 1),
        "store_cpu_ms_per_doc": round(1000 * cpu / len(docs), 3) if cpu is not None else None,
        "avg_bson_kb": round(sum(len(json.dumps(d, default=str)) for d in docs[:500]) / 500 / 1024, 2)
        if docs
        else None,
    }


async def stored_docs(mongodb_url: str, database: str, ids: list[str]) -> list[Document]:
    client = connect(mongodb_url)
    try:
        wanted = set(ids)
        return [d async for d in client[database]["offers"].find({}) if d["_id"] in wanted]
    finally:
        await client.close()


# ---------------------------------------------------------------- the run


async def wait_for_topics(bootstrap: str, topics: Topics, timeout: float = 60) -> int:
    admin = AIOKafkaAdminClient(**connection(bootstrap))
    await admin.start()
    try:
        deadline = time.monotonic() + timeout
        while topics.name(OFFERS_STATE) not in await admin.list_topics():
            if time.monotonic() > deadline:
                raise TimeoutError("the service did not create its topics")
            await asyncio.sleep(0.5)
        [described] = await admin.describe_topics([topics.name(OFFERS_SUBMITTED)])
        return len(described["partitions"])
    finally:
        await admin.close()


async def cleanup(bootstrap: str, mongodb_url: str, topics: Topics, database: str) -> None:
    admin = AIOKafkaAdminClient(**connection(bootstrap))
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


def rates(start: float, times: list[float]) -> dict[str, float | None]:
    """Offers/s overall, over the first 10% of the events and over the last 10%."""
    times = sorted(times)
    if len(times) < 10:
        return {"overall": None, "first_10pct": None, "last_10pct": None}
    tenth = len(times) // 10
    return {
        "overall": round(len(times) / (times[-1] - start), 1),
        "first_10pct": round(tenth / max(times[tenth - 1] - start, 1e-6), 1),
        "last_10pct": round(tenth / max(times[-1] - times[-tenth - 1], 1e-6), 1),
    }


def start_services(
    args: argparse.Namespace, bootstrap: str, mongodb_url: str, topics: Topics, database: str, tag: str
) -> list[ServiceProcess]:
    services = []
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
    return services


async def run(args: argparse.Namespace) -> dict[str, Any]:
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    mongodb_url = os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017/")
    if not await kafka_reachable(bootstrap):
        raise SystemExit(f"Kafka does not answer at {bootstrap}")
    tag = uuid.uuid4().hex[:8]
    topics = Topics(args.prefix if args.prefix is not None else f"bench{tag}.")
    database = args.database or f"bench_offers_{tag}"
    work = workload(
        args.first if args.first is not None else args.n, args.n, args.updates, args.unchanged, args.seed
    )
    store_pid = listening_pid(urlparse(mongodb_url).port or 27017)
    kafka_pid = listening_pid(int(bootstrap.rsplit(":", 1)[1]))
    services = start_services(args, bootstrap, mongodb_url, topics, database, tag)
    try:
        partitions = await wait_for_topics(bootstrap, topics)
        await asyncio.sleep(3.0 if len(services) > 1 else 0.0)  # the group settles who owns which partition
        first_expected = {r["id"]: "OfferPublished" for r in work.first}
        _, got, _ = await import_and_wait(
            bootstrap, topics, messages(work.first, partitions), first_expected, args.timeout
        )
        if len(got) < len(first_expected):
            raise SystemExit(f"first import: {len(got)} of {len(first_expected)} offers published in time")
        batch = messages(work.second, partitions)
        pids: dict[str, list[int | None]] = {
            "service": [s.proc.pid for s in services if s.proc],
            "store": [store_pid],
            "kafka": [kafka_pid],
        }
        before = {k: sum(cpu_seconds(p) or 0.0 for p in ps if p is not None) for k, ps in pids.items()}
        commands_before = await store_commands(mongodb_url)
        start = time.monotonic()
        acked, got_at, producer_cpu = await import_and_wait(
            bootstrap, topics, batch, work.expected, args.timeout
        )
        end = max(got_at.values()) if got_at else time.monotonic()
        after = {k: sum(cpu_seconds(p) or 0.0 for p in ps if p is not None) for k, ps in pids.items()}
        commands_after = await store_commands(mongodb_url)
        n = len(work.second)
        cpu_ms = {k: round(1000 * (after[k] - before[k]) / n, 3) for k in before}
        cpu_ms["producer"] = round(1000 * producer_cpu / n, 3)
        pipeline = cpu_ms["service"] + cpu_ms["store"] + cpu_ms["kafka"]
        latencies = [(got_at[k] - acked[k]) * 1000 for k in got_at if k in acked]
        ingest_rate = round(len(got_at) / (end - start), 1) if got_at else 0.0
        commands = {
            k: round(1000 * (commands_after.get(k, 0) - commands_before.get(k, 0)) / n, 1)
            for k in ("insert", "update", "find", "delete", "getMore", "findAndModify")
            if commands_after.get(k, 0) - commands_before.get(k, 0)
        }
        raw_records = await raw_insert(mongodb_url, database, work.second, store_pid)
        stored = await stored_docs(mongodb_url, database, [r["id"] for r in work.second])
        raw_stored = await raw_insert(mongodb_url, database, stored, store_pid)
        budget_pipeline = round(IDLE_CORES * 1000 / pipeline, 0) if pipeline else None
        return {
            "first_import": len(work.first),
            "second_import": {"offers": n, **work.kinds},
            "events_owed": len(work.expected),
            "events_read": len(got_at),
            "batch_size": args.batch_size,
            "instances": len(services) or None,
            "offers_per_s": rates(start, list(got_at.values())),
            "latency_ms_p50": round(statistics.median(latencies), 1) if latencies else None,
            "latency_ms_p99": round(percentile(latencies, 0.99), 1) if latencies else None,
            "cpu_ms_per_offer": cpu_ms,
            "offers_per_s_on_2_idle_cores": {
                "service_store_kafka": budget_pipeline,
                "with_producer": round(IDLE_CORES * 1000 / (pipeline + cpu_ms["producer"]), 0),
            },
            "store_commands_per_1000_offers": commands,
            "raw_insert_many_submitted_records": raw_records,
            "raw_insert_many_stored_documents": raw_stored,
            "ingest_vs_raw_insert": {
                "wall_rate_ratio": round(ingest_rate / raw_stored["docs_per_s"], 3) if stored else None,
                "store_cpu_ratio": round(raw_stored["store_cpu_ms_per_doc"] / cpu_ms["store"], 3)
                if stored and raw_stored["store_cpu_ms_per_doc"] and cpu_ms["store"]
                else None,
                "on_2_idle_cores_vs_raw_records_store_cpu": round(
                    budget_pipeline / (IDLE_CORES * 1000 / raw_records["store_cpu_ms_per_doc"]), 3
                )
                if budget_pipeline and raw_records["store_cpu_ms_per_doc"]
                else None,
            },
            "load_average": os.getloadavg()[0],
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
    parser.add_argument(
        "--n", type=int, default=20_000, help="records of the measured import (default 20,000)"
    )
    parser.add_argument("--first", type=int, default=None, help="offers of the first import (default: --n)")
    parser.add_argument("--updates", type=float, default=0.2, help="share of newer versions of known offers")
    parser.add_argument("--unchanged", type=float, default=0.0, help="share of identical resubmissions")
    parser.add_argument("--batch-size", type=int, default=1000, help="BATCH_SIZE of the service")
    parser.add_argument("--instances", type=int, default=1, help="service processes in one consumer group")
    parser.add_argument("--seed", type=int, default=7, help="seed of the variations")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for each import's events")
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
