"""MongoDB (or FerretDB) stores: journeys with their outbox, timers, offers read model, contacts.

Every read and write on a request, the relay or the timer loop names documents by ``_id`` alone: the
development store (FerretDB 1.24 on SQLite) uses an index only for that and scans the whole collection
for any other filter (see ``tdu_dev.testing.plans`` and the integration tests that check each plan).
What used to be a filter is kept in a small collection keyed by ``_id`` instead:

- a journey write is guarded by its revision with an insert-first fence: ``journey_revisions`` gets
  ``<journey>|<revision>|<generation>`` (an insert on a unique ``_id`` is atomic everywhere); whoever
  inserts it owns that revision and writes the journey by ``_id``. A fence whose writer died before
  writing is taken over after ``write_lease_s`` with the next generation. The relay changes a journey
  (removing what it published) under the same fence, then gives the fence back without taking the
  revision: nothing changes a journey document outside a fence, since FerretDB applies an update by
  reading the document and writing it back whole.
- journeys with events to publish are listed in ``outbox_pending`` (one small document per journey with
  unpublished events, removed once its events are out): the relay claims from there, never by scanning
  the journeys. A write lists the journey before writing it (a stop in between leaves only a harmless
  listing) and again, with a new version, once written: a relay that claimed the first listing and read
  the journey before the write landed cannot remove the second (it removes only the version it claimed),
  so the new events are never left unlisted.
- timers are listed by due hour in ``timer_due`` (``<YYYY-MM-DDTHH>`` = the timers due in that hour,
  removed once finished); ``timer_cursor`` (one document) holds the oldest hour that may still hold one.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import InsertOne, ReturnDocument, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from journeys.adapters.documents import (
    journey_from_doc,
    journey_to_doc,
    timer_from_doc,
    timer_to_doc,
)
from journeys.domain.model import Journey, SessionOption
from journeys.domain.timers import Timer
from journeys.ports import AuditEntry, Conflict, Contact, OfferView, Pending, StoredTimer, Write
from tdu_shared.contracts.journeys import ReminderKind, Role
from tdu_shared.mongo import DUPLICATE_KEY, Document, IndexSpec, asc, bulk_write, find_by_ids, insert_new
from tdu_shared.outbox import OutboxItem
from tdu_shared.topics import CONTACTS

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
AUDIT = "audit"
INDEXES: list[IndexSpec] = [IndexSpec(AUDIT, asc("basins", "at")), IndexSpec(AUDIT, asc("person_id", "at"))]
"""Secondary indexes: the audit log's only (operators query it by basin or person). Every query of the
write and read paths is by ``_id`` (MongoDB and FerretDB index it themselves)."""

RELAYED_AT_ONCE = 32
"""Journeys of one relay pass changed at once once their events are out (a few commands each)."""
WRITE_LEASE_S = 30.0
"""A revision fence whose writer has not written the journey after this long is taken over."""


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


def _now() -> datetime:
    return datetime.now(UTC)


class MongoJourneys:
    def __init__(self, db: AsyncDatabase[Document], write_lease_s: float = WRITE_LEASE_S) -> None:
        self._col = db["journeys"]
        self._fences = db["journey_revisions"]
        self._pending = db["outbox_pending"]
        self._sent = db["relayed_events"]
        self._erasures = db["erasures"]
        self._write_lease = timedelta(seconds=write_lease_s)
        self._claims: dict[str, str] = {}
        """Journey id -> the ``outbox_pending`` version this relay claimed (see ``relayed``)."""

    async def get(self, journey_id: str) -> Journey | None:
        doc = await self._col.find_one({"_id": journey_id})
        return journey_from_doc(doc) if doc else None

    async def get_many(self, journey_ids: Sequence[str]) -> dict[str, Journey]:
        """A page of journeys in one read (``_id: {$in}``)."""
        docs = await find_by_ids(self._col, journey_ids)
        return {i: journey_from_doc(d) for i, d in docs.items()}

    async def all(self, basin: str | None = None) -> list[Journey]:
        return [journey_from_doc(d) async for d in self._col.find({"basin": basin} if basin else {})]

    async def seen(self, journey_id: str, key: str) -> bool:
        doc = await self._col.find_one({"_id": journey_id}, {"keys": 1})
        return doc is not None and key in doc.get("keys", [])

    async def _mark_pending(self, journey_id: str) -> None:
        """Before a write that adds events: the relay will look at this journey (a new version each time)."""
        await self._pending.replace_one(
            {"_id": journey_id}, {"version": uuid.uuid4().hex, "lease": EPOCH, "at": _now()}, upsert=True
        )

    async def create(self, write: Write) -> bool:
        doc = journey_to_doc(write.journey)
        doc.update(
            revision=1,
            outbox=[i.to_doc() for i in write.outbox],
            pending_timers=[timer_to_doc(t) for t in write.timers],
            keys=[write.command_key] if write.command_key else [],
            has_pending=bool(write.outbox or write.timers),
            anonymised=False,
        )
        await self._mark_pending(write.journey.journey_id)
        try:
            await self._col.insert_one(doc)
        except DuplicateKeyError:
            return False
        if doc["has_pending"]:
            await self._mark_pending(write.journey.journey_id)
        write.journey.revision = 1
        return True

    async def _fence(self, journey_id: str, revision: int) -> str | None:
        """Take the right to write ``revision`` of this journey (insert-first; see the module docstring).

        Returns the fence taken, or None when someone else holds it or the revision is already written.
        """
        for generation in range(100):
            fence = f"{journey_id}|{revision}|{generation}"
            now = _now()
            try:
                await self._fences.insert_one({"_id": fence, "until": now + self._write_lease})
                return fence
            except DuplicateKeyError:
                held = await self._fences.find_one({"_id": fence})
                if held is None or _aware(held["until"]) >= now:
                    return None  # someone is writing this revision now
                current = await self._col.find_one({"_id": journey_id}, {"revision": 1})
                if current is None or current["revision"] >= revision:
                    return None  # it was written: our read is stale
                # its writer died between the fence and the write: try the next generation
        return None

    async def update(self, write: Write, expected_revision: int) -> bool:
        journey_id = write.journey.journey_id
        if await self._fence(journey_id, expected_revision + 1) is None:
            return False
        state = {k: v for k, v in journey_to_doc(write.journey).items() if k not in ("_id", "revision")}
        push: dict[str, Any] = {
            "outbox": {"$each": [i.to_doc() for i in write.outbox]},
            "pending_timers": {"$each": [timer_to_doc(t) for t in write.timers]},
        }
        keys = [k for k in (write.command_key, write.reminder_id) if k]
        if keys:
            push["keys"] = {"$each": keys}
        adds = bool(write.outbox or write.timers)
        if adds:
            await self._mark_pending(journey_id)
        fields = {**state, "revision": expected_revision + 1, **({"has_pending": True} if adds else {})}
        done = await self._col.update_one({"_id": journey_id}, {"$set": fields, "$push": push})
        if not done.matched_count:
            return False
        if adds:
            await self._mark_pending(journey_id)
        write.journey.revision = expected_revision + 1
        return True

    async def pending(self, limit: int, now: datetime, lease_s: float) -> list[Pending]:
        """Claim journeys listed in ``outbox_pending`` (a small collection: only unpublished work).

        A pass costs a few commands whatever its size: one read of the listings whose lease ran out, one
        write of their new lease, one read of their journeys, then the ledger (``_own``). The lease only
        spreads the work between relays (an update is not atomic with its filter on the local store):
        what keeps two relays from publishing one event is the ledger."""
        until = now + timedelta(seconds=lease_s)
        marks = [m async for m in self._pending.find({"lease": {"$lt": now}}).limit(limit)]
        if not marks:
            return []
        claims = [
            UpdateOne({"_id": m["_id"], "lease": m["lease"]}, {"$set": {"lease": until}}) for m in marks
        ]
        await bulk_write(self._pending, claims)
        docs = await find_by_ids(self._col, [m["_id"] for m in marks])
        for mark in marks:
            if mark["_id"] not in docs:
                await self._unlist_unstored(mark, now)
        outboxes = {d["_id"]: [OutboxItem.from_doc(i) for i in d.get("outbox", [])] for d in docs.values()}
        owned = await self._own(outboxes, now, until)
        claimed = []
        for mark in marks:
            doc = docs.get(mark["_id"])
            if doc is not None:
                self._claims[doc["_id"]] = mark["version"]
                timers = [timer_from_doc(t) for t in doc.get("pending_timers", [])]
                claimed.append(Pending(doc["_id"], doc["revision"], owned[doc["_id"]], timers))
        return claimed

    async def _unlist_unstored(self, mark: Document, now: datetime) -> None:
        """Listed for a journey not stored (yet): being created, or its creation failed after the mark.
        Dropped only once far older than any creation takes: a delete is not atomic with its filter on the
        local store, and could drop the listing a creator has just renewed."""
        listed_at = mark.get("at")
        if listed_at is not None and now - _aware(listed_at) > self._write_lease:
            await self._pending.delete_one({"_id": mark["_id"], "version": mark["version"]})

    async def _own(
        self, outboxes: Mapping[str, Sequence[OutboxItem]], now: datetime, until: datetime
    ) -> dict[str, list[OutboxItem]]:
        """The events this relay may publish, by journey: each is fenced by inserting its id in the ledger
        first (all in one command).

        The insert on the unique ``_id`` is atomic even where concurrent updates of one document are not
        (FerretDB), so two relays never publish one event. A "publishing" entry older than the lease
        (its relay crashed) is taken over; contact events of an erased person are dropped, never sent.
        """
        items = [(j, i) for j, outbox in outboxes.items() for i in outbox]
        contacts = [i.key for _, i in items if i.topic == CONTACTS.name]
        erased = set(await find_by_ids(self._erasures, contacts)) if contacts else set()
        wanted: dict[str, tuple[str, OutboxItem]] = {}
        for journey_id, item in items:
            if item.topic == CONTACTS.name and item.key in erased:
                await self._sent.replace_one({"_id": item.event_id}, {"status": "dropped"}, upsert=True)
            else:
                wanted.setdefault(item.event_id, (journey_id, item))
        entries = [
            {"_id": e, "journey_id": j, "status": "publishing", "until": until}
            for e, (j, _) in wanted.items()
        ]
        held = await insert_new(self._sent, entries)
        for entry in (await find_by_ids(self._sent, sorted(held))).values() if held else []:
            crashed = entry["status"] == "publishing" and _aware(entry["until"]) < now  # its relay crashed
            if crashed and await self._take_over(entry, {"until": until}):
                held.discard(entry["_id"])
        owned: dict[str, list[OutboxItem]] = {j: [] for j in outboxes}
        for event_id, (journey_id, item) in wanted.items():
            if event_id not in held:
                owned[journey_id].append(item)
        return owned

    async def _take_over(self, entry: Document, change: Document) -> bool:
        """Change a ``publishing`` ledger entry whose relay's lease ran out, unless another took it first
        (rare, so a filter beyond _id is acceptable here); True when this one did."""
        taken = await self._sent.update_one(
            {"_id": entry["_id"], "status": "publishing", "until": entry["until"]}, {"$set": change}
        )
        return bool(taken.modified_count)

    async def relayed(self, done: Sequence[Pending]) -> list[Journey]:
        """Remove what these claimed journeys published and armed; unlist those with nothing left. Returns
        the journeys as read here.

        The ledger marks, the journeys and what the ledger says of the rest of their outboxes take a few
        commands for the whole pass; then each journey is changed under the fence of its next revision,
        like a write, without taking that revision: FerretDB applies an update by reading the document and
        writing it back whole, so an unfenced change here could put back the state a concurrent write had
        just replaced (seen: a command's new state and key lost, its replay then refused for the fence's
        lease). While a write holds the fence the relay leaves the journey for its next pass; the events it
        published are already marked sent in the ledger, so they are not published again.
        """
        sent = {i.event_id for p in done for i in p.outbox}
        if sent:
            marks = [UpdateOne({"_id": e}, {"$set": {"status": "sent"}}) for e in sorted(sent)]
            await bulk_write(self._sent, marks)
        docs = await find_by_ids(self._col, [p.journey_id for p in done])
        others = {i["event_id"] for d in docs.values() for i in d.get("outbox", [])} - sent
        ledger = await find_by_ids(self._sent, sorted(others)) if others else {}
        out = sent | {e for e, d in ledger.items() if d.get("status") in ("sent", "dropped")}
        slots = asyncio.Semaphore(RELAYED_AT_ONCE)

        async def one(pending: Pending) -> None:
            async with slots:
                await self._take_out(pending, docs.get(pending.journey_id), out)

        await asyncio.gather(*(one(p) for p in done))
        return [journey_from_doc(d) for d in docs.values()]

    async def _take_out(self, pending: Pending, doc: Document | None, out: set[str]) -> None:
        """Remove from one journey the events ``out`` and the timers its relay armed, under its fence."""
        journey_id = pending.journey_id
        claim = self._claims.pop(journey_id, None)
        if doc is None:
            return
        armed = {t.timer_id for t in pending.timers}
        outbox, timers = doc.get("outbox", []), doc.get("pending_timers", [])
        gone = [i for i in outbox if i["event_id"] in out]
        fired = [t for t in timers if timer_from_doc(t).timer_id in armed]
        busy = len(gone) < len(outbox) or len(fired) < len(timers)
        change: dict[str, Any] = {}
        if gone or fired:
            change["$pullAll"] = {"outbox": gone, "pending_timers": fired}
        if not busy and doc.get("has_pending"):
            change["$set"] = {"has_pending": False}
        if change or (not busy and claim is not None):
            # Holding the fence of the next revision, the journey is still the one read above and no
            # write is listing it meanwhile.
            fence = await self._fence(journey_id, doc["revision"] + 1)
            if fence is None:  # a write is under way: it lists the journey again once written
                await self._pending.update_one({"_id": journey_id}, {"$set": {"lease": EPOCH}})
                return
            try:
                if change:
                    await self._col.update_one({"_id": journey_id}, change)
                if not busy and claim is not None:
                    await self._pending.delete_one({"_id": journey_id, "version": claim})
                    return
            finally:
                await self._fences.delete_one({"_id": fence})
        await self._pending.update_one({"_id": journey_id}, {"$set": {"lease": EPOCH}})

    async def relist_pending(self) -> int:
        count = 0
        async for doc in self._col.find({"has_pending": True}, {"_id": 1}):
            await self._mark_pending(doc["_id"])
            count += 1
        return count

    async def forget_person(self, person_id: str) -> int:
        """Erasure (rare, not a hot path): the person's journeys are found by a scan of the collection.

        Back only once none of the person's contact events can still reach Kafka: each is dropped, and one
        a relay is publishing at this moment is waited for. The tombstone published after is then the
        person's last record on ``contacts`` (seen without this wait: an application's ContactUpserted,
        relayed a moment after the erasure's tombstone, put the person back in notifications, and would
        be what compaction keeps)."""
        await self._erasures.replace_one({"_id": person_id}, {"erased": True}, upsert=True)
        count = 0
        async for doc in self._col.find({"seeker_id": person_id}, {"_id": 1}):
            for event_id in await self._strip_contact_events(doc["_id"], person_id):
                await self._drop_unpublished(event_id)
            count += 1
        return count

    async def _strip_contact_events(self, journey_id: str, person_id: str) -> list[str]:
        """Remove the person's contact events from the journey's outbox (under the fence of its next
        revision, waiting while a write holds it); their ids."""
        for attempt in range(200):
            doc = await self._col.find_one({"_id": journey_id})
            if doc is None:
                return []
            # A new revision: whoever read the journey before fails its fence and re-reads.
            if await self._fence(journey_id, doc["revision"] + 1) is None:
                await asyncio.sleep(min(0.5, 0.01 * 2**attempt))
                continue
            personal = [
                i for i in doc.get("outbox", []) if i["topic"] == CONTACTS.name and i["key"] == person_id
            ]
            await self._col.update_one(
                {"_id": journey_id},
                {
                    "$pullAll": {"outbox": personal},
                    "$set": {"anonymised": True, "revision": doc["revision"] + 1},
                },
            )
            return [i["event_id"] for i in personal]
        raise Conflict(f"parcours {journey_id} trop sollicité pour l'effacement, réessayez")

    async def _drop_unpublished(self, event_id: str) -> None:
        """Mark the event dropped in the relays' ledger; if a relay is publishing it, wait until it is sent
        or the relay's lease ran out (it crashed: then it is dropped)."""
        for attempt in range(200):
            try:
                await self._sent.insert_one({"_id": event_id, "status": "dropped"})
                return
            except DuplicateKeyError:
                entry = await self._sent.find_one({"_id": event_id})
            if entry is None or entry["status"] != "publishing":
                return  # sent (before the tombstone to come) or dropped already
            if _aware(entry["until"]) < datetime.now(UTC):
                await self._take_over(entry, {"status": "dropped"})
                continue
            await asyncio.sleep(min(0.5, 0.01 * 2**attempt))
        raise Conflict("un événement de contact est en cours de publication, réessayez l'effacement")


