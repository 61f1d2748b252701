"""Use cases: a command (from HTTP or ``journeys.commands``), a timer or an event, plus the ports.

Every change of a journey is ONE document update holding the new state, its history line and the events
to publish (its outbox); the relay publishes them afterwards. A command's idempotency key is recorded in
the same update, so a repeated command changes nothing. A person's contact change or erasure goes
through the service's outbox collection the same way (``tdu_shared.outbox``): the event is stored before
the change, published after it.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from typing import Any
from uuid import UUID

import structlog

from journeys.domain import transitions
from journeys.domain.kpis import Period
from journeys.domain.model import Actor, Journey
from journeys.domain.timers import add_months, still_due, timers_after_change
from journeys.domain.transitions import Action, Fact
from journeys.ports import (
    AuditLog,
    Conflict,
    Contact,
    Contacts,
    JourneyQuery,
    JourneyStore,
    Offers,
    OfferView,
    Pending,
    Publisher,
    TimerStore,
    Write,
)
from journeys.readmodels import ReadModels
from journeys.translate import contact_item, contact_payload, event_item, offer_view
from tdu_shared import outbox
from tdu_shared.clock import Clock
from tdu_shared.contracts.journeys import (
    JourneyCommand,
    JourneyReminderDue,
    JourneyState,
    OnJourney,
    Role,
    SubmitApplication,
)
from tdu_shared.contracts.matching import OfferEligibilityChanged
from tdu_shared.outbox import EntryStore, MemoryOutbox, Outbox, OutboxItem
from tdu_shared.topics import CONTACTS

log = structlog.get_logger(__name__)
JOURNEY_IDS = uuid.UUID("6f1d7c8e-2b1a-4c36-9f57-1f0a7d1f3c21")


class NotFound(Exception):
    """No such journey (404)."""


class OfferNotEligible(Exception):
    """The offer is unknown or not eligible (409)."""


def memory_read_models() -> ReadModels:
    from journeys.adapters.memory import MemoryDocuments

    return ReadModels(MemoryDocuments(), MemoryDocuments(), MemoryDocuments())


@dataclass
class Ports:
    journeys: JourneyStore
    offers: Offers
    contacts: Contacts
    timers: TimerStore
    clock: Clock
    region: str
    after_write: Callable[[], None] = field(default=lambda: None)
    """Called after every journey write (wakes the relay; a fault-injection switch may crash here)."""
    read_models: ReadModels = field(default_factory=memory_read_models)
    """Journey lists and KPI counters, projected after every write (see ``journeys.readmodels``)."""
    audit: AuditLog = field(default_factory=lambda: _memory_audit())
    """Operators' access to personal data (in memory unless the composition root gives the store's)."""
    outbox: EntryStore = field(default_factory=MemoryOutbox)
    """Events of changes beside the journeys (contacts, erasures), stored before the change."""
    relay_lease_s: float = 10.0
    """How long a relay (or a commit) holds what it publishes before another may take it."""

    def committing(self, publisher: Publisher) -> Outbox:
        """The outbox of changes beside the journeys (contact changes, erasures), publishing with
        ``publisher``: what a relay finds goes out only if the stored contacts still say it."""

        async def owed(items: Sequence[OutboxItem]) -> list[OutboxItem]:
            return [i for i in items if await _contacts_say(i, self.contacts)]

        return Outbox(self.outbox, publisher, owed=owed, commit_lease_s=self.relay_lease_s)


async def _contacts_say(item: OutboxItem, contacts: Contacts) -> bool:
    """Whether the stored contact is what ``item`` publishes (a tombstone: the person is gone). A change
    whose save failed, or that a later change replaced, is not published by the relay."""
    contact = await contacts.get(item.key)
    if item.body is None:
        return contact is None
    published = json.loads(item.body)["payload"]
    return contact is not None and published == contact_payload(contact).model_dump(mode="json")


def _memory_audit() -> AuditLog:
    from journeys.adapters.memory import MemoryAudit  # the default of tests and tools, as read models'

    return MemoryAudit()


@dataclass(frozen=True)
class Result:
    journey: Journey
    replayed: bool = False


def now_ms(clock: Clock) -> datetime:
    """The store keeps milliseconds: work at that precision so markers compare equal after a reload."""
    moment = clock.now().astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


Basins = frozenset[str] | None
"""The basins a caller is limited to; None: every basin (a region-wide operator, a party, a Kafka command)."""


def command_key(command: JourneyCommand) -> str:
    """Idempotency key, scoped to the actor so two partner systems cannot collide."""
    return f"{command.actor_role.value}:{command.actor_id}:{command.command_id}"


def journey_id_for(command: SubmitApplication) -> str:
    return str(uuid.uuid5(JOURNEY_IDS, command_key(command)))


# ---------------------------------------------------------------- commands


async def submit_application(
    command: SubmitApplication, ports: Ports, causation_id: UUID | None = None, within: Basins = None
) -> Result:
    journey_id = journey_id_for(command)
    existing = await ports.journeys.get(journey_id)
    if existing is not None:
        return Result(existing, replayed=True)
    offer = await _eligible_offer(command.offer_id, ports)
    transitions.check_scope(offer.basin, within)
    actor = Actor(command.actor_role, command.actor_id)
    seeker_id = command.seeker_id or (command.actor_id if actor.role == Role.SEEKER else str(uuid.uuid4()))
    now = now_ms(ports.clock)
    decision = transitions.start(_new_journey(journey_id, offer, seeker_id, ports.region, now), actor, now)
    contact = await _save_applicant(command, seeker_id, offer, ports, journey_id)
    outbox = [event_item(decision.journey, f, actor, causation_id, now) for f in decision.facts]
    outbox.append(contact_item(contact, ports.region, now))
    write = Write(decision.journey, outbox, timers_after_change(decision.journey, now), command_key(command))
    if not await ports.journeys.create(write):
        stored = await ports.journeys.get(journey_id)
        if stored is None:
            raise Conflict("parcours en cours de création, réessayez")
        return Result(stored, replayed=True)
    ports.after_write()
    await ports.read_models.project(decision.journey)
    log.info("journey started", journey_id=journey_id, offer_id=offer.offer_id, basin=offer.basin)
    return Result(decision.journey)


async def _eligible_offer(offer_id: str, ports: Ports) -> OfferView:
    offer = await ports.offers.get(offer_id)
    if offer is None:
        raise OfferNotEligible(f"offre {offer_id} inconnue")
    if not offer.eligible:
        why = "; ".join(offer.reasons) or "aucune session financée liée"
        raise OfferNotEligible(f"offre {offer_id} non éligible : {why}")
    return offer


def _new_journey(journey_id: str, offer: OfferView, seeker_id: str, region: str, now: datetime) -> Journey:
    return Journey(
        journey_id=journey_id,
        offer_id=offer.offer_id,
        region=region,
        basin=offer.basin,
        seeker_id=seeker_id,
        state=transitions.S.APPLIED,
        created_at=now,
        updated_at=now,
        offer_title=offer.title,
        employer_id=offer.employer_id,
        sessions=list(offer.sessions),
    )


async def _save_applicant(
    command: SubmitApplication, seeker_id: str, offer: OfferView, ports: Ports, journey_id: str
) -> Contact:
    known = await ports.contacts.get(seeker_id)
    messages = {
        **(known.messages if known else {}),
        **({journey_id: command.message} if command.message else {}),
    }
    contact = Contact(
        person_id=seeker_id,
        role=Role.SEEKER,
        first_name=command.first_name,
        last_name=command.last_name,
        email=command.email,
        phone=command.phone,
        postal_code=command.postal_code,
        education_level=command.education_level,
        jobseeker_status=command.jobseeker_status,
        consent_email=command.consent_email,
        consent_sms=command.consent_sms,
        basin=known.basin if known else offer.basin,
        messages=messages,
    )
    await ports.contacts.save(contact)
    return contact


def _backoff(attempt: int) -> float:
    """Seconds to wait before a retry of a write that lost a race: 0, 10, 30, 70 ms... at most 0.5 s."""
    return min(0.01 * float(2**attempt - 1), 0.5)


async def act(
    command: OnJourney,
    ports: Ports,
    causation_id: UUID | None = None,
    within: Basins = None,
    attempts: int = 8,
) -> Result:
    """Apply a command to an existing journey, retrying when another write won the race."""
    key, actor = command_key(command), Actor(command.actor_role, command.actor_id)
    for attempt in range(attempts):
        await asyncio.sleep(_backoff(attempt))  # another write of this journey is under way: let it land
        journey = await ports.journeys.get(command.journey_id)
        if journey is None:
            raise NotFound(f"parcours {command.journey_id} inconnu")
        transitions.check_scope(journey.basin, within)
        if await ports.journeys.seen(journey.journey_id, key):
            return Result(journey, replayed=True)
        now = now_ms(ports.clock)
        decision = transitions.decide(journey, Action(command.event_type), actor, command, now)
        outbox = [event_item(decision.journey, f, actor, causation_id, now) for f in decision.facts]
        write = Write(decision.journey, outbox, timers_after_change(decision.journey, now), key)
        if await ports.journeys.update(write, journey.revision):
            ports.after_write()
            await ports.read_models.project(decision.journey)
            return Result(decision.journey)
    raise Conflict(f"le parcours {command.journey_id} change trop vite, réessayez")


async def execute(
    command: JourneyCommand, ports: Ports, causation_id: UUID | None = None, within: Basins = None
) -> Result:
    """Run a command; ``within``: the basins the caller is limited to (None: every basin)."""
    if isinstance(command, SubmitApplication):
        return await submit_application(command, ports, causation_id, within)
    if isinstance(command, OnJourney):
        return await act(command, ports, causation_id, within)
    raise TypeError(f"not a journey command: {type(command).__name__}")


# ---------------------------------------------------------------- timers


async def fire_due_timers(ports: Ports, lease_s: float = 60, limit: int = 1000) -> int:
    """Fire every due timer (each claimed atomically, so two instances never fire one). Returns how many."""
    fired = 0
    for _ in range(limit):
        now = now_ms(ports.clock)
        timer = await ports.timers.claim_due(now, lease_s)
        if timer is None:
            break
        status = await _fire(
            timer.timer_id, timer.journey_id, timer.kind, timer.marker, timer.due_at, ports, now
        )
        await ports.timers.finish(timer.timer_id, status, now)
        fired += status == "fired"
    return fired


async def _fire(
    timer_id: str, journey_id: str, kind: Any, marker: str, due_at: datetime, ports: Ports, now: datetime
) -> str:
    for attempt in range(8):
        await asyncio.sleep(_backoff(attempt))
        journey = await ports.journeys.get(journey_id)
        if journey is None or not still_due(kind, marker, journey):
            return "skipped"
        if await ports.journeys.seen(journey_id, timer_id):
            return "fired"
        payload_fact = Fact(
            JourneyReminderDue.event_type,
            journey.state,
            journey.state,
            {"kind": kind, "due_on": due_at.date()},
        )
        # One event id per timer: even a timer fired twice is published once (the relay fences by id).
        item = event_item(journey, payload_fact, None, None, now, uuid.uuid5(JOURNEY_IDS, timer_id))
        if await ports.journeys.update(Write(journey, [item], reminder_id=timer_id), journey.revision):
            ports.after_write()
            return "fired"
    raise Conflict(f"timer {timer_id}: journey keeps changing")


# ---------------------------------------------------------------- relay


@dataclass
class JourneyOutbox:
    """The journeys' own outboxes as the shared relay reads them: each journey's events wait in its
    document (state and events land in one write). Done: the journeys' timers armed, the journeys marked
    relayed, their read models checked."""

    ports: Ports

    async def claim(self, limit: int, lease_s: float, mine: Sequence[str] = ()) -> list[Pending]:
        return await self.ports.journeys.pending(limit, now_ms(self.ports.clock), lease_s)

    async def done(self, claimed: Sequence[Pending]) -> None:
        await self.ports.timers.arm([timer for pending in claimed for timer in pending.timers])
        journeys = await self.ports.journeys.relayed(claimed)
        # Repairs the read models if the process stopped between a journey write and its projection.
        await self.ports.read_models.repair(journeys)


async def relay_once(ports: Ports, publisher: Publisher, limit: int = 200, lease_s: float = 10) -> int:
    """Publish pending outbox events and arm pending timers, then mark them done. Returns events sent.

    The journeys claimed in one pass are published together and their timers armed together (the events
    of each journey stay in order), then each is marked relayed: a stop in between publishes again what
    was not marked, never loses it.
    """
    return (await outbox.relay_once(JourneyOutbox(ports), publisher, limit=limit, lease_s=lease_s))[1]


async def relay_left(ports: Ports, publisher: Publisher) -> int:
    """Publish what a failed or interrupted contact change or erasure left in the outbox collection (a
    loop of its own, every ``OUTBOX_RELAY_INTERVAL_S``: not on each journey write's relay pass)."""
    return await ports.committing(publisher).relay_once(lease_s=ports.relay_lease_s)


# ---------------------------------------------------------------- contacts


CONTACT_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "postal_code",
    "education_level",
    "jobseeker_status",
    "consent_email",
    "consent_sms",
)


