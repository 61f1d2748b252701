"""In-memory implementations of the ports, for unit tests and benchmarks (they behave as the Mongo ones)."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from journeys.domain.model import Journey
from journeys.domain.timers import Timer
from journeys.ports import AuditEntry, Contact, OfferView, Pending, StoredTimer, Write
from tdu_shared.outbox import MemoryItems, OutboxItem


@dataclass
class _Row:
    journey: Journey
    outbox: list[OutboxItem] = field(default_factory=list)
    timers: list[Timer] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    lease: datetime | None = None
    anonymised: bool = False


class MemoryJourneys:
    def __init__(self) -> None:
        self.rows: dict[str, _Row] = {}

    async def get(self, journey_id: str) -> Journey | None:
        row = self.rows.get(journey_id)
        return copy.deepcopy(row.journey) if row else None

    async def seen(self, journey_id: str, key: str) -> bool:
        row = self.rows.get(journey_id)
        return row is not None and key in row.keys

    async def create(self, write: Write) -> bool:
        if write.journey.journey_id in self.rows:
            return False
        write.journey.revision = 1
        keys = [write.command_key] if write.command_key else []
        self.rows[write.journey.journey_id] = _Row(
            copy.deepcopy(write.journey), list(write.outbox), list(write.timers), keys
        )
        return True

    async def update(self, write: Write, expected_revision: int) -> bool:
        row = self.rows.get(write.journey.journey_id)
        if row is None or row.journey.revision != expected_revision:
            return False
        write.journey.revision = expected_revision + 1
        row.journey = copy.deepcopy(write.journey)
        row.outbox += write.outbox
        row.timers += write.timers
        row.keys += [k for k in (write.command_key, write.reminder_id) if k]
        return True

    async def get_many(self, journey_ids: Sequence[str]) -> dict[str, Journey]:
        return {i: copy.deepcopy(self.rows[i].journey) for i in journey_ids if i in self.rows}

    async def all(self, basin: str | None = None) -> list[Journey]:
        return [
            copy.deepcopy(r.journey) for r in self.rows.values() if basin is None or r.journey.basin == basin
        ]

    async def pending(self, limit: int, now: datetime, lease_s: float) -> list[Pending]:
        claimed: list[Pending] = []
        for jid, row in self.rows.items():
            if (row.outbox or row.timers) and (row.lease is None or row.lease < now) and len(claimed) < limit:
                row.lease = now + timedelta(seconds=lease_s)
                claimed.append(Pending(jid, row.journey.revision, list(row.outbox), list(row.timers)))
        return claimed

    async def relayed(self, done: Sequence[Pending]) -> list[Journey]:
        for pending in done:
            row = self.rows[pending.journey_id]
            event_ids = {i.event_id for i in pending.outbox}
            timer_ids = {t.timer_id for t in pending.timers}
            row.outbox = [i for i in row.outbox if i.event_id not in event_ids]
            row.timers = [t for t in row.timers if t.timer_id not in timer_ids]
            row.lease = None
        return [copy.deepcopy(self.rows[p.journey_id].journey) for p in done]

    async def relist_pending(self) -> int:
        return sum(1 for row in self.rows.values() if row.outbox or row.timers)

    async def forget_person(self, person_id: str) -> int:
        count = 0
        for row in self.rows.values():
            if row.journey.seeker_id == person_id:
                row.outbox = [i for i in row.outbox if not (i.topic == "contacts" and i.key == person_id)]
                row.anonymised = True
                row.journey.revision += 1
                count += 1
        return count


@dataclass
class _TimerRow:
    timer: Timer
    status: str
    next_at: datetime


class MemoryTimers:
    def __init__(self) -> None:
        self.timers: dict[str, _TimerRow] = {}

    async def arm(self, timers: Sequence[Timer]) -> None:
        for t in timers:
            self.timers.setdefault(t.timer_id, _TimerRow(t, "pending", t.due_at))

    async def claim_due(self, now: datetime, lease_s: float) -> StoredTimer | None:
        due = [
            (row.next_at, tid)
            for tid, row in self.timers.items()
            if row.status == "pending" and row.next_at <= now
        ]
        if not due:
            return None
        _, tid = min(due)
        row = self.timers[tid]
        row.next_at = now + timedelta(seconds=lease_s)
        t = row.timer
        return StoredTimer(tid, t.journey_id, t.kind, t.due_at, t.marker)

    async def finish(self, timer_id: str, status: str, now: datetime) -> None:
        self.timers[timer_id].status = status

    async def relist_pending(self) -> int:
        return sum(1 for row in self.timers.values() if row.status == "pending")

    def status(self, timer_id: str) -> str:
        return self.timers[timer_id].status


class MemoryOffers:
    def __init__(self) -> None:
        self.offers: dict[str, OfferView] = {}

    async def get(self, offer_id: str) -> OfferView | None:
        return self.offers.get(offer_id)

    async def save(self, offer: OfferView) -> bool:
        known = self.offers.get(offer.offer_id)
        if known is not None:
            same = known.evaluated_at == offer.evaluated_at
            fills = same and not known.rome_code and bool(offer.rome_code)  # a replay after the upgrade
            if known.evaluated_at > offer.evaluated_at or (same and not fills):
                return False
            # The ROME code and contract stay as stored when this evaluation has none (a withdrawn offer).
            offer = replace(
                offer,
                rome_code=offer.rome_code or known.rome_code,
                contract_type=offer.contract_type or known.contract_type,
            )
        self.offers[offer.offer_id] = offer
        return True

    async def save_all(self, offers: Sequence[OfferView]) -> set[str]:
        return {o.offer_id for o in offers if await self.save(o)}


class MemoryContacts:
    def __init__(self) -> None:
        self.contacts: dict[str, Contact] = {}

    async def get(self, person_id: str) -> Contact | None:
        found = self.contacts.get(person_id)
        return copy.deepcopy(found) if found else None

    async def save(self, contact: Contact) -> None:
        self.contacts[contact.person_id] = copy.deepcopy(contact)

    async def delete(self, person_id: str) -> bool:
        return self.contacts.pop(person_id, None) is not None


class MemoryAudit:
    def __init__(self) -> None:
        self.log: list[AuditEntry] = []

    async def record(self, entry: AuditEntry) -> None:
        self.log.append(entry)

    async def entries(self, basin: str | None, person_id: str | None, limit: int) -> list[AuditEntry]:
        found = [
            e
            for e in reversed(self.log)
            if (basin is None or basin in e.basins) and (person_id is None or e.person_id == person_id)
        ]
        return found[:limit]


class MemoryPublisher(MemoryItems):
    @property
    def sent(self) -> list[OutboxItem]:
        """The events published, as stored (tombstones aside: see ``tombstones``)."""
        return [i for i in self.items if i.body is not None]


class MemoryDocuments:
    """Read-model documents in a dict, changed by dotted paths as the store does."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}

    async def get(self, doc_id: str, fields: Sequence[str] | None = None) -> dict[str, Any] | None:
        found = self.docs.get(doc_id)
        if found is None:
            return None
        if not fields:
            return copy.deepcopy(found)
        projected: dict[str, Any] = {"_id": doc_id}
        for path in fields:  # only these paths, as the store's projection returns them
            node: Any = found
            for part in path.split("."):
                node = node.get(part) if isinstance(node, dict) else None
            if node is not None:
                parent, name = _parent(projected, path)
                parent[name] = copy.deepcopy(node)
        return projected

    async def get_many(
        self, doc_ids: Sequence[str], fields: Sequence[str] | None = None
    ) -> dict[str, dict[str, Any]]:
        found = {i: await self.get(i, fields) for i in doc_ids}
        return {i: d for i, d in found.items() if d is not None}

    async def change_many(self, changes: Sequence[tuple[str, Mapping[str, Any], Sequence[str]]]) -> None:
        for doc_id, set, unset in changes:
            await self.change(doc_id, set=set, unset=unset)

    async def change(
        self,
        doc_id: str,
        *,
        set: Mapping[str, Any] | None = None,
        unset: Sequence[str] = (),
        inc: Mapping[str, int] | None = None,
        after: bool = False,
    ) -> dict[str, Any] | None:
        doc = self.docs.setdefault(doc_id, {"_id": doc_id})
        for path, value in (set or {}).items():
            parent, name = _parent(doc, path)
            parent[name] = copy.deepcopy(value)
        for path in unset:
            parent, name = _parent(doc, path)
            parent.pop(name, None)
        for path, delta in (inc or {}).items():
            parent, name = _parent(doc, path)
            parent[name] = parent.get(name, 0) + delta
        return copy.deepcopy(doc) if after else None

    async def swap(self, doc_id: str, seen: Mapping[str, Any] | None, set: Mapping[str, Any]) -> bool:
        current = self.docs.get(doc_id)
        if (current is None) != (seen is None) or (current or {}).get("v") != (seen or {}).get("v"):
            return False
        await self.change(doc_id, set={**set, "v": int((current or {}).get("v") or 0) + 1})
        return True

    async def set_if_newer(self, doc_id: str, revision: int, set: Mapping[str, Any]) -> None:
        if int(self.docs.get(doc_id, {}).get("r", 0)) < revision:
            await self.change(doc_id, set={**set, "r": revision})

    async def replace_all(self, docs: Sequence[dict[str, Any]]) -> None:
        self.docs = {d["_id"]: copy.deepcopy(d) for d in docs}

    def dump(self) -> list[dict[str, Any]]:
        return [copy.deepcopy(d) for d in self.docs.values()]


def _parent(doc: dict[str, Any], path: str) -> tuple[dict[str, Any], str]:
    *parents, name = path.split(".")
    node = doc
    for part in parents:
        node = node.setdefault(part, {})
    return node, name
