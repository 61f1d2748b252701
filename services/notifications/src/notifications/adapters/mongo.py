"""Deliveries and contacts in MongoDB (FerretDB-compatible: no transactions, batch operations only)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from notifications.domain.model import Audience, Channel, Contact, Delivery, JourneyFacts, Status
from notifications.domain.policy import normalise_phone
from notifications.ports import Outcome
from tdu_shared.mongo import Document, IndexSpec, asc, delete_by_ids, find_by_ids

DELIVERY_KEYS = "delivery_keys"
OUTBOX = "outbox"
IN_FLIGHT = "in_flight"
DELIVERIES = "deliveries"
UNREPORTED = "unreported"
CONTACTS = "contacts"

INDEXES = [
    IndexSpec(OUTBOX, asc("due_at")),
    IndexSpec(OUTBOX, asc("recipient_id")),
    IndexSpec(IN_FLIGHT, asc("lease_until")),
    IndexSpec(DELIVERIES, asc("recipient_id", "sent_day")),
    IndexSpec(DELIVERIES, asc("journey_id")),
    IndexSpec(DELIVERY_KEYS, asc("recipient_id")),
    IndexSpec(CONTACTS, asc("phone_normalised")),
]
"""A delivery key is the ``_id`` in ``delivery_keys``: the unique index that makes a replay a no-op."""

DUPLICATE_KEY = 11000
BULK_CHUNK = 8
FINAL = (Status.SENT, Status.FAILED, Status.SKIPPED)


def _facts_doc(f: JourneyFacts) -> Document:
    return {
        "event_id": f.event_id,
        "event_type": f.event_type,
        "occurred_at": f.occurred_at,
        "region": f.region,
        "basin": f.basin,
        "journey_id": f.journey_id,
        "seeker_id": f.seeker_id,
        "employer_id": f.employer_id,
        "provider_id": f.provider_id,
        "reminder_kind": f.reminder_kind,
        "fields": f.fields,
    }


def _facts(doc: Document) -> JourneyFacts:
    return JourneyFacts(**doc)


def delivery_doc(d: Delivery) -> Document:
    return {
        "_id": d.key,
        "status": d.status.value,
        "recipient_id": d.recipient_id,
        "audience": d.audience.value,
        "channel": d.channel.value,
        "template": d.template,
        "attempts": d.attempts,
        "created_at": d.created_at,
        "due_at": d.due_at,
        "journey_id": d.facts.journey_id,
        "event": _facts_doc(d.facts),
        "parts_sent": 0,
    }


def delivery_of(doc: Document, was_in_flight: bool = False) -> Delivery:
    return Delivery(
        key=doc["_id"],
        facts=_facts(doc["event"]),
        recipient_id=doc["recipient_id"],
        audience=Audience(doc["audience"]),
        channel=Channel(doc["channel"]),
        template=doc["template"],
        status=Status(doc["status"]),
        attempts=doc.get("attempts", 0),
        created_at=doc["created_at"],
        due_at=doc["due_at"],
        deferred_reason=doc.get("deferred_reason"),
        parts_sent=doc.get("parts_sent", 0),
        was_in_flight=was_in_flight,
    )


class MongoDeliveryStore:
    """Deliveries in four collections, shaped for a store where updates cost more as a collection grows
    (FerretDB on SQLite scans on update):

    - ``delivery_keys``: insert-only, one document per key ever planned (the no-double-send guard);
    - ``outbox``: the deliveries not final yet (pending, deferred): small; updated only to reschedule;
    - ``in_flight``: a document per delivery being sent (its lease), inserted BEFORE the provider call:
      one left behind by a dead process makes the next attempt ask whether the message already went;
    - ``deliveries``: insert-only log of final outcomes (sent, failed, skipped);
    - ``unreported``: final outcomes not yet published on ``notifications.deliveries``.
    """

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._keys = db[DELIVERY_KEYS]
        self._outbox = db[OUTBOX]
        self._in_flight = db[IN_FLIGHT]
        self._log = db[DELIVERIES]
        self._unreported = db[UNREPORTED]
        self._sent_counts: dict[str, dict[str, int]] = {}
        self._sent_queue: list[tuple[Document, asyncio.Future[None]]] = []
        self._logged_by_record_sent: set[str] = set()  # not to be written again by record()
        self._sent_writer: asyncio.Task[None] | None = None

    async def add(self, deliveries: Sequence[Delivery]) -> list[str]:
        keys = [{"_id": d.key, "recipient_id": d.recipient_id} for d in deliveries]
        new = await _insert_new(self._keys, keys)
        # a key known already is normally in the outbox or the log; in neither, the process died between
        # the two inserts and the delivery is planned again (rare: only a replay gets here)
        fresh = [d for d in deliveries if d.key in new or not await self._anywhere(d.key)]
        await _insert_new(self._outbox, [delivery_doc(d) for d in fresh])
        return [d.key for d in fresh]

    async def _anywhere(self, key: str) -> bool:
        for col in (self._outbox, self._log):
            if await col.find_one({"_id": key}, {"_id": 1}) is not None:
                return True
        return False

    async def claim(self, now: datetime, lease_until: datetime, limit: int) -> list[Delivery]:
        expired = await self._in_flight.find({"lease_until": {"$lte": now}}).to_list()
        if expired:  # their process died (or outlived its lease): the deliveries are up for grabs again
            await self._in_flight.delete_many(
                {"_id": {"$in": [e["_id"] for e in expired]}, "lease_until": {"$lte": now}}
            )
        ambiguous = {e["_id"] for e in expired}
        due = await self._outbox.find({"due_at": {"$lte": now}}).sort("due_at", 1).limit(2 * limit).to_list()
        logged = [doc for d in due if d["_id"] in ambiguous and (doc := await self._logged(d["_id"]))]
        finished = [doc["_id"] for doc in logged]
        if finished:  # the provider took it before the process died: nothing to send, its outcome to report
            await _insert_new(self._unreported, [_report_of_logged(doc) for doc in logged])
            await delete_by_ids(self._outbox, finished)
        due = [d for d in due if d["_id"] not in finished][:limit]
        token = uuid.uuid4().hex
        ours = await _insert_new(
            self._in_flight, [{"_id": d["_id"], "lease_until": lease_until, "claim": token} for d in due]
        )
        return [delivery_of(d, d["_id"] in ambiguous) for d in due if d["_id"] in ours]

    async def claim_these(self, deliveries: Sequence[Delivery], lease_until: datetime) -> list[Delivery]:
        token = uuid.uuid4().hex
        ours = await _insert_new(
            self._in_flight, [{"_id": d.key, "lease_until": lease_until, "claim": token} for d in deliveries]
        )
        return [d for d in deliveries if d.key in ours]

    async def record_sent(self, outcome: Outcome) -> None:
        """Back once the outcome is in the log. Sends finishing while a log write is under way are written
        together by the next one (group commit): one insert for many, and no wait added to the first."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sent_queue.append((_final_doc(outcome), done))
        if self._sent_writer is None or self._sent_writer.done():
            self._sent_writer = asyncio.create_task(self._write_sent())
        await done

    async def _write_sent(self) -> None:
        while self._sent_queue:
            batch, self._sent_queue = self._sent_queue, []
            try:
                await _insert_new(self._log, [doc for doc, _ in batch])
            except Exception as exc:
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
            else:
                self._logged_by_record_sent.update(doc["_id"] for doc, _ in batch)
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)

    async def _logged(self, key: str) -> Document | None:
        return await self._log.find_one({"_id": key})

    async def record(self, outcomes: Sequence[Outcome]) -> None:
        final = [o for o in outcomes if o.status in FINAL]
        waiting = [_outcome_update(o) for o in outcomes if o.status not in FINAL]
        if final:
            logged = self._logged_by_record_sent
            await _insert_new(self._log, [_final_doc(o) for o in final if o.delivery.key not in logged])
            logged.difference_update(o.delivery.key for o in final)
            await _insert_new(self._unreported, [_report_doc(o) for o in final if o.published])
            self._count_sent(final)
            await delete_by_ids(self._outbox, [o.delivery.key for o in final])
        # small bulk writes: FerretDB (SQLite) was seen to hang on a bulk update of 100 documents
        for start in range(0, len(waiting), BULK_CHUNK):
            await self._outbox.bulk_write(waiting[start : start + BULK_CHUNK], ordered=True)
        await delete_by_ids(self._in_flight, [o.delivery.key for o in outcomes])
        # 'deferred' news, keyed apart from the final outcome of the same delivery
        await _insert_new(
            self._unreported, [_report_doc(o) for o in outcomes if o.status not in FINAL and o.published]
        )

    def _count_sent(self, final: Sequence[Outcome]) -> None:
        for o in final:
            if o.sent_day and o.sent_day in self._sent_counts:
                counts = self._sent_counts[o.sent_day]
                counts[o.delivery.recipient_id] = counts.get(o.delivery.recipient_id, 0) + 1

    async def unreported(self, limit: int = 500) -> list[Outcome]:
        docs = await self._unreported.find().limit(limit).to_list()
        return [
            Outcome(
                delivery_of(d["delivery"]),
                Status(d["delivery"]["status"]),
                d["published"],
                d.get("reason"),
                d.get("attempts", 0),
                provider_message_id=d.get("provider_message_id"),
                report_id=d["_id"],
            )
            for d in docs
        ]

    async def mark_reported(self, keys: Sequence[str]) -> None:
        await delete_by_ids(self._unreported, keys)

    async def sent_on(self, recipient_ids: Sequence[str], day: str) -> dict[str, int]:
        """Counted in memory: loaded once per day from the log (one scan), then kept up by record()."""
        if day not in self._sent_counts:
            counts: dict[str, int] = {}
            async for doc in self._log.find({"sent_day": day}, {"recipient_id": 1}):
                counts[doc["recipient_id"]] = counts.get(doc["recipient_id"], 0) + 1
            self._sent_counts = {day: counts}
        counts = self._sent_counts[day]
        return {r: counts[r] for r in recipient_ids if r in counts}

    async def wake(self, recipient_id: str, now: datetime) -> int:
        result = await self._outbox.update_many(
            {
                "recipient_id": recipient_id,
                "status": Status.PENDING.value,
                "due_at": {"$gt": now},
                "deferred_reason": "waiting for the contact",
            },
            {"$set": {"due_at": now}},
        )
        return result.modified_count

    async def erase_recipient(self, recipient_id: str) -> int:
        erased = 0
        for col in (self._outbox, self._log, self._keys):
            erased += (await col.delete_many({"recipient_id": recipient_id})).deleted_count
        await self._unreported.delete_many({"delivery.recipient_id": recipient_id})
        return erased

    async def list(
        self, *, recipient_id: str | None, journey_id: str | None, limit: int
    ) -> list[dict[str, Any]]:
        query = {k: v for k, v in {"recipient_id": recipient_id, "journey_id": journey_id}.items() if v}
        docs = []
        for col in (self._outbox, self._log):
            docs += (
                await col.find(query, {"event.fields": 0, "claim": 0})
                .sort("created_at", -1)
                .limit(limit)
                .to_list()
            )
        return sorted(docs, key=lambda d: d["created_at"], reverse=True)[:limit]


