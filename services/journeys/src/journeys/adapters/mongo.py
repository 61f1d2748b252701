"""MongoDB (or FerretDB) stores: journeys with their outbox, timers, offers read model, contacts.

Only single-document atomic updates: a journey write is one ``find_one_and_update`` guarded by the
journey's revision; the relay and the timer loop claim their work with ``find_one_and_update`` too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import InsertOne, ReturnDocument, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from journeys.adapters.documents import (
    item_from_doc,
    item_to_doc,
    journey_from_doc,
    journey_to_doc,
    timer_from_doc,
    timer_to_doc,
)
from journeys.domain.model import Journey, SessionOption
from journeys.domain.timers import Timer
from journeys.ports import Contact, OfferView, OutboxItem, Pending, StoredTimer, Write
from tdu_shared.contracts.journeys import ReminderKind, Role
from tdu_shared.mongo import Document, IndexSpec, asc, bulk_write, find_by_ids
from tdu_shared.topics import CONTACTS

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

INDEXES = [
    IndexSpec("journeys", asc("basin", "created_at")),
    IndexSpec("journeys", asc("employer_id", "created_at")),
    IndexSpec("journeys", asc("seeker_id", "created_at")),
    IndexSpec("journeys", asc("has_pending", "relay_lease")),
    IndexSpec("timers", asc("status", "next_at")),
    IndexSpec("timers", asc("journey_id")),
]


async def ensure_indexes(db: AsyncDatabase[Document], specs: Sequence[IndexSpec] = INDEXES) -> None:
    """Create the missing indexes, one at a time.

    FerretDB 1.24 panics (and drops the connection) when ``create_indexes`` gets several indexes of which
    some already exist, so ``tdu_shared.mongo.ensure_indexes`` fails on every restart there.
    """
    for spec in specs:
        model = spec.model()
        existing = {ix["name"] async for ix in await db[spec.collection].list_indexes()}
        if model.document["name"] not in existing:
            await db[spec.collection].create_indexes([model])


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class MongoJourneys:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._col = db["journeys"]
        self._sent = db["relayed_events"]
        self._erasures = db["erasures"]

    async def get(self, journey_id: str) -> Journey | None:
        doc = await self._col.find_one({"_id": journey_id})
        return journey_from_doc(doc) if doc else None

    async def seen(self, journey_id: str, key: str) -> bool:
        # Filter on _id alone: FerretDB scans the whole collection for any other filter.
        doc = await self._col.find_one({"_id": journey_id}, {"keys": 1})
        return doc is not None and key in doc.get("keys", [])

    async def create(self, write: Write) -> bool:
        doc = journey_to_doc(write.journey)
        doc.update(
            revision=1,
            outbox=[item_to_doc(i) for i in write.outbox],
            pending_timers=[timer_to_doc(t) for t in write.timers],
            keys=[write.command_key] if write.command_key else [],
            has_pending=True,
            relay_lease=EPOCH,
            anonymised=False,
        )
        try:
            await self._col.insert_one(doc)
        except DuplicateKeyError:
            return False
        write.journey.revision = 1
        return True

    async def update(self, write: Write, expected_revision: int) -> bool:
        state = {k: v for k, v in journey_to_doc(write.journey).items() if k not in ("_id", "revision")}
        push: dict[str, Any] = {
            "outbox": {"$each": [item_to_doc(i) for i in write.outbox]},
            "pending_timers": {"$each": [timer_to_doc(t) for t in write.timers]},
        }
        keys = [k for k in (write.command_key, write.reminder_id) if k]
        if keys:
            push["keys"] = {"$each": keys}
        done = await self._col.find_one_and_update(
            {"_id": write.journey.journey_id, "revision": expected_revision},
            {"$set": {**state, "has_pending": True}, "$inc": {"revision": 1}, "$push": push},
            return_document=ReturnDocument.AFTER,
        )
        if done is None:
            return False
        write.journey.revision = expected_revision + 1
        return True

    async def get_many(self, journey_ids: Sequence[str]) -> dict[str, Journey]:
        found = await find_by_ids(self._col, journey_ids)
        return {i: journey_from_doc(d) for i, d in found.items()}

    async def all(self, basin: str | None = None) -> list[Journey]:
        return [journey_from_doc(d) async for d in self._col.find({"basin": basin} if basin else {})]

    async def pending(self, limit: int, now: datetime, lease_s: float) -> list[Pending]:
        claimed = []
        for _ in range(limit):
            doc = await self._col.find_one_and_update(
                {"has_pending": True, "relay_lease": {"$lt": now}},
                {"$set": {"relay_lease": now + timedelta(seconds=lease_s)}},
                return_document=ReturnDocument.AFTER,
            )
            if doc is None:
                break
            outbox = [item_from_doc(i) for i in doc.get("outbox", [])]
            owned = await self._own(doc["_id"], outbox, now, lease_s)
            timers = [timer_from_doc(t) for t in doc.get("pending_timers", [])]
            claimed.append(Pending(doc["_id"], doc["revision"], owned, timers))
        return claimed

    async def _own(
        self, journey_id: str, outbox: list[OutboxItem], now: datetime, lease_s: float
    ) -> list[OutboxItem]:
        """The events this relay may publish: each is fenced by inserting its id in the ledger first.

        The insert on the unique ``_id`` is atomic even where concurrent updates of one document are not
        (FerretDB), so two relays never publish one event. A "publishing" entry older than the lease
        (its relay crashed) is taken over; contact events of an erased person are dropped, never sent.
        """
        erased = {d["_id"] async for d in self._erasures.find({"_id": {"$in": [i.key for i in outbox]}})}
        owned: dict[str, OutboxItem] = {}
        for item in outbox:
            if item.event_id in owned:
                continue
            if item.topic == CONTACTS.name and item.key in erased:
                await self._sent.replace_one({"_id": item.event_id}, {"status": "dropped"}, upsert=True)
                continue
            until = now + timedelta(seconds=lease_s)
            try:
                await self._sent.insert_one(
                    {"_id": item.event_id, "journey_id": journey_id, "status": "publishing", "until": until}
                )
            except DuplicateKeyError:
                taken = await self._sent.update_one(
                    {"_id": item.event_id, "status": "publishing", "until": {"$lt": now}},
                    {"$set": {"until": until}},
                )
                if not taken.modified_count:
                    continue
            owned[item.event_id] = item
        return list(owned.values())

    async def relayed(self, journey_id: str, event_ids: Sequence[str], timer_ids: Sequence[str]) -> None:
        sent, armed = set(event_ids), set(timer_ids)
        if sent:
            await self._sent.update_many({"_id": {"$in": list(sent)}}, {"$set": {"status": "sent"}})
        while True:
            doc = await self._col.find_one({"_id": journey_id})
            if doc is None:
                return
            ids = [i["event_id"] for i in doc.get("outbox", [])]
            settled = {"_id": {"$in": ids}, "status": {"$in": ["sent", "dropped"]}}
            done = {d["_id"] async for d in self._sent.find(settled)}
            outbox = [i for i in doc.get("outbox", []) if i["event_id"] not in sent | done]
            timers = [t for t in doc.get("pending_timers", []) if timer_from_doc(t).timer_id not in armed]
            result = await self._col.update_one(
                {"_id": journey_id, "revision": doc["revision"]},
                {
                    "$set": {
                        "outbox": outbox,
                        "pending_timers": timers,
                        "has_pending": bool(outbox or timers),
                        "relay_lease": EPOCH,
                    }
                },
            )
            if result.matched_count:
                return

    async def forget_person(self, person_id: str) -> int:
        await self._erasures.replace_one({"_id": person_id}, {"erased": True}, upsert=True)
        count = 0
        async for doc in self._col.find({"seeker_id": person_id}, {"_id": 1}):
            await self._strip_contact_events(doc["_id"], person_id)
            count += 1
        return count

    async def _strip_contact_events(self, journey_id: str, person_id: str) -> None:
        while True:
            doc = await self._col.find_one({"_id": journey_id})
            if doc is None:
                return
            outbox = [
                i
                for i in doc.get("outbox", [])
                if not (i["topic"] == CONTACTS.name and i["key"] == person_id)
            ]
            result = await self._col.update_one(
                {"_id": journey_id, "revision": doc["revision"]},
                # A new revision: whoever read the journey before fails its guard and re-reads.
                {"$set": {"outbox": outbox, "anonymised": True}, "$inc": {"revision": 1}},
            )
            if result.matched_count:
                return


class MongoTimers:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._col = db["timers"]
        self._claims = db["timer_claims"]

    async def arm(self, timers: Sequence[Timer]) -> None:
        if not timers:
            return
        await self._col.bulk_write(
            [
                UpdateOne(
                    {"_id": t.timer_id},
                    {
                        "$setOnInsert": {
                            **timer_to_doc(t),
                            "status": "pending",
                            "next_at": t.due_at,
                            "attempts": 0,
                        }
                    },
                    upsert=True,
                )
                for t in timers
            ],
            ordered=False,
        )

    async def claim_due(self, now: datetime, lease_s: float) -> StoredTimer | None:
        while True:
            doc = await self._col.find_one_and_update(
                {"status": "pending", "next_at": {"$lte": now}},
                {"$set": {"next_at": now + timedelta(seconds=lease_s)}, "$inc": {"attempts": 1}},
                sort=[("next_at", 1)],
                return_document=ReturnDocument.AFTER,
            )
            if doc is None:
                return None
            if await self._fence(doc["_id"], now, lease_s):
                kind = ReminderKind(doc["kind"])
                return StoredTimer(doc["_id"], doc["journey_id"], kind, doc["due_at"], doc["marker"])

    async def _fence(self, timer_id: str, now: datetime, lease_s: float) -> bool:
        """Insert-first ownership of a timer: atomic on a unique _id even where updates are not (FerretDB)."""
        until = now + timedelta(seconds=lease_s)
        try:
            await self._claims.insert_one({"_id": timer_id, "until": until})
            return True
        except DuplicateKeyError:
            taken = await self._claims.update_one(
                {"_id": timer_id, "until": {"$lt": now}}, {"$set": {"until": until}}
            )
            return taken.modified_count > 0

    async def finish(self, timer_id: str, status: str, now: datetime) -> None:
        await self._col.update_one({"_id": timer_id}, {"$set": {"status": status, "finished_at": now}})

    async def list_for(self, journey_id: str) -> list[dict[str, Any]]:
        return [d async for d in self._col.find({"journey_id": journey_id})]


class MongoOffers:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._col = db["offers"]

    async def get(self, offer_id: str) -> OfferView | None:
        doc = await self._col.find_one({"_id": offer_id})
        if doc is None:
            return None
        sessions = tuple(
            SessionOption(
                s["session_id"],
                s.get("provider_id"),
                datetime.fromisoformat(s["start_date"]).date() if s.get("start_date") else None,
            )
            for s in doc.get("sessions", [])
        )
        return OfferView(
            doc["_id"],
            doc["eligible"],
            doc["evaluated_at"],
            doc.get("title"),
            doc.get("basin"),
            doc.get("employer_id"),
            sessions,
            tuple(doc.get("reasons", [])),
        )

    async def save(self, offer: OfferView) -> bool:
        evaluated = _aware(offer.evaluated_at)
        doc = {
            "eligible": offer.eligible,
            "evaluated_at": evaluated,
            "title": offer.title,
            "basin": offer.basin,
            "employer_id": offer.employer_id,
            "reasons": list(offer.reasons),
            "sessions": [
                {
                    "session_id": s.session_id,
                    "provider_id": s.provider_id,
                    "start_date": s.start_date.isoformat() if s.start_date else None,
                }
                for s in offer.sessions
            ],
        }
        try:
            await self._col.update_one(
                {"_id": offer.offer_id, "evaluated_at": {"$lt": evaluated}}, {"$set": doc}, upsert=True
            )
        except DuplicateKeyError:
            return False
        return True


class MongoContacts:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._col = db["contacts"]

    async def get(self, person_id: str) -> Contact | None:
        doc = await self._col.find_one({"_id": person_id})
        if doc is None:
            return None
        data = {k: v for k, v in doc.items() if k != "_id"}
        return Contact(person_id=person_id, **{**data, "role": Role(data["role"])})

    async def save(self, contact: Contact) -> None:
        data = {k: v for k, v in vars(contact).items() if k != "person_id"}
        await self._col.replace_one({"_id": contact.person_id}, data, upsert=True)

    async def delete(self, person_id: str) -> bool:
        return (await self._col.delete_one({"_id": person_id})).deleted_count > 0


class MongoDocuments:
    """Read-model documents (see ``journeys.readmodels``), read and changed by ``_id`` only."""

    def __init__(self, db: AsyncDatabase[Document], name: str) -> None:
        self._col = db[name]

    async def get(self, doc_id: str, fields: Sequence[str] | None = None) -> dict[str, Any] | None:
        projection = {f: 1 for f in fields} if fields else None
        return await self._col.find_one({"_id": doc_id}, projection)

    async def get_many(self, doc_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        return await find_by_ids(self._col, doc_ids)

    async def change(
        self,
        doc_id: str,
        *,
        set: Mapping[str, Any] | None = None,
        unset: Sequence[str] = (),
        inc: Mapping[str, int] | None = None,
        after: bool = False,
    ) -> dict[str, Any] | None:
        update: dict[str, Any] = {}
        if set:
            update["$set"] = dict(set)
        if unset:
            update["$unset"] = {path: "" for path in unset}
        if inc:
            update["$inc"] = dict(inc)
        if not update:
            return await self.get(doc_id) if after else None
        if after:
            return await self._col.find_one_and_update(
                {"_id": doc_id}, update, upsert=True, return_document=ReturnDocument.AFTER
            )
        await self._col.update_one({"_id": doc_id}, update, upsert=True)
        return None

    async def replace_all(self, docs: Sequence[dict[str, Any]]) -> None:
        await self._col.delete_many({})
        await bulk_write(self._col, [InsertOne(d) for d in docs])
