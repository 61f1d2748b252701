"""Kafka subscribers: journey events become stored deliveries; contacts and tombstones update contacts."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from notifications import handlers
from notifications.domain.model import Contact
from notifications.ports import ContactStore, DeliveryStore
from notifications.translate import contact_of, facts_of
from notifications.webhooks.dispatcher import WebhookLoop
from notifications.webhooks.planner import WebhookPlanner
from notifications.worker import DeliveryLoop
from tdu_shared.clock import Clock
from tdu_shared.errors import InvalidMessage
from tdu_shared.kafka import Consumed, Subscription
from tdu_shared.runtime import ServiceRuntime
from tdu_shared.topics import CONTACTS, JOURNEYS_EVENTS
from tdu_shared.tracing import header_value


@dataclass
class Wiring:
    deliveries: DeliveryStore
    contacts: ContactStore
    clock: Clock
    loop: DeliveryLoop
    linger_ms: int = 0


def register(runtime: ServiceRuntime, wiring: Wiring) -> None:
    async def on_journey_events(events: list[Consumed]) -> None:
        facts = [facts_of(e.event, header_value(e.record.headers)) for e in events]
        wiring.loop.offer(await handlers.record_planned(facts, wiring.deliveries, wiring.clock))

    runtime.subscribe(
        Subscription(JOURNEYS_EVENTS, batch=on_journey_events),
        group="journeys",
        linger_ms=wiring.linger_ms,
        title="journeys.events -> deliveries",
        description="Every journey event (Envelope[JourneyEvent subtypes], tdu_shared.contracts.journeys): "
        "the messages it calls for are stored, then delivered by the delivery loop.",
    )

    async def handle_contact(event: Consumed) -> None:
        record = event.record
        if event.envelope is None:
            if not record.key_text:
                raise InvalidMessage("tombstone without a person id key")
            await handlers.on_contact_erased(
                record.key_text, record.written_at, wiring.contacts, wiring.deliveries
            )
            return
        released = await handlers.on_contact_upserted(
            contact_of(event.payload),
            event.event.occurred_at,
            wiring.contacts,
            wiring.deliveries,
            wiring.clock,
        )
        if released:
            wiring.loop.wake()

    async def handle_contacts(events: list[Consumed]) -> None:
        """Upserts in one go (a store round trip per run, not per contact), tombstones in their place."""
        upserts: list[tuple[Contact, datetime]] = []
        for event in [*events, None]:
            if event is not None and event.envelope is not None:
                upserts.append((contact_of(event.payload), event.envelope.occurred_at))
                continue
            if upserts and await handlers.on_contacts_upserted(
                upserts, wiring.contacts, wiring.deliveries, wiring.clock
            ):
                wiring.loop.wake()
            upserts = []
            if event is not None:  # a tombstone, after the upserts before it
                await handle_contact(event)

    runtime.subscribe(
        Subscription(CONTACTS, batch=handle_contacts, each=handle_contact, tombstones=True),
        group="contacts",
        title="contacts -> directory",
        description="ContactUpserted (tdu_shared.contracts.contacts, v1 upcast to v2) keeps names, addresses "
        "and consent; a tombstone erases the person.",
    )


def register_webhooks(
    runtime: ServiceRuntime, planner: WebhookPlanner, loop: WebhookLoop, keys_wait_s: float = 60.0
) -> None:
    """Webhooks follow journeys.events in a consumer group of their own: the e-mails' consumer never waits
    for them, nor they for it. A record that cannot be used is dead-lettered by the e-mails' consumer (it
    reads the same records); here it is skipped."""

    async def on_journey_events_for_webhooks(events: list[Consumed]) -> None:
        # partner keys first: who may receive what (a timeout is retried: the batch comes back)
        await asyncio.wait_for(runtime.keys.loaded.wait(), keys_wait_s)
        planned = await planner.plan([e.event for e in events])
        if planned.due:
            loop.offer(planned.due)

    runtime.subscribe(
        Subscription(JOURNEYS_EVENTS, batch=on_journey_events_for_webhooks, dead_letters=False),
        group="webhooks",
        title="journeys.events -> webhooks",
        description="Every journey event: one delivery per matching webhook subscription is stored, then "
        "posted to the partner by the webhook loop.",
    )
