"""What the store can take, measured on the operations the services use; prints one JSON object.

    uv run python bench/store_limits.py                        # the local store on 127.0.0.1:27017
    MONGODB_URL=mongodb://host:27017/ uv run python bench/store_limits.py --offers 20000

Writes ``--offers`` real France Travail records (the shipped files, each copy with its own id, about
4 KB each) into a scratch database, then times, on that collection: ``insert_many`` (documents per
second, commands of 1,000), ``find_one`` and ``update_one`` by ``_id`` (mean milliseconds), one ``find``
with ``_id: {$in: [1,000 ids]}``, a count by an equality on a field without an index, one ``update``
command of 1,000 statements on existing documents (the command the unpatched FerretDB 1.24 never
answers), and writes per second from 1, 8 and 32 clients at once. Then ``--due`` small documents with a
``due_at`` date, and one ``find`` of those due at their median date (what a poll of due items does).
Each figure says whether the store's plan (``explain``) used an index. The scratch database is dropped
at the end.

These are the figures in the README's table (column "SQLite", the local store); the same command
against another MongoDB-compatible server gives its column.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pymongo import InsertOne, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection

from tdu_shared.mongo import Document, connect

ROOT = Path(__file__).resolve().parent.parent
REAL_FILES = [
    ROOT / "services/offers/tests/fixtures/france_travail_grand_est_sample.json",
    ROOT / "deploy/demo/data/offres_K23xx_521_2024-11-28.json",
]
SAMPLES = 200
"""Single-document operations timed, each on a random id."""


def real_offers(count: int, rng: random.Random) -> list[Document]:
    records: list[dict[str, Any]] = []
    for path in REAL_FILES:
        records.extend(json.loads(path.read_text(encoding="utf-8")))
    out = []
    for n in range(count):
        doc = copy.deepcopy(records[n % len(records)])
        doc["_id"] = f"O{n:07d}"
        doc["id"] = doc["_id"]
        doc["basin"] = rng.choice(["4410", "4411", "4412", "4413"])
        out.append(doc)
    return out


async def timed(coro: Any) -> tuple[float, Any]:
    began = time.perf_counter()
    result = await coro
    return time.perf_counter() - began, result


async def uses_index(collection: AsyncCollection[Document], filter_: Document) -> bool | None:
    """Whether the store's plan for this filter reads an index (None when the plan says nothing)."""
    try:
        plan = await collection.database.command({"explain": {"find": collection.name, "filter": filter_}})
    except Exception:
        return None
    text = json.dumps(plan, default=str)
    if "IXSCAN" in text or "USING INDEX" in text or "USING PRIMARY KEY" in text:
        return True
    if "COLLSCAN" in text or "SCAN" in text:
        return False
    return None


WRITERS = (1, 8, 32)
"""Clients writing one database at once (a busy service instance has a few dozen)."""
WRITES = 3000


async def concurrent_writes(
    col: AsyncCollection[Document], ids: list[str], writers: int, rng: random.Random
) -> int:
    """Writes per second from ``writers`` clients at once on one collection: two updates by ``_id`` of
    small fields for one insert of a small document."""
    queue = list(range(WRITES))
    tag = uuid.uuid4().hex[:6]

    async def writer() -> None:
        while queue:
            n = queue.pop()
            if n % 3 == 0:
                await col.insert_one({"_id": f"W{tag}{n}", "n": n})
            else:
                await col.update_one({"_id": rng.choice(ids)}, {"$set": {"w": n}})

    began = time.perf_counter()
    await asyncio.gather(*(writer() for _ in range(writers)))
    return round(WRITES / (time.perf_counter() - began))


async def measure(url: str, offers: int, due: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    client = connect(url)
    db = client[f"store_limits_{uuid.uuid4().hex[:8]}"]
    result: dict[str, Any] = {"store_url": url.split("@")[-1], "offers": offers, "due_items": due}
    try:
        docs = real_offers(offers, rng)
        sizes = [len(json.dumps(d, default=str)) for d in docs[:500]]
        result["offer_json_bytes_mean"] = round(sum(sizes) / len(sizes))
        col = db.offers
        began = time.perf_counter()
        for start in range(0, len(docs), 1000):
            await col.insert_many(docs[start : start + 1000], ordered=False)
        result["insert_many_docs_per_s"] = round(offers / (time.perf_counter() - began))
        ids = [d["_id"] for d in docs]

        picks = [rng.choice(ids) for _ in range(SAMPLES)]
        took = [(await timed(col.find_one({"_id": i})))[0] for i in picks]
        result["find_one_by_id_ms"] = round(sum(took) / len(took) * 1000, 2)
        took = [
            (await timed(col.update_one({"_id": i}, {"$set": {"seen": n}})))[0] for n, i in enumerate(picks)
        ]
        result["update_one_by_id_ms"] = round(sum(took) / len(took) * 1000, 2)
        result["by_id_uses_index"] = await uses_index(col, {"_id": picks[0]})

        wanted = rng.sample(ids, min(1000, len(ids)))
        seconds, found = await timed(col.find({"_id": {"$in": wanted}}, {"_id": 1}).to_list())
        result["find_in_1000_ids_s"] = round(seconds, 2)
        result["find_in_uses_index"] = await uses_index(col, {"_id": {"$in": wanted[:10]}})
        assert len(found) == len(wanted)

        seconds, counted = await timed(col.count_documents({"basin": "4410"}))
        result["count_by_equality_ms"] = round(seconds * 1000, 1)
        result["count_uses_index"] = await uses_index(col, {"basin": "4410"})

        statements = [
            UpdateOne({"_id": i}, {"$set": {"bulk": 1}}) for i in rng.sample(ids, min(1000, len(ids)))
        ]
        seconds, written = await timed(
            asyncio.wait_for(col.bulk_write(statements, ordered=False), timeout=120)
        )
        result["update_command_1000_statements_s"] = round(seconds, 2)
        assert written.matched_count == len(statements)

        now = datetime.now(UTC)
        items = db.due
        rows = [InsertOne({"_id": f"D{n:07d}", "due_at": now + timedelta(seconds=n)}) for n in range(due)]
        for start in range(0, len(rows), 1000):
            await items.bulk_write(rows[start : start + 1000], ordered=False)
        cut = now + timedelta(seconds=due // 2)
        seconds, found = await timed(items.find({"due_at": {"$lte": cut}}, {"_id": 1}).to_list())
        result["find_due_lte_s"] = round(seconds, 2)
        result["due_found"] = len(found)
        result["due_uses_index"] = await uses_index(items, {"due_at": {"$lte": cut}})
        for writers in WRITERS:
            result[f"writes_per_s_{writers}_writers"] = await concurrent_writes(col, ids, writers, rng)
        print(f"counted {counted} offers of basin 4410", file=sys.stderr)
    finally:
        await client.drop_database(db.name)
        await client.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default=os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017/"))
    parser.add_argument("--offers", type=int, default=20_000, help="real offers written (about 4 KB each)")
    parser.add_argument("--due", type=int, default=100_000, help="small due items for the due_at poll")
    parser.add_argument("--seed", type=int, default=20261206)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args.url, args.offers, args.due, args.seed))))


if __name__ == "__main__":
    main()
