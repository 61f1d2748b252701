"""The eligibility ledger in MongoDB: one document per offer with the fingerprint last published."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from tdu_shared.mongo import Document, IndexSpec

LEDGER = "published_eligibility"

INDEXES: list[IndexSpec] = []  # keyed by _id (the offer id): no other query


class MongoEligibilityLedger:
    def __init__(self, db: AsyncDatabase[Document], *, chunk: int = 1000) -> None:
        self._collection = db[LEDGER]
        self._chunk = chunk

    async def fingerprints(self, offer_ids: Iterable[str]) -> dict[str, str]:
        ids = list(offer_ids)
        found: dict[str, str] = {}
        for start in range(0, len(ids), self._chunk):
            cursor = self._collection.find({"_id": {"$in": ids[start : start + self._chunk]}})
            async for doc in cursor:
                found[doc["_id"]] = doc["fingerprint"]
        return found

    async def record(self, fingerprints: Mapping[str, str]) -> None:
        operations = [
            UpdateOne({"_id": offer_id}, {"$set": {"fingerprint": fp}}, upsert=True)
            for offer_id, fp in fingerprints.items()
        ]
        for start in range(0, len(operations), self._chunk):
            await self._collection.bulk_write(operations[start : start + self._chunk], ordered=False)
