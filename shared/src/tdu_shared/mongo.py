"""MongoDB through PyMongo's async API; works against MongoDB and the FerretDB development store.

Stay inside what both support (see ARCHITECTURE.md): no geo operators, transactions, change streams,
TTL indexes, $lookup or $facet. Geo is done in Python on scalar ``lat``/``lon`` fields.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
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


BULK_CHUNK = 50
"""Operations per bulkWrite round trip. FerretDB 1.24 (SQLite) hangs for good on one ``update`` command of
100 or more statements that match existing documents (99 pass; measured), so writes go in chunks."""


async def bulk_write(
    collection: AsyncCollection[Document], operations: Sequence[_WriteOp], *, ordered: bool = False
) -> BulkCounts:
    """``Collection.bulk_write`` in chunks the development store can take; returns the summed counts."""
    counts = BulkCounts()
    for start in range(0, len(operations), BULK_CHUNK):
        result = await collection.bulk_write(list(operations[start : start + BULK_CHUNK]), ordered=ordered)
        counts.inserted += result.inserted_count
        counts.matched += result.matched_count
        counts.modified += result.modified_count
        counts.upserted += result.upserted_count
        counts.deleted += result.deleted_count
    return counts


FIND_CONCURRENCY = 16
"""Lookups by _id under way at once in :func:`find_by_ids`."""


async def find_by_ids(
    collection: AsyncCollection[Document], ids: Iterable[str], projection: Document | None = None
) -> dict[str, Document]:
    """The documents of these ids that exist, by id: one ``find_one`` per id, several at once.

    Not an ``$in``: the development store (FerretDB 1.24, SQLite) answers a filter on one ``_id`` from an
    index (see deploy/ferretdb) but an ``$in`` with a scan of the whole collection.
    """
    wanted = list(dict.fromkeys(ids))
    found: dict[str, Document] = {}
    for start in range(0, len(wanted), FIND_CONCURRENCY):
        chunk = wanted[start : start + FIND_CONCURRENCY]
        docs = await asyncio.gather(*(collection.find_one({"_id": i}, projection) for i in chunk))
        found.update((i, d) for i, d in zip(chunk, docs, strict=True) if d is not None)
    return found


async def delete_by_ids(collection: AsyncCollection[Document], ids: Iterable[str]) -> int:
    """Delete these ids (one statement each, in one bulk write: see :func:`find_by_ids`); how many went."""
    operations = [DeleteOne({"_id": i}) for i in dict.fromkeys(ids)]
    return (await bulk_write(collection, operations)).deleted if operations else 0


@dataclass
class BulkCounts:
    inserted: int = 0
    matched: int = 0
    modified: int = 0
    upserted: int = 0
    deleted: int = 0


async def ping(client: AsyncMongoClient[Document]) -> bool:
    try:
        await client.admin.command("ping")
    except Exception:
        return False
    return True


def asc(*fields: str) -> list[tuple[str, int]]:
    return [(f, ASCENDING) for f in fields]
