"""Deliveries and contacts in MongoDB (FerretDB-compatible: no transactions, batch operations only)."""

from __future__ import annotations

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
from tdu_shared.mongo import Document, IndexSpec, asc

DELIVERIES = "deliveries"
CONTACTS = "contacts"

INDEXES = [
    IndexSpec(DELIVERIES, asc("status", "due_at")),
    IndexSpec(DELIVERIES, asc("recipient_id", "sent_day")),
    IndexSpec(DELIVERIES, asc("claim")),
    IndexSpec(DELIVERIES, asc("journey_id")),
    IndexSpec(DELIVERIES, asc("unreported")),
    IndexSpec(CONTACTS, asc("phone_normalised")),
]
"""The delivery key is the document ``_id``: the unique index that makes a replayed event a no-op."""

DUPLICATE_KEY = 11000
BULK_CHUNK = 8


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


def _due(now: datetime) -> Document:
    return {
        "$or": [
            {"status": Status.PENDING.value, "due_at": {"$lte": now}},
            {"status": Status.SENDING.value, "lease_until": {"$lte": now}},
        ]
    }


class MongoDeliveryStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._col = db[DELIVERIES]

    async def add(self, deliveries: Sequence[Delivery]) -> list[str]:
        try:
            await self._col.insert_many([delivery_doc(d) for d in deliveries], ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != DUPLICATE_KEY for e in errors):
                raise
            known = {deliveries[e["index"]].key for e in errors}
            return [d.key for d in deliveries if d.key not in known]
        return [d.key for d in deliveries]

    async def claim(self, now: datetime, lease_until: datetime, limit: int) -> list[Delivery]:
        due = await self._col.find(_due(now), {"status": 1}).sort("due_at", 1).limit(limit).to_list()
        if not due:
            return []
        in_flight = {d["_id"] for d in due if d["status"] == Status.SENDING.value}
        token = uuid.uuid4().hex
        await self._col.update_many(
            {"_id": {"$in": [d["_id"] for d in due]}, **_due(now)},
            {"$set": {"status": Status.SENDING.value, "claim": token, "lease_until": lease_until}},
        )
        claimed = await self._col.find({"claim": token}).to_list()
        return [delivery_of(d, d["_id"] in in_flight) for d in sorted(claimed, key=lambda d: d["due_at"])]

    async def record(self, outcomes: Sequence[Outcome]) -> None:
        updates = [_outcome_update(o) for o in outcomes]
        # small bulk writes: FerretDB (SQLite) was seen to hang on a bulk update of 100 documents
        for start in range(0, len(updates), BULK_CHUNK):
            await self._col.bulk_write(updates[start : start + BULK_CHUNK], ordered=True)

    async def unreported(self, limit: int = 500) -> list[Outcome]:
        docs = await self._col.find({"unreported": True}).limit(limit).to_list()
        return [
            Outcome(
                delivery_of(d),
                Status(d["status"]),
                d["reported_status"],
                d.get("reason"),
                d.get("attempts", 0),
                provider_message_id=d.get("provider_message_id"),
                parts_sent=d.get("parts_sent", 0),
            )
            for d in docs
        ]

    async def mark_reported(self, keys: Sequence[str]) -> None:
        if keys:
            await self._col.update_many({"_id": {"$in": list(keys)}}, {"$set": {"unreported": False}})

    async def sent_on(self, recipient_ids: Sequence[str], day: str) -> dict[str, int]:
        pipeline: list[Document] = [
            {"$match": {"recipient_id": {"$in": list(recipient_ids)}, "sent_day": day}},
            {"$group": {"_id": "$recipient_id", "n": {"$sum": 1}}},
        ]
        return {row["_id"]: row["n"] async for row in await self._col.aggregate(pipeline)}

    async def wake(self, recipient_id: str, now: datetime) -> int:
        result = await self._col.update_many(
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
        return (await self._col.delete_many({"recipient_id": recipient_id})).deleted_count

    async def list(
        self, *, recipient_id: str | None, journey_id: str | None, limit: int
    ) -> list[dict[str, Any]]:
        query = {k: v for k, v in {"recipient_id": recipient_id, "journey_id": journey_id}.items() if v}
        cursor = self._col.find(query, {"event.fields": 0, "claim": 0}).sort("created_at", -1).limit(limit)
        return await cursor.to_list()

    async def count_by_status(self) -> dict[str, int]:
        pipeline: list[Document] = [{"$group": {"_id": "$status", "n": {"$sum": 1}}}]
        return {row["_id"]: row["n"] async for row in await self._col.aggregate(pipeline)}


def _outcome_update(o: Outcome) -> UpdateOne:
    fields: Document = {
        "status": o.status.value,
        "reason": o.reason,
        "attempts": o.attempts,
        "parts_sent": o.parts_sent,
        "provider_message_id": o.provider_message_id,
    }
    if o.status is Status.PENDING:
        fields["due_at"] = o.due_at
        fields["deferred_reason"] = o.reason
    if o.sent_day:
        fields["sent_day"] = o.sent_day
    if o.published:
        fields["unreported"] = True
        fields["reported_status"] = o.published
    return UpdateOne({"_id": o.delivery.key}, {"$set": fields, "$unset": {"claim": "", "lease_until": ""}})


class MongoContactStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._col = db[CONTACTS]

    async def get_many(self, person_ids: Sequence[str]) -> dict[str, Contact]:
        docs = await self._col.find({"_id": {"$in": list(person_ids)}}).to_list()
        return {d["_id"]: _contact(d) for d in docs}

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
