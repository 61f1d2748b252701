"""Use cases: submissions in, stored offers and events out; refreshes; blacklist.

Every change goes through the service's outbox (``tdu_shared.outbox``): the events a batch owes are
stored (one entry per batch), the new documents are written, the events are published, then the entry is
forgotten. A crash in between publishes the same events (same event ids) at the next batch, at start or
by the relay, only those whose stored document still carries them (``still_owed``), so nothing is lost,
nothing unstored is published, and consumers can deduplicate.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from offers.domain.contacts import address_key
from offers.domain.location import Geography
from offers.domain.model import InvalidRecord
from offers.domain.refresh import Refresh, refresh_complete
from offers.domain.rome import RomeLookup
from offers.domain.versions import Outcome, decide
from offers.ports import AddressBook, Doc, Effects, OfferStore
from offers.translate import (
    ContactCard,
    Prepared,
    event_carried_by,
    offer_doc,
    prepare,
    stored_of,
    with_person_id,
)
from tdu_shared.clock import Clock
from tdu_shared.contracts.contacts import ContactUpserted
from tdu_shared.contracts.offers import OfferPublished, OfferUpdated, OfferWithdrawn
from tdu_shared.envelope import Envelope, Payload, new_envelope
from tdu_shared.outbox import EntryStore, ItemPublisher, Outbox, OutboxItem, Staged
from tdu_shared.topics import CONTACTS, OFFERS_STATE

PRODUCER = "offers"
EVENT_NAMESPACE = UUID("6f2d0c1e-8a51-4d3b-9a0e-3c1f7b2d9e10")


@dataclass(frozen=True)
class Submission:
    """One OfferSubmitted, with the marker that identifies its record (partition:offset)."""

    source: str
    record: Any
    partner: str | None = None
    refresh_id: str | None = None
    marker: str | None = None
    correlation_id: UUID | None = None
    causation_id: UUID | None = None


@dataclass
class Deps:
    store: OfferStore
    outbox: Outbox
    geo: Geography
    rome: RomeLookup
    clock: Clock
    region: str = "44"
    addresses: AddressBook | None = None  # geocoded street addresses; None: commune centres only


@dataclass
class BatchResult:
    rejected: dict[int, str] = field(default_factory=dict)  # position in the batch -> reason
    outcomes: Counter[str] = field(default_factory=Counter)


# ---------------------------------------------------------------- events and documents


def event_id(kind: str, key: str, version: int | str) -> UUID:
    """Deterministic: the same change republished after a crash carries the same event id."""
    return uuid5(EVENT_NAMESPACE, f"{kind}:{key}:{version}")


def _envelope(
    payload: Payload, basin: str | None, deps: Deps, eid: UUID, sub: Submission | None
) -> Envelope[Any]:
    return new_envelope(
        payload,
        producer=PRODUCER,
        region=deps.region,
        basin=basin,
        event_id=eid,
        occurred_at=deps.clock.now(),
        correlation_id=sub.correlation_id if sub else None,
        causation_id=sub.causation_id if sub else None,
    )


TOPICS = (OFFERS_STATE, CONTACTS)
"""What offers publishes: the offers' state, and the employer contacts."""


def offers_outbox(store: OfferStore, entries: EntryStore, publisher: ItemPublisher) -> Outbox:
    """The service's outbox: what a relay finds is published only if its document still carries it."""

    async def owed(items: Sequence[OutboxItem]) -> list[OutboxItem]:
        return await still_owed(items, store)

    return Outbox(entries, publisher, owed=owed)


def withdrawn(
    doc: Doc, reason: str, now: datetime, deps: Deps, sub: Submission | None = None
) -> tuple[Doc, OutboxItem]:
    """The withdrawn document and the OfferWithdrawn it owes."""
    revision = doc["revision"] + 1
    eid = event_id("OfferWithdrawn", doc["_id"], revision)
    changes = {
        "status": "withdrawn",
        "withdrawn_reason": reason,
        "withdrawn_at": now,
        "revision": revision,
        "event_id": str(eid),
    }
    gone = {**doc, **changes, "state": {**doc["state"], "revision": revision}}
    payload = event_carried_by(OfferWithdrawn.event_type, gone)
    return gone, OutboxItem.of(OFFERS_STATE, doc["_id"], _envelope(payload, doc.get("basin"), deps, eid, sub))


# ---------------------------------------------------------------- submissions


@dataclass
class _Batch:
    """What the batch's decisions have produced so far (documents as they are now, events owed)."""

    stored: dict[str, Doc]
    contacts: dict[str, Doc]
    blacklist: set[str]
    written: dict[str, Doc] = field(default_factory=dict)
    new_contacts: dict[str, Doc] = field(default_factory=dict)
    outbox: list[OutboxItem] = field(default_factory=list)
    touches: dict[str, str] = field(default_factory=dict)
    outcomes: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.existing_offers = set(self.stored)
        self.existing_contacts = set(self.contacts)


