"""The eligibility ledger in MongoDB: one document per offer with the fingerprint last published."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from tdu_shared.mongo import Document, IndexSpec, bulk_write, find_by_ids

LEDGER = "published_eligibility"

INDEXES: list[IndexSpec] = []  # keyed by _id (the offer id): no other query


class MongoEligibilityLedger:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._collection = db[LEDGER]

    async def fingerprints(self, offer_ids: Iterable[str]) -> dict[str, str]:
        found = await find_by_ids(self._collection, offer_ids, {"fingerprint": 1})
        return {offer_id: doc["fingerprint"] for offer_id, doc in found.items()}

    async def record(self, fingerprints: Mapping[str, str]) -> None:
        operations = [
            UpdateOne({"_id": offer_id}, {"$set": {"fingerprint": fp}}, upsert=True)
            for offer_id, fp in fingerprints.items()
        ]
        await bulk_write(self._collection, operations)
