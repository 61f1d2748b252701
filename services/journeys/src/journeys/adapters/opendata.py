"""Where the monthly open-data exports are kept, for the public endpoints: one document per month in
``open_data`` (``_id`` = ``YYYY-MM``: the CSV and JSON as published) and ``_id`` = ``latest`` naming the
newest month exported. Read and written by ``_id`` only (the development store indexes nothing else)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from pymongo.asynchronous.database import AsyncDatabase

from tdu_shared.mongo import Document

COLLECTION = "open_data"
LATEST = "latest"


@dataclass(frozen=True)
class StoredExport:
    month: str
    region: str
    generated_at: datetime
    csv: str
    json: str
    rows: int
    suppressed: int


class MongoOpenData:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._col = db[COLLECTION]

    async def save(self, export: StoredExport) -> None:
        """Store (or replace) the export of its month; it becomes the latest unless a later month is
        stored (a monthly job, one writer: the read then write of ``latest`` is not raced)."""
        doc = {
            "region": export.region,
            "generated_at": export.generated_at,
            "csv": export.csv,
            "json": export.json,
            "rows": export.rows,
            "suppressed": export.suppressed,
        }
        await self._col.replace_one({"_id": export.month}, doc, upsert=True)
        latest = await self._col.find_one({"_id": LATEST})
        if latest is None or str(latest["month"]) <= export.month:
            await self._col.replace_one({"_id": LATEST}, {"month": export.month}, upsert=True)

    async def get(self, month: str) -> StoredExport | None:
        doc = await self._col.find_one({"_id": month})
        if doc is None or month == LATEST:
            return None
        at: datetime = doc["generated_at"]
        return StoredExport(
            month,
            str(doc["region"]),
            at if at.tzinfo else at.replace(tzinfo=UTC),
            doc["csv"],
            doc["json"],
            int(doc["rows"]),
            int(doc["suppressed"]),
        )

    async def latest(self) -> StoredExport | None:
        pointer = await self._col.find_one({"_id": LATEST})
        return await self.get(str(pointer["month"])) if pointer else None


class MemoryOpenData:
    """The same, in a dict (unit tests)."""

    def __init__(self) -> None:
        self.exports: dict[str, StoredExport] = {}

    async def save(self, export: StoredExport) -> None:
        self.exports[export.month] = export

    async def get(self, month: str) -> StoredExport | None:
        return self.exports.get(month)

    async def latest(self) -> StoredExport | None:
        return self.exports[max(self.exports)] if self.exports else None