async def submit_batch(items: Sequence[Submission], deps: Deps) -> BatchResult:
    """Store and publish a batch of submissions; records that can never be offers are returned rejected.

    The store is read by id only, and only for what this process cannot tell: offers and employer
    contacts it does not know to be stored are presumed new and inserted at once (a new offer costs one
    insert); those the store held after all are read back by id and the batch is decided again against
    their stored version.
    """
    result = BatchResult()
    prepared = await _with_employer_ids(await _prepare_all(items, deps, result), deps)
    ids = list(dict.fromkeys(p.state.offer_id for _, p in prepared))
    person_ids = list(dict.fromkeys(p.contact.person_id for _, p in prepared if p.contact))
    stored = await deps.store.load_known_offers(ids)
    contacts = await deps.store.load_known_contacts(person_ids)
    banned = await deps.store.blacklisted(ids, person_ids)
    batch = _decide_all(prepared, _Batch(dict(stored), dict(contacts), banned), deps)
    async with deps.outbox.staged(batch.outbox) as staged:
        batch = await _insert_presumed_new(prepared, batch, (stored, contacts), staged, deps)
        result.outcomes.update(batch.outcomes)
        effects = _effects_of(batch, items)
        if not effects.empty():
            await deps.store.save(effects)
    for refresh_id in {i.refresh_id for i in items if i.refresh_id}:
        await complete_refresh_if_done(refresh_id, deps)
    return result


async def _with_employer_ids(
    prepared: list[tuple[Submission, Prepared]], deps: Deps
) -> list[tuple[Submission, Prepared]]:
    """Each employer contact under the employer's opaque id (made the first time the address is seen)."""
    keys = {p.contact.person_id for _, p in prepared if p.contact}
    ids = await deps.store.employer_ids(sorted(keys)) if keys else {}
    return [(i, with_person_id(p, ids[p.contact.person_id]) if p.contact else p) for i, p in prepared]


async def _prepare_all(
    items: Sequence[Submission], deps: Deps, result: BatchResult
) -> list[tuple[Submission, Prepared]]:
    """Each record parsed and normalised; those that can never be offers go to ``result.rejected``."""
    prepared: list[tuple[Submission, Prepared]] = []
    for position, item in enumerate(items):
        try:
            prepared.append(
                (item, prepare(item.source, item.record, item.partner, deps.geo, deps.rome, deps.addresses))
            )
        except InvalidRecord as exc:
            result.rejected[position] = exc.reason
    if deps.addresses is not None:  # addresses not geocoded yet: queued, the offer goes on at its commune
        await deps.addresses.queue([(item, p.offer) for item, p in prepared])
    return prepared


def _effects_of(batch: _Batch, items: Sequence[Submission]) -> Effects:
    """What the batch changes in the store besides the inserts already made."""
    return Effects(
        changed_offers=[d for i, d in batch.written.items() if i in batch.existing_offers],
        changed_contacts=[d for i, d in batch.new_contacts.items() if i in batch.existing_contacts],
        refresh_touches=batch.touches,
        refresh_markers=[(i.refresh_id, i.marker) for i in items if i.refresh_id and i.marker],
    )


async def _insert_presumed_new(
    prepared: Sequence[tuple[Submission, Prepared]],
    batch: _Batch,
    loaded: tuple[dict[str, Doc], dict[str, Doc]],
    staged: Staged,
    deps: Deps,
) -> _Batch:
    """Insert the offers and contacts presumed new; decide again if the store held some of them.

    Contacts inserted here stay stored whatever the second decision, so the events they stand for stay
    owed.
    """
    new_offers = [d for i, d in batch.written.items() if i not in batch.existing_offers]
    new_contacts = [d for i, d in batch.new_contacts.items() if i not in batch.existing_contacts]
    known_offers = await deps.store.insert_new_offers(new_offers)
    known_contacts = await deps.store.insert_new_contacts(new_contacts)
    if not (known_offers or known_contacts):
        return batch
    stored = loaded[0] | await deps.store.load_offers(sorted(known_offers))
    contacts = loaded[1] | await deps.store.load_contacts(sorted(known_contacts))
    again = _decide_all(prepared, _Batch(stored, contacts, batch.blacklist), deps)
    owed = {e.event_id for e in again.outbox}
    inserted = {d["_id"] for d in new_contacts} - known_contacts
    again.outbox += [
        e for e in batch.outbox if e.topic == CONTACTS.name and e.key in inserted and e.event_id not in owed
    ]
    await staged.replace(again.outbox)
    return again


def _decide_all(prepared: Sequence[tuple[Submission, Prepared]], batch: _Batch, deps: Deps) -> _Batch:
    for item, p in prepared:
        batch.outcomes[_apply(item, p, batch, deps)] += 1
        if item.refresh_id and p.state.offer_id not in batch.written:
            batch.touches[p.state.offer_id] = item.refresh_id
    return batch


