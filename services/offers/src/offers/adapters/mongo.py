"""The offer store on MongoDB (or FerretDB): offers, employer contacts, blacklist, refreshes.

Collections:
- ``offers``: one document per offer id: public state (``state``), status, revision, fingerprint, the
  fields queries filter on (basin, rome_fiche, rome_code, departement, source, partner), the refresh that
  last carried it. No personal data.
- ``contacts``: employer contacts (personal data) by opaque person id, apart from the offers.
- ``blacklist``: ``offer:<id>`` and ``employer:<hash>`` entries.
- ``refreshes`` and ``refresh_records``: end markers of full refreshes and the records seen for each.
- ``outbox``: one document per batch holding the events it owes, deleted once Kafka acknowledged them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pymongo import DESCENDING, ReplaceOne, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from offers.domain.refresh import Refresh, scope_filter
from offers.ports import Doc, Effects, Entry, OfferQuery
from tdu_shared.mongo import IndexSpec, asc, bulk_write

DUPLICATE_KEY = 11000

INDEXES = [
    IndexSpec("offers", asc("status", "basin", "rome_fiche")),
    IndexSpec("offers", asc("status", "rome_fiche")),
    IndexSpec("offers", asc("status", "rome_code")),
    IndexSpec("offers", [("updated_at", DESCENDING)]),
    IndexSpec("offers", asc("source", "departement", "status")),
    IndexSpec("offers", asc("source", "basin", "status")),
    IndexSpec("offers", asc("employer_contact_id")),
    IndexSpec("refresh_records", asc("refresh_id")),
]


async def _insert_or_replace(collection: AsyncCollection[Doc], new: list[Doc], changed: list[Doc]) -> None:
    replace = [ReplaceOne({"_id": d["_id"]}, d, upsert=True) for d in changed]
    if new:
        try:
            await collection.insert_many(new, ordered=False)
        except BulkWriteError as exc:  # stored meanwhile by another consumer: replace those
            if any(e.get("code") != DUPLICATE_KEY for e in exc.details.get("writeErrors", [])):
                raise
            failed = {new[e["index"]]["_id"] for e in exc.details["writeErrors"]}
            replace += [ReplaceOne({"_id": d["_id"]}, d, upsert=True) for d in new if d["_id"] in failed]
    if replace:
        await bulk_write(collection, replace)


class MongoOfferStore:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.offers = db["offers"]
        self.contacts = db["contacts"]
        self.blacklist = db["blacklist"]
        self.refreshes = db["refreshes"]
        self.refresh_records = db["refresh_records"]
        self.outbox = db["outbox"]

    async def load_offers(self, ids: Sequence[str]) -> dict[str, Doc]:
        if not ids:
            return {}
        return {d["_id"]: d async for d in self.offers.find({"_id": {"$in": list(ids)}})}

    async def load_contacts(self, person_ids: Sequence[str]) -> dict[str, Doc]:
        if not person_ids:
            return {}
        return {d["_id"]: d async for d in self.contacts.find({"_id": {"$in": list(person_ids)}})}

    async def blacklisted(self, offer_ids: Sequence[str], person_ids: Sequence[str]) -> set[str]:
        keys = [f"offer:{i}" for i in offer_ids] + [f"person:{p}" for p in person_ids]
        if not keys:
            return set()
        found = self.blacklist.find({"_id": {"$in": keys}}, {"value": 1})
        return {d["value"] async for d in found}

    async def write_outbox(self, outbox_id: str, entries: list[Entry]) -> None:
        if entries:
            doc = {"_id": outbox_id, "events": entries, "at": datetime.now(UTC)}
            await self.outbox.replace_one({"_id": outbox_id}, doc, upsert=True)

    async def insert_new_offers(self, docs: list[Doc]) -> set[str]:
        """One insert_many (FerretDB upserts and ``$in`` reads cost a scan each); duplicates are reported."""
        if not docs:
            return set()
        try:
            await self.offers.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != DUPLICATE_KEY for e in errors):
                raise
            return {docs[e["index"]]["_id"] for e in errors}
        return set()

    async def save(self, effects: Effects) -> None:
        if effects.changed_offers:
            await bulk_write(
                self.offers, [ReplaceOne({"_id": d["_id"]}, d, upsert=True) for d in effects.changed_offers]
            )
        if effects.refresh_touches:
            touches = [
                UpdateOne({"_id": i}, {"$set": {"last_refresh": r}})
                for i, r in effects.refresh_touches.items()
            ]
            await bulk_write(self.offers, touches)
        await _insert_or_replace(self.contacts, effects.new_contacts, effects.changed_contacts)
        if effects.refresh_markers:
            markers = [
                UpdateOne({"_id": f"{r}:{m}"}, {"$set": {"refresh_id": r}}, upsert=True)
                for r, m in effects.refresh_markers
            ]
            await bulk_write(self.refresh_records, markers)

    async def pending_outbox(self) -> list[tuple[str, list[Entry]]]:
        return [(d["_id"], d["events"]) async for d in self.outbox.find({}).sort("at", 1)]

    async def clear_outbox(self, outbox_ids: Sequence[str]) -> None:
        for outbox_id in outbox_ids:
            await self.outbox.delete_one({"_id": outbox_id})

    async def save_refresh(self, refresh: Refresh) -> None:
        doc = {
            "source": refresh.source,
            "partner": refresh.partner,
            "scope": refresh.scope,
            "scope_code": refresh.scope_code,
            "submitted": refresh.submitted,
        }
        await self.refreshes.update_one(
            {"_id": refresh.refresh_id}, {"$set": doc, "$setOnInsert": {"closed": False}}, upsert=True
        )

    async def open_refresh(self, refresh_id: str) -> Refresh | None:
        doc = await self.refreshes.find_one({"_id": refresh_id, "closed": False})
        if doc is None:
            return None
        return Refresh(
            refresh_id, doc["source"], doc["partner"], doc["scope"], doc["scope_code"], doc["submitted"]
        )

    async def refresh_seen(self, refresh_id: str) -> int:
        return await self.refresh_records.count_documents({"refresh_id": refresh_id})

    async def missing_from_refresh(self, refresh: Refresh) -> list[Doc]:
        query = {**scope_filter(refresh), "status": "published", "last_refresh": {"$ne": refresh.refresh_id}}
        return [d async for d in self.offers.find(query)]

    async def close_refresh(self, refresh_id: str) -> None:
        await self.refreshes.update_one({"_id": refresh_id}, {"$set": {"closed": True}})

    async def add_to_blacklist(self, offer_id: str | None, person_id: str | None, added_at: datetime) -> None:
        for kind, value in (("offer", offer_id), ("person", person_id)):
            if value:
                await self.blacklist.update_one(
                    {"_id": f"{kind}:{value}"},
                    {"$set": {"kind": kind, "value": value, "added_at": added_at}},
                    upsert=True,
                )

    async def published_offers_of(self, offer_id: str | None, person_id: str | None) -> list[Doc]:
        either: list[dict[str, Any]] = []
        if offer_id:
            either.append({"_id": offer_id})
        if person_id:
            either.append({"employer_contact_id": person_id})
        if not either:
            return []
        return [d async for d in self.offers.find({"$or": either, "status": "published"})]

    async def find_offers(self, query: OfferQuery) -> tuple[list[Doc], int]:
        match: dict[str, Any] = {}
        if query.status:
            match["status"] = query.status
        if query.basin:
            match["basin"] = query.basin
        if query.rome:
            match["$or"] = [{"rome_fiche": query.rome}, {"rome_code": query.rome}]
        total = await self.offers.count_documents(match)
        cursor = self.offers.find(match).sort([("updated_at", DESCENDING), ("_id", 1)])
        docs = [d async for d in cursor.skip((query.page - 1) * query.size).limit(query.size)]
        return docs, total

    async def get_offer(self, offer_id: str) -> Doc | None:
        return await self.offers.find_one({"_id": offer_id})