def _update(
    set: Mapping[str, Any] | None, unset: Sequence[str], inc: Mapping[str, int] | None = None
) -> dict[str, Any]:
    update: dict[str, Any] = {}
    if set:
        update["$set"] = dict(set)
    if unset:
        update["$unset"] = {path: "" for path in unset}
    if inc:
        update["$inc"] = dict(inc)
    return update


def _hour(moment: datetime) -> str:
    return _aware(moment).astimezone(UTC).strftime("%Y-%m-%dT%H")


CURSOR = "_cursor"


class MongoTimers:
    """Timers by ``_id`` in ``timers``; which are due is read from ``timer_due`` (by hour, see above)."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._col = db["timers"]
        self._due = db["timer_due"]
        self._cursor = db["timer_cursor"]
        self._claims = db["timer_claims"]

    async def arm(self, timers: Sequence[Timer]) -> None:
        if not timers:
            return
        first = min(_hour(t.due_at) for t in timers)
        # The cursor first goes back to the earliest hour armed, then the timers are listed there.
        await self._cursor.update_one({"_id": CURSOR}, {"$min": {"hour": first}}, upsert=True)
        await bulk_write(
            self._col,
            [
                UpdateOne(
                    {"_id": t.timer_id},
                    {"$setOnInsert": {**timer_to_doc(t), "status": "pending", "attempts": 0}},
                    upsert=True,
                )
                for t in timers
            ],
        )
        # One statement per hour listing all its new timers: the development store rewrites the whole
        # document at each statement, and a burst of applications lists thousands in one hour.
        by_hour: dict[str, dict[str, str]] = {}
        for t in timers:
            by_hour.setdefault(_hour(t.due_at), {})[_entry(t.timer_id)] = t.timer_id
        await bulk_write(
            self._due,
            [UpdateOne({"_id": hour}, {"$set": entries}, upsert=True) for hour, entries in by_hour.items()],
        )

    async def claim_due(self, now: datetime, lease_s: float) -> StoredTimer | None:
        """Walk the hours from the cursor to now; take the first due timer nobody holds."""
        cursor = await self._cursor.find_one({"_id": CURSOR})
        if cursor is None:
            return None
        seen, last = str(cursor["hour"]), _hour(now)
        hour = datetime.strptime(seen, "%Y-%m-%dT%H").replace(tzinfo=UTC)
        all_empty, advance_to = True, None
        while _hour(hour) <= last:
            bucket = await self._due.find_one({"_id": _hour(hour)})
            listed = sorted(((bucket or {}).get("t") or {}).items())
            for key, timer_id in listed:
                found = await self._claim(key, timer_id, _hour(hour), now, lease_s)
                if found is not None:
                    await self._advance(seen, advance_to)
                    return found
            all_empty = all_empty and not listed
            if all_empty and _hour(hour) < last:
                advance_to = _hour(hour + timedelta(hours=1))
            hour += timedelta(hours=1)
        await self._advance(seen, advance_to)
        return None

    async def _advance(self, seen: str, to: str | None) -> None:
        """Move the cursor past empty hours, unless a timer was armed earlier meanwhile (the filter beyond
        ``_id`` reads ``timer_cursor``, a collection of this one document)."""
        if to is not None and to > seen:
            await self._cursor.update_one({"_id": CURSOR, "hour": seen}, {"$set": {"hour": to}})

    async def _claim(
        self, key: str, timer_id: str, hour: str, now: datetime, lease_s: float
    ) -> StoredTimer | None:
        doc = await self._col.find_one({"_id": timer_id})
        if doc is None or doc["status"] != "pending":
            await self._due.update_one({"_id": hour}, {"$unset": {f"t.{key}": ""}})  # finished
            return None
        if _aware(doc["due_at"]) > now or not await self._fence(timer_id, now, lease_s):
            return None
        await self._col.update_one({"_id": timer_id}, {"$inc": {"attempts": 1}})
        return StoredTimer(
            doc["_id"], doc["journey_id"], ReminderKind(doc["kind"]), doc["due_at"], doc["marker"]
        )

    async def _fence(self, timer_id: str, now: datetime, lease_s: float) -> bool:
        """Insert-first ownership of a timer: atomic on a unique _id even where updates are not (FerretDB)."""
        until = now + timedelta(seconds=lease_s)
        try:
            await self._claims.insert_one({"_id": timer_id, "until": until})
            return True
        except DuplicateKeyError:
            held = await self._claims.find_one({"_id": timer_id})
            if held is None or _aware(held["until"]) >= now:
                return False
            # its claimer died before finishing: take it over (rare)
            taken = await self._claims.update_one(
                {"_id": timer_id, "until": held["until"]}, {"$set": {"until": until}}
            )
            return taken.modified_count > 0

    async def finish(self, timer_id: str, status: str, now: datetime) -> None:
        doc = await self._col.find_one_and_update(
            {"_id": timer_id}, {"$set": {"status": status, "finished_at": now}}
        )
        if doc is not None:
            await self._due.update_one({"_id": _hour(doc["due_at"])}, {"$unset": {_entry(timer_id): ""}})

    async def relist_pending(self) -> int:
        timers = [timer_from_doc(d) async for d in self._col.find({"status": "pending"})]
        for start in range(0, len(timers), 500):
            await self.arm(timers[start : start + 500])
        return len(timers)

    async def list_for(self, journey_id: str) -> list[dict[str, Any]]:
        return [d async for d in self._col.find({"journey_id": journey_id})]


def _entry(timer_id: str) -> str:
    """The path of a timer in its hour's document (ids hold ``.`` from ISO dates: escaped)."""
    return "t." + timer_id.replace("%", "%25").replace(".", "%2E").replace("$", "%24")


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
            doc.get("rome_code"),
            doc.get("contract_type"),
        )

    async def save(self, offer: OfferView) -> bool:
        return bool(await self.save_all([offer]))

    async def save_all(self, offers: Sequence[OfferView]) -> set[str]:
        """Read the stored evaluations by ``_id``, write the newer ones by ``_id`` in one bulk write.

        The newer-than test is made here rather than in the update's filter: a filter on ``_id`` and
        ``evaluated_at`` is one the development store answers by reading the whole collection. An
        offer's evaluations come in order from one partition, read by one consumer at a time.
        """
        newest: dict[str, OfferView] = {}
        for offer in offers:
            known = newest.get(offer.offer_id)
            if known is None or _aware(known.evaluated_at) < _aware(offer.evaluated_at):
                newest[offer.offer_id] = offer
        stored = await find_by_ids(self._col, newest, {"evaluated_at": 1, "rome_code": 1})
        fresh = [
            o
            for i, o in newest.items()
            if i not in stored
            or _aware(stored[i]["evaluated_at"]) < _aware(o.evaluated_at)
            or _fills_rome_code(stored[i], o)
        ]
        await bulk_write(
            self._col, [UpdateOne({"_id": o.offer_id}, {"$set": _offer_doc(o)}, upsert=True) for o in fresh]
        )
        return {o.offer_id for o in fresh}


