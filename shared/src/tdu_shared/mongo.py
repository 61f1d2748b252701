"""MongoDB through PyMongo's async API; works against MongoDB and the FerretDB development store.

Stay inside what both support (see ARCHITECTURE.md): no geo operators, transactions, change streams,
TTL indexes, $lookup or $facet. Geo is done in Python on scalar ``lat``/``lon`` fields.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pymongo import (
    ASCENDING,
    AsyncMongoClient,
    DeleteMany,
    DeleteOne,
    IndexModel,
    InsertOne,
    ReplaceOne,
    UpdateMany,
    UpdateOne,
)
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError
from pymongo.results import BulkWriteResult

Document = dict[str, Any]
_WriteOp = InsertOne[Document] | ReplaceOne[Document] | UpdateOne | UpdateMany | DeleteOne | DeleteMany


@dataclass(frozen=True)
class IndexSpec:
    collection: str
    keys: list[tuple[str, int]]
    unique: bool = False
    name: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def model(self) -> IndexModel:
        name = self.name or "_".join(f"{k}_{d}" for k, d in self.keys)
        return IndexModel(self.keys, unique=self.unique, name=name, **self.options)


def connect(url: str, **options: Any) -> AsyncMongoClient[Document]:
    return AsyncMongoClient(url, tz_aware=True, serverSelectionTimeoutMS=10_000, **options)


async def ensure_indexes(db: AsyncDatabase[Document], specs: list[IndexSpec]) -> None:
    """Create the indexes a service's queries need; called at start, idempotent.

    One index per call: FerretDB 1.24 panics on a createIndexes listing several indexes that exist.
    """
    for spec in specs:
        await db[spec.collection].create_indexes([spec.model()])


BULK_CHUNK = 250
"""Operations per bulkWrite round trip: bounds the size and the duration of one command on any store. On
the development store one command holds its database's write lock throughout (1,000 updates by ``_id``
take about 1.6 s), so every other write to that database, the readiness probe's included, waits behind
it: at 1,000, a service's ``/ready`` timed out (2 s) during a catalogue import."""

DUPLICATE_KEY = 11000


async def bulk_write(
    collection: AsyncCollection[Document],
    operations: Sequence[_WriteOp],
    *,
    ordered: bool = False,
    chunk: int = BULK_CHUNK,
    parallel: int = 1,
) -> BulkCounts:
    """Every bulk write of every service: ``Collection.bulk_write`` in chunks; returns the summed counts.

    At most ``chunk`` operations go in one command (``BULK_CHUNK`` by default); an unordered write may run
    ``parallel`` commands at once. A write error other than a duplicate ``_id`` raises (once the commands
    under way have answered). Inserts whose ``_id`` was already stored are counted in
    :attr:`BulkCounts.duplicates` and skipped, so a redelivered batch is a no-op rather than an error.
    """
    if ordered and parallel != 1:
        raise ValueError("an ordered bulk write runs one command at a time")
    counts = BulkCounts()
    chunks = [list(operations[i : i + chunk]) for i in range(0, len(operations), chunk)]
    for start in range(0, len(chunks), parallel):
        group = chunks[start : start + parallel]
        results = await asyncio.gather(
            *(collection.bulk_write(c, ordered=ordered) for c in group), return_exceptions=True
        )
        failed = None
        for part, result in zip(group, results, strict=True):
            if isinstance(result, BulkWriteError):
                counts.add_failed_chunk(part, result)
                failed = result
            elif isinstance(result, BaseException):
                raise result
            else:
                counts.add(result)
        if ordered and failed is not None:
            break
    return counts


async def insert_new(
    collection: AsyncCollection[Document], documents: Sequence[Document], *, parallel: int = 1
) -> set[Any]:
    """Insert these documents, unordered and in chunks; the ``_id``s that were stored already."""
    if not documents:
        return set()
    counts = await bulk_write(collection, [InsertOne(d) for d in documents], parallel=parallel)
    return counts.duplicates


