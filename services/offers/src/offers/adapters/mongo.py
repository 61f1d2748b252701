"""The offer store on MongoDB (or FerretDB): offers, employer contacts, blacklist, refreshes.

Collections:
- ``offers``: one document per offer id: public state (``state``, kept as one JSON text), status,
  revision, fingerprint, the fields queries filter on (basin, rome_fiche, rome_code, departement, source,
  partner), the refresh that last carried it. No personal data.
- ``contacts``: employer contacts (personal data) by opaque person id, apart from the offers.
- ``blacklist``: ``offer:<id>`` and ``person:<id>`` entries, and ``version``, counted up by each change.
- ``refreshes`` and ``refresh_records``: end markers of full refreshes and the records seen for each.
- ``outbox``: the service's outbox (``tdu_shared.outbox.MongoOutbox``): one document per batch holding
  the events it owes (one JSON text), deleted once Kafka acknowledged them.

Ingest reads nothing but documents by ``_id`` (:func:`tdu_shared.mongo.find_by_ids`, an ``_id: {$in}``
per 500 ids): the development store (FerretDB 1.24 on SQLite) serves only those from an index, with our
patch, and any other filter with a scan of the whole collection. Its cost is per stored field and per
statement (about 0.3 ms of store CPU to insert an offer, 1.5 ms to replace one; see the README), hence the
public state and the outbox events stored as one text each, and what this process already knows kept
here: the ids it has seen stored (others are presumed new and inserted at once), the employer contacts
it has read or written, and the blacklist until its version changes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from pymongo import DESCENDING, ReplaceOne, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from offers.domain.contacts import legacy_person_id, new_person_id
from offers.domain.refresh import Refresh, scope_filter
from offers.ports import Doc, Effects, OfferQuery
from tdu_shared.mongo import IndexSpec, asc, bulk_write, find_by_ids, insert_new

REMEMBERED = 500_000
"""Most offer ids and contacts remembered (a few tens of MB); past it the memory starts again empty."""
BLACKLIST_VERSION = "version"

INDEXES = [
    IndexSpec("offers", asc("status", "basin", "rome_fiche")),
    IndexSpec("offers", asc("status", "rome_fiche")),
    IndexSpec("offers", asc("status", "rome_code")),
    IndexSpec("offers", [("updated_at", DESCENDING)]),
    IndexSpec("offers", asc("source", "departement", "status")),
    IndexSpec("offers", asc("source", "basin", "status")),
    IndexSpec("offers", asc("employer_contact_id")),
    IndexSpec("employers", asc("person_id")),
    IndexSpec("refresh_records", asc("refresh_id")),
]


def to_stored(doc: Doc) -> Doc:
    """An offer as the store keeps it: its public state as one JSON text (a few fields, not fifty)."""
    state = doc.get("state")
    return {**doc, "state": json.dumps(state, separators=(",", ":"))} if isinstance(state, dict) else doc


def from_stored(doc: Doc) -> Doc:
    """An offer as the use cases see it (documents stored before the state became text pass as they are)."""
    state = doc.get("state")
    if isinstance(state, str):
        doc["state"] = json.loads(state)
    return doc


class Remembered:
    """A bounded memory of keys (and values) this process has seen stored; never the only truth."""

    def __init__(self, limit: int = REMEMBERED) -> None:
        self.limit = limit
        self.items: dict[str, Any] = {}

    def add(self, key: str, value: Any = None) -> None:
        if len(self.items) >= self.limit:
            self.items.clear()
        self.items[key] = value

    def add_all(self, keys: Iterable[str]) -> None:
        for key in keys:
            self.add(key)

    def __contains__(self, key: object) -> bool:
        return key in self.items


def _remembered(contact: Doc) -> Doc:
    """What this process keeps of a contact: its fingerprint (is it unchanged?), never the address."""
    return {"_id": contact["_id"], "fingerprint": contact.get("fingerprint")}


class MongoOfferStore:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.offers = db["offers"]
        self.contacts = db["contacts"]
        self.employers = db["employers"]
        """Address key (SHA-256 of the address) -> the employer's opaque id."""
        self.blacklist = db["blacklist"]
        self.refreshes = db["refreshes"]
        self.refresh_records = db["refresh_records"]
        self._stored_ids = Remembered()
        self._contacts = Remembered()
        self._employers = Remembered()
        self._blacklist: tuple[int, set[str]] | None = None

    async def load_offers(self, ids: Sequence[str]) -> dict[str, Doc]:
        found = await find_by_ids(self.offers, ids)
        self._stored_ids.add_all(found)
        return {i: from_stored(d) for i, d in found.items()}

    async def load_known_offers(self, ids: Sequence[str]) -> dict[str, Doc]:
        return await self.load_offers([i for i in ids if i in self._stored_ids])

    async def load_contacts(self, person_ids: Sequence[str]) -> dict[str, Doc]:
        found = await find_by_ids(self.contacts, person_ids)
        for person_id, doc in found.items():
            self._contacts.add(person_id, _remembered(doc))
        return found

    async def load_known_contacts(self, person_ids: Sequence[str]) -> dict[str, Doc]:
        return {p: dict(self._contacts.items[p]) for p in person_ids if p in self._contacts}

    async def blacklisted(self, offer_ids: Sequence[str], person_ids: Sequence[str]) -> set[str]:
        """Read by ``_id`` (its version) at each call, in full only when it changed."""
        version_doc = await self.blacklist.find_one({"_id": BLACKLIST_VERSION})
        version = int(version_doc["n"]) if version_doc else 0
        if self._blacklist is None or self._blacklist[0] != version:
            entries = {d["value"] async for d in self.blacklist.find({}) if "value" in d}
            self._blacklist = (version, entries)
        entries = self._blacklist[1]
        return {i for i in [*offer_ids, *person_ids] if i in entries}

    async def insert_new_offers(self, docs: list[Doc]) -> set[str]:
        """Inserted at once (on FerretDB an upsert is a scan); the ids stored already."""
        try:
            return await insert_new(self.offers, [to_stored(d) for d in docs])
        finally:
            self._stored_ids.add_all(d["_id"] for d in docs)

    async def insert_new_contacts(self, docs: list[Doc]) -> set[str]:
        known = await insert_new(self.contacts, docs)
        for doc in docs:
            if doc["_id"] not in known:
                self._contacts.add(doc["_id"], _remembered(doc))
        return known

    async def save(self, effects: Effects) -> None:
        if effects.changed_offers:
            await bulk_write(
                self.offers,
                [ReplaceOne({"_id": d["_id"]}, to_stored(d), upsert=True) for d in effects.changed_offers],
            )
            self._stored_ids.add_all(d["_id"] for d in effects.changed_offers)
        if effects.refresh_touches:
            touches = [
                UpdateOne({"_id": i}, {"$set": {"last_refresh": r}})
                for i, r in effects.refresh_touches.items()
            ]
            await bulk_write(self.offers, touches)
        await self._save_contacts(effects.new_contacts, effects.changed_contacts)
        if effects.refresh_markers:
            markers = [
                UpdateOne({"_id": f"{r}:{m}"}, {"$set": {"refresh_id": r}}, upsert=True)
                for r, m in effects.refresh_markers
            ]
            await bulk_write(self.refresh_records, markers)

    async def _save_contacts(self, new: list[Doc], changed: list[Doc]) -> None:
        replace = [ReplaceOne({"_id": d["_id"]}, d, upsert=True) for d in changed]
        stored = await insert_new(self.contacts, new)  # stored meanwhile by another consumer: replace those
        replace += [ReplaceOne({"_id": d["_id"]}, d, upsert=True) for d in new if d["_id"] in stored]
        if replace:
            await bulk_write(self.contacts, replace)
        for doc in [*new, *changed]:
            self._contacts.add(doc["_id"], _remembered(doc))

    async def employer_ids(self, keys: Sequence[str]) -> dict[str, str]:
        ids = {k: self._employers.items[k] for k in keys if k in self._employers}
        missing = [k for k in keys if k not in ids]
        found = await find_by_ids(self.employers, missing)
        new = [k for k in missing if k not in found]
        legacy = await find_by_ids(self.contacts, [legacy_person_id(k) for k in new], {"_id": 1})
        docs = [
            {"_id": k, "person_id": legacy_person_id(k) if legacy_person_id(k) in legacy else new_person_id()}
            for k in new
        ]
        raced = await insert_new(self.employers, docs)  # made meanwhile by another consumer: theirs wins
        found |= await find_by_ids(self.employers, sorted(raced)) if raced else {}
        found |= {d["_id"]: d for d in docs if d["_id"] not in raced}
        for key, doc in found.items():
            self._employers.add(key, doc["person_id"])
            ids[key] = doc["person_id"]
        return ids

    async def erase_contact(self, person_id: str) -> bool:
        self.forget_contact(person_id)
        await self.employers.delete_many({"person_id": person_id})
        return (await self.contacts.delete_one({"_id": person_id})).deleted_count > 0

    def forget_contact(self, person_id: str) -> None:
        self._contacts.items.pop(person_id, None)
        self._employers.items = {k: v for k, v in self._employers.items.items() if v != person_id}

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
        return [from_stored(d) async for d in self.offers.find(query)]

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
        await self.blacklist.update_one({"_id": BLACKLIST_VERSION}, {"$inc": {"n": 1}}, upsert=True)

    async def published_offers_of(self, offer_id: str | None, person_id: str | None) -> list[Doc]:
        either: list[dict[str, Any]] = []
        if offer_id:
            either.append({"_id": offer_id})
        if person_id:
            either.append({"employer_contact_id": person_id})
        if not either:
            return []
        return [from_stored(d) async for d in self.offers.find({"$or": either, "status": "published"})]

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
        docs = [from_stored(d) async for d in cursor.skip((query.page - 1) * query.size).limit(query.size)]
        return docs, total

    async def get_offer(self, offer_id: str) -> Doc | None:
        doc = await self.offers.find_one({"_id": offer_id})
        return from_stored(doc) if doc is not None else None