async def _insert_new(col: Any, docs: list[Document]) -> set[str]:
    """Insert what is not there yet (by _id); the ids inserted now back."""
    if not docs:
        return set()
    try:
        await col.insert_many(docs, ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(e.get("code") != DUPLICATE_KEY for e in errors):
            raise
        known = {docs[e["index"]]["_id"] for e in errors}
        return {d["_id"] for d in docs if d["_id"] not in known}
    return {d["_id"] for d in docs}


def _final_doc(o: Outcome) -> Document:
    doc = delivery_doc(o.delivery)
    doc.update(
        status=o.status.value,
        reason=o.reason,
        attempts=o.attempts,
        parts_sent=o.parts_sent,
        provider_message_id=o.provider_message_id,
        sent_day=o.sent_day,
    )
    return doc


def _report_doc(o: Outcome) -> Document:
    delivery = delivery_doc(o.delivery)
    delivery["status"] = o.status.value
    return {
        "_id": o.report_key,
        "delivery": delivery,
        "published": o.published,
        "reason": o.reason,
        "attempts": o.attempts,
        "provider_message_id": o.provider_message_id,
    }


def _report_of_logged(doc: Document) -> Document:
    return {
        "_id": doc["_id"],
        "delivery": doc,
        "published": doc["status"],
        "reason": doc.get("reason"),
        "attempts": doc.get("attempts", 0),
        "provider_message_id": doc.get("provider_message_id"),
    }


def _outcome_update(o: Outcome) -> UpdateOne:
    fields: Document = {
        "status": o.status.value,
        "reason": o.reason,
        "attempts": o.attempts,
        "parts_sent": o.parts_sent,
        "provider_message_id": o.provider_message_id,
        "due_at": o.due_at,
        "deferred_reason": o.reason,
    }
    return UpdateOne({"_id": o.delivery.key}, {"$set": fields})


class MongoContactStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._col = db[CONTACTS]

    async def get_many(self, person_ids: Sequence[str]) -> dict[str, Contact]:
        return {i: _contact(d) for i, d in (await find_by_ids(self._col, person_ids)).items()}

    async def upsert(self, contact: Contact, as_of: datetime) -> None:
        fields = {
            "role": contact.role,
            "display_name": contact.display_name,
            "email": contact.email,
            "phone": contact.phone,
            "phone_normalised": normalise_phone(contact.phone) if contact.phone else None,
            "consent_email": contact.consent_email,
            "consent_sms": contact.consent_sms,
            "as_of": as_of,
            "known": True,
        }
        newer = {"$or": [{"as_of": {"$exists": False}}, {"as_of": {"$lte": as_of}}]}
        with contextlib.suppress(DuplicateKeyError):  # a newer version is stored already: this one is stale
            await self._col.update_one({"_id": contact.person_id, **newer}, {"$set": fields}, upsert=True)

    async def erase(self, person_id: str) -> None:
        await self._col.delete_one({"_id": person_id})

    async def opt_out(self, person_id: str, channel: Channel) -> None:
        await self._col.update_one(
            {"_id": person_id}, {"$set": {f"opted_out_{channel.value}": True}}, upsert=True
        )

    async def opt_out_phone(self, phone: str) -> list[str]:
        docs = await self._col.find({"phone_normalised": phone}, {"_id": 1}).to_list()
        ids = [d["_id"] for d in docs]
        if ids:
            await self._col.update_many({"_id": {"$in": ids}}, {"$set": {"opted_out_sms": True}})
        return ids


def _contact(d: Document) -> Contact:
    return Contact(
        person_id=d["_id"],
        role=d.get("role", ""),
        display_name=d.get("display_name"),
        email=d.get("email"),
        phone=d.get("phone"),
        consent_email=bool(d.get("consent_email")),
        consent_sms=bool(d.get("consent_sms")),
        opted_out_email=bool(d.get("opted_out_email")),
        opted_out_sms=bool(d.get("opted_out_sms")),
        known=bool(d.get("known")),
    )