async def update_contact(
    person_id: str, changes: dict[str, Any], ports: Ports, publisher: Publisher
) -> Contact:
    """Change a person's details or consent and publish the new ContactUpserted."""
    contact = await ports.contacts.get(person_id)
    if contact is None:
        raise NotFound(f"personne {person_id} inconnue")
    for name, value in changes.items():
        if name in CONTACT_FIELDS:
            setattr(contact, name, value)
    item = contact_item(contact, ports.region, now_ms(ports.clock))  # a change it cannot carry fails here
    await ports.committing(publisher).commit([item], lambda: ports.contacts.save(contact))
    return contact


async def erase_person(person_id: str, ports: Ports, publisher: Publisher) -> int:
    """GDPR erasure: personal data leaves this service, a tombstone leaves on ``contacts``; journeys stay."""
    contact = await ports.contacts.get(person_id)

    async def forget() -> int:
        anonymised = await ports.journeys.forget_person(person_id)
        await ports.contacts.delete(person_id)
        return anonymised

    tombstone = OutboxItem.tombstone(CONTACTS, person_id, contact.basin if contact else None)
    anonymised = await ports.committing(publisher).commit([tombstone], forget)
    log.info("person erased", person_id=person_id, journeys=anonymised)
    return anonymised


ENDED = (JourneyState.DECLINED, JourneyState.ABANDONED, JourneyState.HIRED)
"""A journey has ended in these states (a hire's follow-ups fall within the retention period)."""