def _fills_rome_code(stored: Document, offer: OfferView) -> bool:
    """The same evaluation again, with the ROME code a record stored before it was kept lacks (a replay
    of ``matching.eligibility`` after the upgrade fills it)."""
    same = _aware(stored["evaluated_at"]) == _aware(offer.evaluated_at)
    return same and not stored.get("rome_code") and bool(offer.rome_code)


def _offer_doc(offer: OfferView) -> Document:
    # The ROME code and contract are left as stored when this evaluation has none (a withdrawn offer).
    kept = {k: v for k, v in (("rome_code", offer.rome_code), ("contract_type", offer.contract_type)) if v}
    return {
        **kept,
        "eligible": offer.eligible,
        "evaluated_at": _aware(offer.evaluated_at),
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


class MongoAudit:
    """The audit log of operators' access to personal data: appended to, never changed."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._col = db[AUDIT]

    async def record(self, entry: AuditEntry) -> None:
        await self._col.insert_one(
            {
                "_id": entry.entry_id,
                "at": entry.at,
                "operator": entry.operator,
                "action": entry.action,
                "person_id": entry.person_id,
                "basins": list(entry.basins),
            }
        )

    async def entries(self, basin: str | None, person_id: str | None, limit: int) -> list[AuditEntry]:
        query: Document = {}
        if basin is not None:
            query["basins"] = basin
        if person_id is not None:
            query["person_id"] = person_id
        docs = await self._col.find(query).sort("at", -1).limit(limit).to_list()
        return [
            AuditEntry(
                d["_id"],
                d["at"].replace(tzinfo=UTC) if d["at"].tzinfo is None else d["at"],
                d["operator"],
                d["action"],
                d["person_id"],
                tuple(d.get("basins") or ()),
            )
            for d in docs
        ]


class MongoDocuments:
    """Read-model documents (see ``journeys.readmodels``), read and changed by ``_id`` only."""

    def __init__(self, db: AsyncDatabase[Document], name: str) -> None:
        self._col = db[name]

    async def get(self, doc_id: str, fields: Sequence[str] | None = None) -> dict[str, Any] | None:
        projection = {f: 1 for f in fields} if fields else None
        return await self._col.find_one({"_id": doc_id}, projection)

    async def get_many(
        self, doc_ids: Sequence[str], fields: Sequence[str] | None = None
    ) -> dict[str, dict[str, Any]]:
        """A page's documents in one read (``_id: {$in}``)."""
        projection = {f: 1 for f in fields} if fields else None
        return await find_by_ids(self._col, doc_ids, projection)

    async def change(
        self,
        doc_id: str,
        *,
        set: Mapping[str, Any] | None = None,
        unset: Sequence[str] = (),
        inc: Mapping[str, int] | None = None,
        after: bool = False,
    ) -> dict[str, Any] | None:
        update = _update(set, unset, inc)
        if not update:
            return await self.get(doc_id) if after else None
        try:
            return await self._apply(doc_id, update, after)
        except DuplicateKeyError:  # two upserts created the document at once: it exists now, update it
            return await self._apply(doc_id, update, after)

    async def change_many(self, changes: Sequence[tuple[str, Mapping[str, Any], Sequence[str]]]) -> None:
        """One ``update`` command per ``BULK_CHUNK`` documents (upserts). Two upserts creating one document
        at once can fail on its ``_id``: the changes are ``$set`` and ``$unset``, so they are sent again."""
        operations = [
            UpdateOne({"_id": doc_id}, _update(set, unset), upsert=True)
            for doc_id, set, unset in changes
            if set or unset
        ]
        try:
            await bulk_write(self._col, operations)
        except BulkWriteError as exc:
            if any(e.get("code") != DUPLICATE_KEY for e in exc.details.get("writeErrors", [])):
                raise
            await bulk_write(self._col, operations)

    async def _apply(self, doc_id: str, update: Mapping[str, Any], after: bool) -> dict[str, Any] | None:
        if after:
            return await self._col.find_one_and_update(
                {"_id": doc_id}, update, upsert=True, return_document=ReturnDocument.AFTER
            )
        await self._col.update_one({"_id": doc_id}, update, upsert=True)
        return None

    async def swap(self, doc_id: str, seen: Mapping[str, Any] | None, set: Mapping[str, Any]) -> bool:
        """A write under the fence of ``v``: on MongoDB the filter and the change are one atomic step."""
        if seen is None:
            doc: dict[str, Any] = {"_id": doc_id, "v": 1}
            for path, value in set.items():
                *parents, name = path.split(".")
                node = doc
                for part in parents:
                    node = node.setdefault(part, {})
                node[name] = value
            try:
                await self._col.insert_one(doc)
            except DuplicateKeyError:
                return False
            return True
        version = seen.get("v")
        changed = {**set, "v": int(version or 0) + 1}
        result = await self._col.update_one({"_id": doc_id, "v": version}, {"$set": changed})
        return result.matched_count == 1

    async def set_if_newer(self, doc_id: str, revision: int, set: Mapping[str, Any]) -> None:
        # When the document holds this revision or a newer one, the filter leaves it and the upsert fails.
        with contextlib.suppress(DuplicateKeyError):
            await self._col.update_one(
                {"_id": doc_id, "r": {"$lt": revision}}, {"$set": {**set, "r": revision}}, upsert=True
            )

    async def replace_all(self, docs: Sequence[dict[str, Any]]) -> None:
        """The collection dropped, then these documents (it has no index to keep): ``delete_many({})`` on
        the local store binds every id it deletes, and fails past SQLite's 32,766 (50,000 journeys)."""
        await self._col.drop()
        await bulk_write(self._col, [InsertOne(d) for d in docs])
