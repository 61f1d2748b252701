"""MongoDB through PyMongo's async API; works against MongoDB and the FerretDB development store.

Stay inside what both support (see ARCHITECTURE.md): no geo operators, transactions, change streams,
TTL indexes, $lookup or $facet. Geo is done in Python on scalar ``lat``/``lon`` fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pymongo import ASCENDING, AsyncMongoClient, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

Document = dict[str, Any]


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
    """Create the indexes a service's queries need; called at start, idempotent."""
    by_collection: dict[str, list[IndexModel]] = {}
    for spec in specs:
        by_collection.setdefault(spec.collection, []).append(spec.model())
    for collection, models in by_collection.items():
        await db[collection].create_indexes(models)


async def ping(client: AsyncMongoClient[Document]) -> bool:
    try:
        await client.admin.command("ping")
    except Exception:
        return False
    return True


def asc(*fields: str) -> list[tuple[str, int]]:
    return [(f, ASCENDING) for f in fields]