async def update_by_ids(
    collection: AsyncCollection[Document], ids: Iterable[Any], update: Document, *, parallel: int = 1
) -> int:
    """Apply one update to each of these ids (a statement per ``_id``, never an ``$in``); how many matched."""
    operations = [UpdateOne({"_id": i}, update) for i in dict.fromkeys(ids)]
    return (await bulk_write(collection, operations, parallel=parallel)).matched if operations else 0


IDS_PER_READ = 500
"""Ids per read in :func:`find_by_ids` (the development store pushes at most 1,000 down to its index)."""


async def find_by_ids(
    collection: AsyncCollection[Document], ids: Iterable[str], projection: Document | None = None
) -> dict[str, Document]:
    """The documents of these ids that exist, by id: one ``find`` with ``_id: {$in: [...]}`` per
    ``IDS_PER_READ`` ids.

    MongoDB serves it from the ``_id`` index; so does the development store (FerretDB 1.24 on SQLite)
    with our patch (deploy/ferretdb/patches/id-pushdown.patch): unpatched, it read the whole
    collection for any ``$in``. A page of 50 documents costs the store one command instead of 50.
    """
    wanted = list(dict.fromkeys(ids))
    found: dict[str, Document] = {}
    for start in range(0, len(wanted), IDS_PER_READ):
        async for doc in collection.find({"_id": {"$in": wanted[start : start + IDS_PER_READ]}}, projection):
            found[doc["_id"]] = doc
    return found


async def delete_by_ids(
    collection: AsyncCollection[Document], ids: Iterable[str], *, parallel: int = 1
) -> int:
    """Delete these ids (one statement each, in one bulk write); how many went."""
    operations = [DeleteOne({"_id": i}) for i in dict.fromkeys(ids)]
    return (await bulk_write(collection, operations, parallel=parallel)).deleted if operations else 0


@dataclass
class BulkCounts:
    inserted: int = 0
    matched: int = 0
    modified: int = 0
    upserted: int = 0
    deleted: int = 0
    duplicates: set[Any] = field(default_factory=set)
    """``_id``s of inserts that found their document stored already."""

    def add(self, result: BulkWriteResult) -> None:
        self.inserted += result.inserted_count
        self.matched += result.matched_count
        self.modified += result.modified_count
        self.upserted += result.upserted_count
        self.deleted += result.deleted_count

    def add_failed_chunk(self, chunk: list[_WriteOp], error: BulkWriteError) -> None:
        """Count what a chunk that raised did write; re-raise unless its only errors are duplicate inserts."""
        details: Mapping[str, Any] = error.details
        errors = details.get("writeErrors", [])
        stored_inserts = [
            e for e in errors if e.get("code") == DUPLICATE_KEY and isinstance(chunk[e["index"]], InsertOne)
        ]
        if len(stored_inserts) != len(errors):
            raise error
        self.inserted += details.get("nInserted", 0)
        self.matched += details.get("nMatched", 0)
        self.modified += details.get("nModified", 0)
        self.upserted += details.get("nUpserted", 0)
        self.deleted += details.get("nRemoved", 0)
        self.duplicates.update(chunk[e["index"]]._doc["_id"] for e in errors)


READINESS = "_readiness"
"""One document per service instance, written and read back by the readiness probe."""


async def store_answers(db: AsyncDatabase[Document], instance: str) -> bool:
    """A write and a read back by ``_id``: a hung store can still answer ``ping``, not this."""
    token = uuid.uuid4().hex
    await db[READINESS].replace_one({"_id": instance}, {"_id": instance, "token": token}, upsert=True)
    found = await db[READINESS].find_one({"_id": instance})
    return found is not None and found.get("token") == token


def asc(*fields: str) -> list[tuple[str, int]]:
    return [(f, ASCENDING) for f in fields]