def _apply(item: Submission, p: Prepared, batch: _Batch, deps: Deps) -> Outcome:
    offer_id = p.state.offer_id
    doc = batch.stored.get(offer_id)
    banned = offer_id in batch.blacklist or (p.contact is not None and p.contact.person_id in batch.blacklist)
    outcome, revision = decide(stored_of(doc) if doc else None, p.state.updated_at, p.fingerprint, banned)
    if outcome is Outcome.BLACKLISTED and doc is not None and doc["status"] == "published":
        gone, entry = withdrawn(doc, "blacklisted", deps.clock.now(), deps, item)
        batch.written[offer_id] = batch.stored[offer_id] = gone
        batch.outbox.append(entry)
    if outcome not in (Outcome.PUBLISHED, Outcome.UPDATED):
        return outcome
    state = p.state if revision == p.state.revision else p.state.model_copy(update={"revision": revision})
    payload = OfferPublished(offer=state) if outcome is Outcome.PUBLISHED else OfferUpdated(offer=state)
    envelope = _envelope(payload, state.basin, deps, event_id(payload.event_type, offer_id, revision), item)
    entry = OutboxItem.of(OFFERS_STATE, offer_id, envelope)
    batch.outbox.append(entry)
    batch.written[offer_id] = batch.stored[offer_id] = offer_doc(p, state, item.refresh_id, entry)
    if p.contact is not None:
        _contact_change(p.contact, state.basin, batch, deps, item)
    return outcome


def _contact_change(
    card: ContactCard, basin: str | None, batch: _Batch, deps: Deps, item: Submission
) -> None:
    fingerprint = hashlib.sha256(f"{card.email}|{card.display_name}".encode()).hexdigest()
    known = batch.contacts.get(card.person_id)
    if known is not None and known["fingerprint"] == fingerprint:
        return
    eid = event_id("ContactUpserted", card.person_id, fingerprint)
    doc = {
        "_id": card.person_id,
        "email": card.email,
        "display_name": card.display_name,
        "fingerprint": fingerprint,
        "event_id": str(eid),
    }
    payload = event_carried_by(ContactUpserted.event_type, doc)
    batch.outbox.append(OutboxItem.of(CONTACTS, card.person_id, _envelope(payload, basin, deps, eid, item)))
    batch.contacts[card.person_id] = batch.new_contacts[card.person_id] = doc


async def still_owed(items: Sequence[OutboxItem], store: OfferStore) -> list[OutboxItem]:
    """Of the events a crash or a failure left in the outbox, those whose document still carries them (a
    presumed insert that failed, a change decided again, left stale ones)."""
    offers = await store.load_offers([e.key for e in items if e.topic == OFFERS_STATE.name])
    contacts = await store.load_contacts([e.key for e in items if e.topic == CONTACTS.name])
    docs = {OFFERS_STATE.name: offers, CONTACTS.name: contacts}
    return [e for e in items if (docs[e.topic].get(e.key) or {}).get("event_id") == e.event_id]


# ---------------------------------------------------------------- refreshes


async def refresh_completed(refresh: Refresh, deps: Deps) -> int:
    """The end marker of a full refresh arrived: remember it, withdraw if every record was processed."""
    await deps.store.save_refresh(refresh)
    return await complete_refresh_if_done(refresh.refresh_id, deps)


async def complete_refresh_if_done(refresh_id: str, deps: Deps) -> int:
    """Withdraw the offers of the scope the refresh did not carry; returns how many were withdrawn."""
    refresh = await deps.store.open_refresh(refresh_id)
    if refresh is None or not refresh_complete(refresh, await deps.store.refresh_seen(refresh_id)):
        return 0
    now = deps.clock.now()
    changes = [
        withdrawn(d, "missing_from_refresh", now, deps)
        for d in await deps.store.missing_from_refresh(refresh)
    ]
    await _withdraw(changes, deps)
    await deps.store.close_refresh(refresh_id)
    return len(changes)


# ---------------------------------------------------------------- blacklist and recovery


async def blacklist(offer_id: str | None, employer_email: str | None, deps: Deps) -> list[str]:
    """Keep an offer or an employer out: withdraw what is published now. Returns the withdrawn offer ids."""
    key = address_key(employer_email) if employer_email else None
    person_id = (await deps.store.employer_ids([key]))[key] if key else None
    now = deps.clock.now()
    await deps.store.add_to_blacklist(offer_id, person_id, now)
    changes = [
        withdrawn(d, "blacklisted", now, deps)
        for d in await deps.store.published_offers_of(offer_id, person_id)
    ]
    await _withdraw(changes, deps)
    return [d["_id"] for d, _ in changes]


async def _withdraw(changes: Sequence[tuple[Doc, OutboxItem]], deps: Deps) -> None:
    effects = Effects(changed_offers=[d for d, _ in changes])
    await deps.outbox.commit([e for _, e in changes], lambda: deps.store.save(effects))


async def erase_contact(person_id: str, deps: Deps) -> bool:
    """A ``contacts`` tombstone: the employer contact leaves the store (offers keep their opaque id only)."""
    return await deps.store.erase_contact(person_id)
