"""Deliveries and contacts in MongoDB (FerretDB-compatible: no transactions, batch operations only).

Every query the delivery path sends filters on one ``_id`` (the only filter the local store, FerretDB 1.24
on SQLite, answers from an index), except the search for due deliveries, which reads ``due``: a collection
of small documents that holds one entry per delivery not final yet and shrinks as they go.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from notifications.domain.model import Audience, Channel, Contact, Delivery, JourneyFacts, Status
from notifications.domain.policy import WAITING_FOR_CONTACT, normalise_phone
from notifications.ports import Outcome, SignIn
from tdu_shared.mongo import (
    DUPLICATE_KEY,
    Document,
    IndexSpec,
    asc,
    bulk_write,
    delete_by_ids,
    find_by_ids,
    insert_new,
    update_by_ids,
)

DELIVERY_KEYS = "delivery_keys"
OUTBOX = "outbox"
DUE = "due"
IN_FLIGHT = "in_flight"
DELIVERIES = "deliveries"
UNREPORTED = "unreported"
DAILY_COUNTS = "daily_counts"
WAITING = "waiting"
CONTACTS = "contacts"
SIGN_INS = "sign_ins"
SIGN_INS_USED = "sign_ins_used"

INDEXES = [
    IndexSpec(OUTBOX, asc("recipient_id")),
    IndexSpec(DELIVERIES, asc("recipient_id", "sent_day")),
    IndexSpec(DELIVERIES, asc("journey_id")),
    IndexSpec(DELIVERY_KEYS, asc("recipient_id")),
    IndexSpec(DAILY_COUNTS, asc("recipient_id")),
    IndexSpec(CONTACTS, asc("phone_normalised")),
    IndexSpec(CONTACTS, asc("email_normalised")),
    IndexSpec(SIGN_INS, asc("person_id")),
    IndexSpec(SIGN_INS, asc("email_normalised")),
]
"""For MongoDB, the indexes of what the delivery path never asks (erasure, the deliveries list, inbound
STOP): the delivery path reads and writes by ``_id`` only. A delivery key is the ``_id`` in
``delivery_keys``: the unique index that makes a replay a no-op."""

PARALLEL = 4
"""Delete commands under way at once (each at most ``BULK_CHUNK`` statements)."""
FINAL = (Status.SENT, Status.FAILED, Status.SKIPPED)
HINT_GRACE = timedelta(minutes=5)
"""A ``due`` entry no outbox entry points to is dropped once it is this old: younger, it may be one a
reschedule under way has written and is about to point to."""


def due_id(due_at: datetime, key: str) -> str:
    """``_id`` of a delivery's entry in ``due``: its due time (UTC, to the millisecond, fixed width: the
    string order is the time order), then its key."""
    at = due_at.astimezone(UTC)
    return f"{at:%Y-%m-%dT%H:%M:%S}.{at.microsecond // 1000:03d}Z|{key}"


def due_until(now: datetime) -> str:
    """Upper bound of the ``_id`` of every entry due at ``now``."""
    return due_id(now, "~")


def daily_count_id(recipient_id: str, day: str) -> str:
    return f"{recipient_id}|{day}"


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
        **({"traceparent": f.traceparent} if f.traceparent else {}),
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
    """Deliveries in collections the delivery path reads and writes by ``_id`` only:

    - ``delivery_keys``: insert-only, one document per key ever planned (the no-double-send guard);
    - ``outbox``: one document per delivery not final yet (pending, deferred, being sent), deleted when
      it is; ``due_id`` names its entry in ``due``;
    - ``due``: ``{_id: "<due time>|<key>"}`` for each outbox entry: what the search for due deliveries
      reads (a range on ``_id``; on the local store a read of this small collection, never of the log);
    - ``in_flight``: the lease of a delivery being sent (``_id`` = key), inserted BEFORE the provider
      call; a claim is that insert (unique ``_id``: one instance wins). A lease found run out when its
      delivery is due again is taken over through a marker ``<key>#<claim>`` (unique: one taker);
    - ``deliveries``: insert-only log of final outcomes (sent, failed, skipped);
    - ``unreported``: outcomes not yet published on ``notifications.deliveries``;
    - ``daily_counts``: messages sent per person and day (``_id`` = ``<person>|<day>``, ``$inc``);
    - ``waiting``: per person (``_id``), the keys of deliveries waiting for that person's contact.
    """

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._keys = db[DELIVERY_KEYS]
        self._outbox = db[OUTBOX]
        self._due = db[DUE]
        self._in_flight = db[IN_FLIGHT]
        self._log = db[DELIVERIES]
        self._unreported = db[UNREPORTED]
        self._daily = db[DAILY_COUNTS]
        self._waiting = db[WAITING]
        self._sent_queue: list[tuple[Document, asyncio.Future[None]]] = []
        self._logged_by_record_sent: set[str] = set()  # not to be written again by record()
        self._sent_writer: asyncio.Task[None] | None = None
        self._claimed: dict[str, tuple[str, str | None]] = {}  # key -> (its due entry, takeover marker)

    async def add(self, deliveries: Sequence[Delivery]) -> list[str]:
        keys = [{"_id": d.key, "recipient_id": d.recipient_id} for d in deliveries]
        new = await _insert_new(self._keys, keys)
        # a key known already is normally in the outbox or the log; in neither, the process died between
        # the two inserts and the delivery is planned again (rare: only a replay gets here)
        fresh = [d for d in deliveries if d.key in new or not await self._anywhere(d.key)]
        # the due entry first: an outbox entry always has the entry it names
        await _insert_new(self._due, [_due_doc(due_id(d.due_at, d.key), d.key) for d in fresh])
        docs = [{**delivery_doc(d), "due_id": due_id(d.due_at, d.key)} for d in fresh]
        await _insert_new(self._outbox, docs)
        return [d.key for d in fresh]

    async def _anywhere(self, key: str) -> bool:
        for col in (self._outbox, self._log):
            if await col.find_one({"_id": key}, {"_id": 1}) is not None:
                return True
        return False

    async def claim(self, now: datetime, lease_until: datetime, limit: int) -> list[Delivery]:
        entries = (
            await self._due.find({"_id": {"$lte": due_until(now)}}).sort("_id", 1).limit(2 * limit).to_list()
        )
        if not entries:
            return []
        outbox = await find_by_ids(self._outbox, [e["key"] for e in entries])
        due, dropped = [], []
        young = datetime.now(UTC) - HINT_GRACE
        for entry in entries:
            doc = outbox.get(entry["key"])
            if doc is not None and doc.get("due_id") == entry["_id"]:
                due.append(doc)
            elif entry.get("written_at", young) < young:  # its delivery is final, erased or moved
                dropped.append(entry["_id"])
        await _delete(self._due, dropped)
        due = list({d["_id"]: d for d in due}.values())[:limit]
        token = uuid.uuid4().hex
        leases = [_lease_doc(d["_id"], lease_until, token) for d in due]
        ours = await _insert_new(self._in_flight, leases)
        taken = await self._take_over_run_out(
            [d["_id"] for d in due if d["_id"] not in ours], now, lease_until
        )
        # read again: a delivery recorded (and its lease released) since the first read is not sent again
        current = await find_by_ids(self._outbox, [*ours, *taken])
        won = [d["_id"] for d in due if d["_id"] in ours or d["_id"] in taken]
        gone = [k for k in won if k not in current or current[k]["due_at"] > now]
        await _delete(self._in_flight, [*gone, *(taken[k] for k in gone if k in taken)])
        claimed = [delivery_of(current[k], k in taken) for k in won if k not in gone]
        for d in claimed:
            self._claimed[d.key] = (current[d.key]["due_id"], taken.get(d.key))
        return await self._without_logged(claimed)

    async def _take_over_run_out(
        self, keys: Sequence[str], now: datetime, lease_until: datetime
    ) -> dict[str, str]:
        """Take the deliveries whose lease ran out (their process died, or outlived its lease); for each
        one taken, the marker that made the taking exclusive."""
        leases = await find_by_ids(self._in_flight, keys)
        run_out = [lease for lease in leases.values() if lease["lease_until"] <= now]
        markers = {f"{lease['_id']}#{lease.get('claim')}": lease["_id"] for lease in run_out}
        won = await _insert_new(self._in_flight, [{"_id": m, "key": k} for m, k in markers.items()])
        if not won:
            return {}
        taken = {markers[m]: m for m in won}
        await _delete(self._in_flight, list(taken))
        token = uuid.uuid4().hex
        ours = await _insert_new(self._in_flight, [_lease_doc(k, lease_until, token) for k in taken])
        lost = [m for k, m in taken.items() if k not in ours]  # claimed afresh by another instance meanwhile
        await _delete(self._in_flight, lost)
        return {k: m for k, m in taken.items() if k in ours}

    async def _without_logged(self, claimed: list[Delivery]) -> list[Delivery]:
        """Deliveries taken back from a dead process that are in the log already: the provider took them
        before it died. Nothing to send: their outcome is reported."""
        ambiguous = [d.key for d in claimed if d.was_in_flight]
        if not ambiguous:
            return claimed
        logged = await find_by_ids(self._log, ambiguous)
        if logged:
            await _insert_new(self._unreported, [_report_of_logged(doc) for doc in logged.values()])
            await self._count_sent(
                Counter(
                    (doc["recipient_id"], doc["sent_day"]) for doc in logged.values() if doc.get("sent_day")
                )
            )
            await self._forget(list(logged), final=True)
        return [d for d in claimed if d.key not in logged]

    async def claim_these(self, deliveries: Sequence[Delivery], lease_until: datetime) -> list[Delivery]:
        """Claim deliveries this instance has just stored. Another instance's dispatcher may have found them
        due, sent and released them meanwhile: after the lease, the outbox is read again (an entry still
        there under the same due entry is not final, as a release deletes the entry before the lease)."""
        token = uuid.uuid4().hex
        ours = await _insert_new(self._in_flight, [_lease_doc(d.key, lease_until, token) for d in deliveries])
        current = await find_by_ids(self._outbox, list(ours))
        still = {
            d.key
            for d in deliveries
            if d.key in current and current[d.key].get("due_id") == due_id(d.due_at, d.key)
        }
        await _delete(self._in_flight, [k for k in ours if k not in still])
        claimed = [d for d in deliveries if d.key in still]
        for d in claimed:
            self._claimed[d.key] = (due_id(d.due_at, d.key), None)
        return claimed

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

    async def record(self, outcomes: Sequence[Outcome]) -> None:
        final = [o for o in outcomes if o.status in FINAL]
        waiting = [o for o in outcomes if o.status not in FINAL]
        if final:
            logged = self._logged_by_record_sent
            await _insert_new(self._log, [_final_doc(o) for o in final if o.delivery.key not in logged])
            logged.difference_update(o.delivery.key for o in final)
            await asyncio.gather(
                _insert_new(self._unreported, [_report_doc(o) for o in final if o.published]),
                self._count_sent(Counter((o.delivery.recipient_id, o.sent_day) for o in final if o.sent_day)),
            )
            await self._forget([o.delivery.key for o in final], final=True)
        if waiting:
            await self._reschedule(waiting)
        # 'deferred' news, keyed apart from the final outcome of the same delivery
        await _insert_new(self._unreported, [_report_doc(o) for o in waiting if o.published])

    async def _reschedule(self, outcomes: Sequence[Outcome]) -> None:
        """Pending again (a retry, a deferral): a new due entry, then the outbox entry names it, then the
        old entry goes (a crash in between leaves an extra entry, dropped when found, never none)."""
        now = datetime.now(UTC)
        entries = {o.delivery.key: due_id(o.due_at or now, o.delivery.key) for o in outcomes}
        await _insert_new(self._due, [_due_doc(e, k) for k, e in entries.items()])
        await bulk_write(self._outbox, [_outcome_update(o, entries[o.delivery.key]) for o in outcomes])
        waiting = [o for o in outcomes if o.reason == WAITING_FOR_CONTACT]
        by_person: dict[str, list[str]] = {}
        for o in waiting:
            by_person.setdefault(o.delivery.recipient_id, []).append(o.delivery.key)
        await bulk_write(
            self._waiting,
            [
                UpdateOne({"_id": person}, {"$addToSet": {"keys": {"$each": keys}}}, upsert=True)
                for person, keys in by_person.items()
            ],
        )
        await self._forget([o.delivery.key for o in outcomes], final=False, keep=set(entries.values()))

    async def _forget(self, keys: Sequence[str], *, final: bool, keep: Iterable[str] = ()) -> None:
        """Release these claimed deliveries: their outbox entry (when final), the due entry they were
        claimed under, their lease and takeover marker."""
        if final:  # first: a lease gone with the outbox entry still there would let it be claimed again
            await _delete(self._outbox, keys)
        claims = [self._claimed.pop(k, (None, None)) for k in keys]
        kept = set(keep)
        await asyncio.gather(
            _delete(self._due, [entry for entry, _ in claims if entry and entry not in kept]),
            _delete(self._in_flight, [*keys, *(marker for _, marker in claims if marker)]),
        )

    async def _count_sent(self, counts: Mapping[tuple[str, str], int]) -> None:
        await bulk_write(
            self._daily,
            [
                UpdateOne(
                    {"_id": daily_count_id(person, day)},
                    {"$inc": {"sent": n}, "$setOnInsert": {"recipient_id": person, "day": day}},
                    upsert=True,
                )
                for (person, day), n in counts.items()
            ],
        )

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
        await _delete(self._unreported, keys)

    async def sent_on(self, recipient_ids: Sequence[str], day: str) -> dict[str, int]:
        """One counter document per person and day, read by ``_id``."""
        ids = {daily_count_id(r, day): r for r in recipient_ids}
        found = await find_by_ids(self._daily, ids, {"sent": 1})
        return {ids[i]: int(doc.get("sent", 0)) for i, doc in found.items() if doc.get("sent", 0) > 0}

    async def wake(self, recipient_id: str, now: datetime) -> int:
        return await self.wake_many([recipient_id], now)

    async def wake_many(self, recipient_ids: Sequence[str], now: datetime) -> int:
        """The deliveries waiting for these people's contacts become due now: a new due entry each, which
        the outbox entry then names (the old one goes). A delivery noted as waiting while this runs may be
        missed: it goes at its own due time (``CONTACT_RETRY_S``), not lost."""
        waiting = await find_by_ids(self._waiting, recipient_ids)
        if not waiting:
            return 0
        await _delete(self._waiting, list(waiting))
        docs = await find_by_ids(self._outbox, [k for w in waiting.values() for k in w.get("keys", [])])
        woken = [
            d
            for d in docs.values()
            if d["status"] == Status.PENDING.value
            and d.get("deferred_reason") == WAITING_FOR_CONTACT
            and d["due_at"] > now
        ]
        if not woken:
            return 0
        entries = {d["_id"]: due_id(now, d["_id"]) for d in woken}
        await _insert_new(self._due, [_due_doc(e, k) for k, e in entries.items()])
        await bulk_write(
            self._outbox,
            [UpdateOne({"_id": k}, {"$set": {"due_at": now, "due_id": e}}) for k, e in entries.items()],
        )
        await _delete(self._due, [d["due_id"] for d in woken if d.get("due_id")])
        return len(woken)

    async def erase_recipient(self, recipient_id: str) -> int:
        """Off the delivery path (an erasure request): these filters read whole collections."""
        erased = 0
        for col in (self._outbox, self._log, self._keys):
            erased += (await col.delete_many({"recipient_id": recipient_id})).deleted_count
        await self._unreported.delete_many({"delivery.recipient_id": recipient_id})
        await self._daily.delete_many({"recipient_id": recipient_id})
        await self._waiting.delete_one({"_id": recipient_id})
        return erased

    async def list(
        self, *, recipient_id: str | None, journey_id: str | None, limit: int
    ) -> list[dict[str, Any]]:
        """Off the delivery path (an operator's question): these filters read whole collections."""
        query = {k: v for k, v in {"recipient_id": recipient_id, "journey_id": journey_id}.items() if v}
        docs = []
        for col in (self._outbox, self._log):
            docs += (
                await col.find(query, {"event.fields": 0, "due_id": 0})
                .sort("created_at", -1)
                .limit(limit)
                .to_list()
            )
        return sorted(docs, key=lambda d: d["created_at"], reverse=True)[:limit]


async def _delete(col: AsyncCollection[Document], ids: Iterable[str]) -> None:
    """Delete these ids, one statement each; several delete commands under way at once."""
    await delete_by_ids(col, ids, parallel=PARALLEL)


async def _insert_new(col: AsyncCollection[Document], docs: list[Document]) -> set[str]:
    """Insert what is not there yet (by _id); the ids inserted now back."""
    stored = await insert_new(col, docs)
    return {d["_id"] for d in docs if d["_id"] not in stored}


def _due_doc(entry: str, key: str) -> Document:
    return {"_id": entry, "key": key, "written_at": datetime.now(UTC)}


def _lease_doc(key: str, lease_until: datetime, token: str) -> Document:
    return {"_id": key, "lease_until": lease_until, "claim": token}


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


def _outcome_update(o: Outcome, entry: str) -> UpdateOne:
    fields: Document = {
        "due_id": entry,
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
        self._sign_ins = db[SIGN_INS]

    async def get_many(self, person_ids: Sequence[str]) -> dict[str, Contact]:
        found = await find_by_ids(self._col, person_ids)
        return {i: _contact(d) for i, d in found.items() if not _erased(d)}

    async def by_email(self, address: str) -> list[Contact]:
        return [_contact(d) async for d in self._col.find({"email_normalised": address.strip().lower()})]

    async def upsert(self, contact: Contact, as_of: datetime) -> None:
        await self.upsert_many([(contact, as_of)])

    async def upsert_many(self, contacts: Sequence[tuple[Contact, datetime]]) -> None:
        """Read, then written, by ``_id`` alone (a condition beside the ``_id`` would read the whole
        collection on the local store): a version older than the stored one is left out. The contacts
        topic is keyed by person, so one consumer writes a given person at a time."""
        newest: dict[str, tuple[Contact, datetime]] = {}
        for contact, as_of in contacts:
            if contact.person_id not in newest or newest[contact.person_id][1] <= as_of:
                newest[contact.person_id] = (contact, as_of)
        stored = await find_by_ids(self._col, newest, {"as_of": 1, "erased_at": 1})
        updates = [
            UpdateOne({"_id": person_id}, {"$set": _contact_fields(contact, as_of)}, upsert=True)
            for person_id, (contact, as_of) in newest.items()
            if _newer(stored.get(person_id) or {}, as_of)
        ]
        try:
            await bulk_write(self._col, updates)
        except BulkWriteError as exc:  # a person inserted meanwhile by another instance: once more
            if any(e.get("code") != DUPLICATE_KEY for e in exc.details.get("writeErrors", [])):
                raise
            await bulk_write(self._col, updates)

    async def erase(self, person_id: str, erased_at: datetime) -> None:
        """The contact and the sign-in links sent to them. What stays is the person's id and when they were
        erased, nothing personal: an update dated before it, delivered late (an instance that was paused
        with it, a relay that published it after the erasure), is then left out."""
        await self._col.replace_one({"_id": person_id}, {"erased_at": erased_at}, upsert=True)
        await self._sign_ins.delete_many({"person_id": person_id})

    async def opt_out(self, person_id: str, channel: Channel) -> None:
        await self._col.update_one(
            {"_id": person_id}, {"$set": {f"opted_out_{channel.value}": True}}, upsert=True
        )

    async def opt_out_phone(self, phone: str) -> list[str]:
        docs = await self._col.find({"phone_normalised": phone}, {"_id": 1}).to_list()
        ids = [d["_id"] for d in docs]
        if ids:
            await update_by_ids(self._col, ids, {"$set": {"opted_out_sms": True}})
        return ids


def _erased(d: Document) -> bool:
    """An erasure marker, no contact since."""
    return "erased_at" in d and not d.get("known")


def _newer(stored: Document, as_of: datetime) -> bool:
    """Whether a contact update of ``as_of`` follows the stored version and the person's erasure, if any."""
    return all(stored.get(f) is None or stored[f] <= as_of for f in ("as_of", "erased_at"))


def _contact_fields(contact: Contact, as_of: datetime) -> Document:
    return {
        "role": contact.role,
        "display_name": contact.display_name,
        "email": contact.email,
        "phone": contact.phone,
        "phone_normalised": normalise_phone(contact.phone) if contact.phone else None,
        "email_normalised": contact.email.strip().lower() if contact.email else None,
        "consent_email": contact.consent_email,
        "consent_sms": contact.consent_sms,
        "as_of": as_of,
        "known": True,
    }


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


class MongoSignInStore:
    """Sign-in links by their token's digest; a link is used once: the first insert of its digest in
    ``sign_ins_used`` wins (a unique ``_id``), so two exchanges of one link never both succeed."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._col = db[SIGN_INS]
        self._used = db[SIGN_INS_USED]

    async def add(self, link: SignIn) -> None:
        await self._col.insert_one(
            {
                "_id": link.token_sha256,
                "person_id": link.person_id,
                "role": link.role,
                "email": link.email,
                "email_normalised": link.email.strip().lower(),
                "expires_at": link.expires_at,
                "used": False,
            }
        )

    async def use(self, token_sha256: str, now: datetime) -> SignIn | None:
        doc = await self._col.find_one({"_id": token_sha256})
        if doc is None or _aware(doc["expires_at"]) <= now:
            return None
        try:
            await self._used.insert_one({"_id": token_sha256, "at": now})
        except DuplicateKeyError:
            return None
        await self._col.update_one({"_id": token_sha256}, {"$set": {"used": True}})
        return SignIn(doc["_id"], doc["person_id"], doc["role"], doc["email"], _aware(doc["expires_at"]))

    async def pending(self, person_id: str, now: datetime) -> int:
        docs = await self._col.find({"person_id": person_id}, {"expires_at": 1, "used": 1}).to_list()
        return sum(1 for d in docs if not d.get("used") and _aware(d["expires_at"]) > now)

    async def person_of(self, address: str, role: str) -> str | None:
        async for doc in self._col.find(
            {"email_normalised": address.strip().lower()}, {"role": 1, "person_id": 1}
        ):
            if doc.get("role") == role:
                return str(doc["person_id"])
        return None

    async def erase(self, person_id: str) -> int:
        return (await self._col.delete_many({"person_id": person_id})).deleted_count


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
