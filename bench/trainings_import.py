"""Benchmark: generate an LHEO catalogue of N sessions and stream it through the import path.

Prints one JSON object: sessions per second and peak RSS of the dry-run import (parse + normalise +
snapshot bookkeeping, the in-process path of `trainings import --dry-run`), and with --full the same
file through the whole path (MongoDB store + Kafka publishing) into a fresh database and topic prefix.

    uv run python bench/trainings_import.py --sessions 100000
    uv run python bench/trainings_import.py --sessions 20000 --full
"""

from __future__ import annotations

import asyncio
import json
import resource
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import typer

from tdu_shared.kafka_auth import connection
from trainings.generate import write_catalogue
from trainings.handlers import DryRun
from trainings.importer import reference, run_import


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def dry_run(path: Path) -> dict[str, Any]:
    started = time.perf_counter()
    report = await run_import(str(path), "bench", DryRun())
    elapsed = time.perf_counter() - started
    return {
        "sessions": report.sessions,
        "seconds": round(elapsed, 2),
        "sessions_per_s": round(report.sessions / elapsed),
        "complete": report.complete,
    }


async def full(path: Path) -> dict[str, Any]:
    from tdu_shared.kafka import ensure_topics
    from tdu_shared.topics import ALL_TOPICS, Topics
    from trainings.main import build_service
    from trainings.settings import Settings

    prefix = f"bench{uuid.uuid4().hex[:8]}."
    settings = Settings(topic_prefix=prefix, mongodb_database=prefix.rstrip("."), log_json=False)
    await ensure_topics(settings.kafka_bootstrap_servers, Topics(prefix), ALL_TOPICS, partitions=4)
    service = build_service(settings)
    await service.runtime.start(consumers=False)
    try:
        started = time.perf_counter()
        report = await service.import_file(str(path), "bench")
        elapsed = time.perf_counter() - started
        again = time.perf_counter()
        second = await service.import_file(str(path), "bench")
        unchanged_s = time.perf_counter() - again
        await service.runtime.mongo.drop_database(settings.mongodb_database)
    finally:
        await service.runtime.stop()
        await _delete_topics(settings.kafka_bootstrap_servers, prefix)
    return {
        "sessions": report.sessions,
        "published": report.published,
        "seconds": round(elapsed, 2),
        "sessions_per_s": round(report.sessions / elapsed),
        "reimport_unchanged": second.unchanged,
        "reimport_sessions_per_s": round(second.sessions / unchanged_s),
    }


async def _delete_topics(bootstrap: str, prefix: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(**connection(bootstrap))
    await admin.start()
    try:
        await admin.delete_topics([t for t in await admin.list_topics() if t.startswith(prefix)])
    finally:
        await admin.close()


def main(
    sessions: int = typer.Option(100_000, help="Sessions in the generated catalogue."),
    with_full: bool = typer.Option(False, "--full", help="Also run the full path (store + Kafka)."),
) -> None:
    reference()  # reference data loaded before measuring, as in a running service
    with tempfile.TemporaryDirectory() as tmp:
        path = write_catalogue(Path(tmp) / "catalogue.xml", sessions)
        size_mb = path.stat().st_size / 1024 / 1024
        rss_before = current_rss_mb()
        result: dict[str, Any] = {
            "benchmark": "trainings_import",
            "file_mb": round(size_mb, 1),
            "rss_before_import_mb": round(rss_before, 1),
        }
        result["dry_run"] = asyncio.run(dry_run(path))
        result["peak_rss_mb"] = round(peak_rss_mb(), 1)
        result["targets"] = {"sessions_per_s": 5000, "peak_rss_mb": 250}
        result["meets_targets"] = result["dry_run"]["sessions_per_s"] >= 5000 and result["peak_rss_mb"] <= 250
        if with_full:
            result["full"] = asyncio.run(full(path))
            result["peak_rss_mb_after_full"] = round(peak_rss_mb(), 1)
    print(json.dumps(result))


if __name__ == "__main__":
    typer.run(main)
