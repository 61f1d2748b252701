"""Webhook subscriptions and deliveries in MongoDB (FerretDB-compatible), read and written by ``_id`` only.

Every document is keyed by what is looked up, as the e-mail deliveries are (see ``mongo.py``):

- ``webhook_subscriptions``: one per subscription (``_id`` = its id; ``seq`` numbers its deliveries);
- ``webhook_partners``: ``<region>|<partner>`` -> the partner's subscription ids (the partner API's list);
- ``webhook_routes``: a basin code (or ``*`` for every basin) -> the subscriptions of that basin and the
  event types they want (what the journey-events consumer reads, one document per basin of a batch);
- ``webhook_keys``: insert-only guard, ``<hash of event id and subscription>`` -> the delivery id, so a
  replayed event adds nothing;
- ``webhook_deliveries``: one per delivery, ``_id`` = ``<subscription>-<seq>``: its body and where it
  stands; the partner's delivery log reads them by number, newest first;
- ``webhook_queues``: ``<subscription>|<journey>`` -> the ids not yet delivered, in order, and ``due_id``,
  the entry of ``webhook_due`` that names when the first one is attempted;
- ``webhook_due``: ``<due time UTC, ms>|<subscription>|<journey>``: one small entry per queue waiting for
  an attempt: the one collection the dispatcher searches (an ``_id`` range, as ``due``);
- ``webhook_in_flight``: a lease per queue being worked on (``_id`` = the queue), inserted before any
  request; one taken over once run out through the unique marker ``<queue>#<claim>``;
- ``webhook_parked``: per failing subscription, its queues set aside until it is resumed.

Counters and queues change with ``findAndModify`` on one ``_id`` (atomic on one document); without a
projection: FerretDB 1.24 does not implement its ``fields``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ReturnDocument, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from notifications.adapters.mongo import due_id
from notifications.webhooks.model import (
    Subscription,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookStatus,
    delivery_id,
)
from tdu_shared.mongo import Document, bulk_write, delete_by_ids, find_by_ids, insert_new

SUBSCRIPTIONS = "webhook_subscriptions"
PARTNERS = "webhook_partners"
ROUTES = "webhook_routes"
KEYS = "webhook_keys"
DELIVERIES = "webhook_deliveries"
QUEUES = "webhook_queues"
DUE = "webhook_due"
IN_FLIGHT = "webhook_in_flight"
PARKED = "webhook_parked"
EVERY_BASIN = "*"

PARALLEL = 4
"""``findAndModify`` commands under way at once (one per queue)."""
HINT_GRACE = timedelta(minutes=5)
"""A due entry its queue does not name is dropped once this old (younger, it may be about to be named)."""


class TooManySubscriptions(Exception):
    pass


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def partner_doc_id(region: str, partner: str) -> str:
    return f"{region}|{partner}"


def subscription_doc(s: Subscription) -> Document:
    return {
        "_id": s.id,
        "partner": s.partner,
        "region": s.region,
        "callback_url": s.callback_url,
        "event_types": list(s.event_types),
        "basins": list(s.basins) if s.basins is not None else None,
        "secret": s.secret,
        "previous_secret": s.previous_secret,
        "previous_until": s.previous_until,
        "status": s.status.value,
        "created_at": s.created_at,
        "created_by_key": s.created_by_key,
        "failing_since": s.failing_since,
        "resumed_at": s.resumed_at,
        "last_result": s.last_result,
        "flags": s.flags,
        "seq": 0,
    }


def subscription_of(doc: Document) -> Subscription:
    basins = doc.get("basins")
    return Subscription(
        id=doc["_id"],
        partner=doc["partner"],
        region=doc["region"],
        callback_url=doc["callback_url"],
        event_types=tuple(doc.get("event_types") or ()),
        basins=tuple(basins) if basins is not None else None,
        secret=doc["secret"],
        created_at=_aware(doc["created_at"]) or datetime.now(UTC),
        created_by_key=doc.get("created_by_key"),
        status=WebhookStatus(doc.get("status", "active")),
        previous_secret=doc.get("previous_secret"),
        previous_until=_aware(doc.get("previous_until")),
        failing_since=_aware(doc.get("failing_since")),
        resumed_at=_aware(doc.get("resumed_at")),
        last_result=doc.get("last_result"),
        flags=int(doc.get("flags", 0)),
    )


def delivery_doc(d: WebhookDelivery) -> Document:
    return {
        "_id": d.id,
        "subscription_id": d.subscription_id,
        "seq": d.seq,
        "journey_id": d.journey_id,
        "event_id": d.event_id,
        "event_type": d.event_type,
        "basin": d.basin,
        "body": d.body,
        "created_at": d.created_at,
        "status": d.status.value,
        "attempts": d.attempts,
        "window_start": d.window_start,
        "window_attempts": d.window_attempts,
        "last_attempt_at": d.last_attempt_at,
        "last_result": d.last_result,
        "next_attempt_at": d.next_attempt_at,
        "delivered_at": d.delivered_at,
        "replay_of": d.replay_of,
    }


def webhook_delivery_of(doc: Document) -> WebhookDelivery:
    return WebhookDelivery(
        id=doc["_id"],
        subscription_id=doc["subscription_id"],
        seq=int(doc["seq"]),
        journey_id=doc["journey_id"],
        event_id=doc["event_id"],
        event_type=doc["event_type"],
        basin=doc.get("basin"),
        body=dict(doc["body"]),
        created_at=_aware(doc["created_at"]) or datetime.now(UTC),
        status=WebhookDeliveryStatus(doc.get("status", "pending")),
        attempts=int(doc.get("attempts", 0)),
        window_start=_aware(doc.get("window_start")),
        window_attempts=int(doc.get("window_attempts", 0)),
        last_attempt_at=_aware(doc.get("last_attempt_at")),
        last_result=doc.get("last_result"),
        next_attempt_at=_aware(doc.get("next_attempt_at")),
        delivered_at=_aware(doc.get("delivered_at")),
        replay_of=doc.get("replay_of"),
    )


class MongoWebhookStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._subs = db[SUBSCRIPTIONS]
        self._partners = db[PARTNERS]
        self._routes = db[ROUTES]
        self._keys = db[KEYS]
        self._deliveries = db[DELIVERIES]
        self._queues = db[QUEUES]
        self._due = db[DUE]
        self._in_flight = db[IN_FLIGHT]
        self._parked = db[PARKED]

    # ------------------------------------------------------------ subscriptions (the partner API)

    async def create(self, sub: Subscription, max_per_partner: int) -> None:
        """Stored, listed under its partner, then routed (from then on, events are planned for it)."""
        partner_id = partner_doc_id(sub.region, sub.partner)
        held = await self._partners.find_one({"_id": partner_id}, {"subs": 1})
        if held is not None and len(held.get("subs") or []) >= max_per_partner:
            raise TooManySubscriptions(f"au plus {max_per_partner} abonnements par partenaire")
        await self._subs.insert_one(subscription_doc(sub))
        await self._partners.update_one({"_id": partner_id}, {"$addToSet": {"subs": sub.id}}, upsert=True)
        await bulk_write(
            self._routes,
            [
                UpdateOne({"_id": basin}, {"$set": {f"subs.{sub.id}": list(sub.event_types)}}, upsert=True)
                for basin in (sub.basins if sub.basins is not None else (EVERY_BASIN,))
            ],
        )

    async def get(self, sub_id: str) -> Subscription | None:
        doc = await self._subs.find_one({"_id": sub_id})
        return subscription_of(doc) if doc is not None else None

    async def get_many(self, sub_ids: Iterable[str]) -> dict[str, Subscription]:
        return {i: subscription_of(d) for i, d in (await find_by_ids(self._subs, sub_ids)).items()}

    async def of_partner(self, region: str, partner: str) -> list[Subscription]:
        held = await self._partners.find_one({"_id": partner_doc_id(region, partner)}, {"subs": 1})
        ids = list((held or {}).get("subs") or [])
        found = await self.get_many(ids)
        return [found[i] for i in ids if i in found]

    async def delete(self, sub: Subscription) -> None:
        """Unrouted first (no event is planned for it any more), then forgotten. Its queues are dropped by
        the dispatcher when it finds them; its delivery log stays, unreachable."""
        await bulk_write(
            self._routes,
            [
                UpdateOne({"_id": basin}, {"$unset": {f"subs.{sub.id}": ""}})
                for basin in (sub.basins if sub.basins is not None else (EVERY_BASIN,))
            ],
        )
        await self._partners.update_one(
            {"_id": partner_doc_id(sub.region, sub.partner)}, {"$pull": {"subs": sub.id}}
        )
        await delete_by_ids(self._subs, [sub.id])
        await delete_by_ids(self._parked, [sub.id])

    async def rotate_secret(self, sub_id: str, secret: str, previous: str, until: datetime) -> None:
        await self._subs.update_one(
            {"_id": sub_id},
            {"$set": {"secret": secret, "previous_secret": previous, "previous_until": until}},
        )

    async def flag(self, sub_id: str, now: datetime, last_result: str) -> bool:
        """Flag the subscription failing; True when this call did it (it was active)."""
        before = await self._subs.find_one_and_update(
            {"_id": sub_id},
            {
                "$set": {"status": WebhookStatus.FAILING.value, "failing_since": now},
                "$inc": {"flags": 1},
            },
            return_document=ReturnDocument.BEFORE,
        )
        if before is not None and before.get("status") != WebhookStatus.FAILING.value:
            await self._subs.update_one({"_id": sub_id}, {"$set": {"last_result": last_result}})
            return True
        return False

    async def resume(self, sub_id: str, now: datetime) -> list[str]:
        """Active again; the queues set aside while it was failing back (to be made due)."""
        await self._subs.update_one(
            {"_id": sub_id},
            {"$set": {"status": WebhookStatus.ACTIVE.value, "resumed_at": now, "failing_since": None}},
        )
        parked = await self._parked.find_one({"_id": sub_id})
        if parked is None:
            return []
        await delete_by_ids(self._parked, [sub_id])
        return list(parked.get("pairs") or [])

    async def park(self, sub_id: str, pair: str) -> None:
        await self._parked.update_one({"_id": sub_id}, {"$addToSet": {"pairs": pair}}, upsert=True)

    async def allocate(self, sub_id: str, count: int) -> int | None:
        """Reserve ``count`` delivery numbers of the subscription; the last one (None: it is gone)."""
        doc = await self._subs.find_one_and_update(
            {"_id": sub_id},
            {"$inc": {"seq": count}},
            return_document=ReturnDocument.AFTER,
        )
        return int(doc["seq"]) if doc is not None else None

    async def last_seq(self, sub_id: str) -> int:
        doc = await self._subs.find_one({"_id": sub_id}, {"seq": 1})
        return int((doc or {}).get("seq", 0))

    # ------------------------------------------------------------ planning (the journey-events consumer)

    async def routes(self, basins: Iterable[str]) -> dict[str, dict[str, list[str]]]:
        """For each basin (and ``*``), the subscriptions routed there and the event types they want."""
        found = await find_by_ids(self._routes, basins)
        return {basin: dict(doc.get("subs") or {}) for basin, doc in found.items()}

    async def known_keys(self, keys: Iterable[str]) -> dict[str, str]:
        """Event keys planned already -> their delivery id."""
        return {k: d["delivery_id"] for k, d in (await find_by_ids(self._keys, keys)).items()}

    async def add_keys(self, keys: Mapping[str, str]) -> dict[str, str]:
        """Insert the guards (key -> delivery id); those found there already back, with their own id."""
        docs = [{"_id": k, "delivery_id": d} for k, d in keys.items()]
        taken = await insert_new(self._keys, docs)
        return await self.known_keys(taken) if taken else {}

    async def deliveries(self, ids: Iterable[str]) -> dict[str, WebhookDelivery]:
        return {i: webhook_delivery_of(d) for i, d in (await find_by_ids(self._deliveries, ids)).items()}

    async def delivery(self, d_id: str) -> WebhookDelivery | None:
        doc = await self._deliveries.find_one({"_id": d_id})
        return webhook_delivery_of(doc) if doc is not None else None

    async def add_deliveries(self, deliveries: Sequence[WebhookDelivery]) -> None:
        await insert_new(self._deliveries, [delivery_doc(d) for d in deliveries])

    async def enqueue(self, queues: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
        """Append these delivery ids to their queues (ids there already keep their place); each queue as it
        is after, by queue."""
        after: dict[str, list[str]] = {}
        items = list(queues.items())
        for start in range(0, len(items), PARALLEL):
            chunk = items[start : start + PARALLEL]
            docs = await asyncio.gather(*(self._append(pair, ids) for pair, ids in chunk))
            after.update(
                (pair, list(doc.get("ids") or [])) for (pair, _), doc in zip(chunk, docs, strict=True)
            )
        return after

    async def _append(self, pair: str, ids: Sequence[str]) -> Document:
        doc = await self._queues.find_one_and_update(
            {"_id": pair},
            {"$addToSet": {"ids": {"$each": list(ids)}}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        return doc or {}

    # ------------------------------------------------------------ the dispatcher

    async def schedule(self, at: Mapping[str, datetime]) -> dict[str, str]:
        """Make these queues due at these times: a new due entry each, which the queue then names, then the
        entry it named before goes (a crash in between leaves an extra entry, dropped when found). Pair ->
        entry."""
        entries = {pair: due_id(when, pair) for pair, when in at.items()}
        now = datetime.now(UTC)
        await insert_new(self._due, [{"_id": e, "pair": p, "written_at": now} for p, e in entries.items()])
        replaced = []
        items = list(entries.items())
        for start in range(0, len(items), PARALLEL):
            chunk = items[start : start + PARALLEL]
            before = await asyncio.gather(
                *(
                    self._queues.find_one_and_update(
                        {"_id": p}, {"$set": {"due_id": e}}, return_document=ReturnDocument.BEFORE
                    )
                    for p, e in chunk
                )
            )
            replaced += [
                doc["due_id"]
                for (_, e), doc in zip(chunk, before, strict=True)
                if doc is not None and doc.get("due_id") not in (None, e)
            ]
        await self.drop_entries(replaced)
        return entries

    async def due(self, now: datetime, limit: int) -> list[tuple[str, str, datetime | None]]:
        """(entry, pair, when written) of the entries due at ``now``, earliest first."""
        docs = await self._due.find({"_id": {"$lte": due_id(now, "~")}}).sort("_id", 1).limit(limit).to_list()
        return [(d["_id"], d["pair"], _aware(d.get("written_at"))) for d in docs]

    async def queues(self, pairs: Iterable[str]) -> dict[str, Document]:
        return await find_by_ids(self._queues, pairs)

    async def drop_entries(self, entries: Iterable[str]) -> None:
        await delete_by_ids(self._due, entries, parallel=PARALLEL)

    async def lease(self, pairs: Sequence[str], now: datetime, until: datetime) -> dict[str, str | None]:
        """Take these queues for ``until``: those free, and those whose lease ran out (their process died).
        Queue -> the takeover marker to release with it (None for a fresh lease)."""
        token = uuid.uuid4().hex
        docs = [{"_id": p, "lease_until": until, "claim": token} for p in pairs]
        taken_already = await insert_new(self._in_flight, docs)
        won: dict[str, str | None] = {p: None for p in pairs if p not in taken_already}
        if not taken_already:
            return won
        leases = await find_by_ids(self._in_flight, taken_already)
        run_out = [lease for lease in leases.values() if (_aware(lease.get("lease_until")) or now) <= now]
        markers = {f"{lease['_id']}#{lease.get('claim')}": lease["_id"] for lease in run_out}
        ours = set(markers) - await insert_new(self._in_flight, [{"_id": m} for m in markers])
        if not ours:
            return won
        taken = {markers[m]: m for m in ours}
        await delete_by_ids(self._in_flight, list(taken))
        again = [{"_id": p, "lease_until": until, "claim": uuid.uuid4().hex} for p in taken]
        lost = await insert_new(self._in_flight, again)  # claimed afresh by another instance meanwhile
        await delete_by_ids(self._in_flight, [taken[p] for p in lost])
        won.update({p: m for p, m in taken.items() if p not in lost})
        return won

    async def release(self, pairs: Mapping[str, str | None]) -> None:
        await delete_by_ids(self._in_flight, [*pairs, *(m for m in pairs.values() if m)], parallel=PARALLEL)

    async def record(self, d_id: str, fields: Mapping[str, Any]) -> None:
        """What became of an attempt (delivered, or failed and when next), on the delivery itself."""
        await self._deliveries.update_one({"_id": d_id}, {"$set": dict(fields)})

    async def dequeue(self, pair: str, d_id: str) -> list[str]:
        """The delivered head leaves its queue; the queue as it is after."""
        doc = await self._queues.find_one_and_update(
            {"_id": pair},
            {"$pull": {"ids": d_id}},
            return_document=ReturnDocument.AFTER,
        )
        return list((doc or {}).get("ids") or [])

    async def drop_queues(self, pairs: Sequence[str]) -> None:
        """Queues of a deleted subscription."""
        await delete_by_ids(self._queues, pairs)

    # ------------------------------------------------------------ the delivery log

    async def page(
        self, sub_id: str, before: int | None, limit: int
    ) -> tuple[list[WebhookDelivery], int | None]:
        """Deliveries numbered below ``before`` (None: from the newest), newest first; the next cursor."""
        top = await self.last_seq(sub_id) if before is None else before - 1
        numbers = list(range(top, max(0, top - limit), -1))
        found = await self.deliveries(delivery_id(sub_id, n) for n in numbers)
        items = [found[i] for i in (delivery_id(sub_id, n) for n in numbers) if i in found]
        last = numbers[-1] if numbers else 0
        return items, (last if last > 1 else None)