async def apply_retention(ports: Ports, publisher: Publisher, months: int) -> dict[str, int]:
    """Erase the personal data of seekers whose every journey ended ``months`` ago or more; their journeys
    stay, anonymised, and keep counting in the KPIs. Safe to repeat (a daily job)."""
    cutoff = datetime.combine(add_months(now_ms(ports.clock).date(), -months), time(0), tzinfo=UTC)
    candidates: set[str] = set()
    for state in ENDED:
        async for journey in _every(ports, JourneyQuery(state=state.value)):
            if journey.updated_at < cutoff:
                candidates.add(journey.seeker_id)
    erased = 0
    for seeker_id in sorted(candidates):
        if await ports.contacts.get(seeker_id) is None:
            continue  # erased already
        theirs = [j async for j in _every(ports, JourneyQuery(seeker_id=seeker_id))]
        if all(j.state in ENDED and j.updated_at < cutoff for j in theirs):
            await erase_person(seeker_id, ports, publisher)
            erased += 1
    log.info("retention applied", months=months, cutoff=cutoff.isoformat(), erased=erased)
    return {"people_erased": erased, "people_with_an_ended_journey_before_cutoff": len(candidates)}


async def _every(ports: Ports, query: JourneyQuery) -> AsyncIterator[Journey]:
    cursor: str | None = None
    while True:
        found = await ports.read_models.page(query, 0, 500, ports.journeys, cursor)
        for journey in found.items:
            yield journey
        if not found.next_cursor:
            return
        cursor = found.next_cursor


# ---------------------------------------------------------------- eligibility read model


async def on_eligibility_changed(event: OfferEligibilityChanged, ports: Ports) -> bool:
    return await ports.offers.save(offer_view(event))


# ---------------------------------------------------------------- KPIs


async def compute_kpis(ports: Ports, period: Period, basin: str | None = None) -> dict[str, Any]:
    """KPIs from the counters kept up to date by every write (no journey is read)."""
    return await ports.read_models.kpis(period, ports.region, basin)


async def rebuild_read_models(ports: Ports) -> dict[str, int]:
    """Recompute the lists and KPI counters from every journey, and list again the journeys with
    unpublished events and the pending timers (what an upgrade from a version without these lists needs)."""
    return {
        "journeys": await ports.read_models.rebuild(await ports.journeys.all()),
        "journeys_with_unpublished_events": await ports.journeys.relist_pending(),
        "pending_timers": await ports.timers.relist_pending(),
    }
