"""Kafka subscribers: journey events become stored deliveries; contacts and tombstones update contacts."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog
from faststream.kafka import KafkaMessage

from notifications import handlers
from notifications.domain.model import Contact
from notifications.ports import ContactStore, DeliveryStore
from notifications.translate import contact_of, facts_of
from notifications.webhooks.dispatcher import WebhookLoop
from notifications.webhooks.planner import WebhookPlanner
from notifications.worker import DeliveryLoop
from tdu_shared.clock import Clock
from tdu_shared.envelope import decode_event
from tdu_shared.errors import InvalidMessage
from tdu_shared.kafka import Record, apply_batch, handle_records, records_of, subscriber_options
from tdu_shared.runtime import ServiceRuntime
from tdu_shared.topics import CONTACTS, JOURNEYS_EVENTS
from tdu_shared.tracing import header_value

log = structlog.get_logger(__name__)


@dataclass
class Wiring:
    deliveries: DeliveryStore
    contacts: ContactStore
    clock: Clock
    loop: DeliveryLoop
    linger_ms: int = 0


def register(runtime: ServiceRuntime, wiring: Wiring) -> None:
    journeys_group = runtime.group_id("journeys")
    journeys_dlq = runtime.dead_letters(journeys_group)

    @runtime.broker.subscriber(  # type: ignore[untyped-decorator]
        runtime.topic(JOURNEYS_EVENTS),
        title="journeys.events -> deliveries",
        description="Every journey event (Envelope[JourneyEvent subtypes], tdu_shared.contracts.journeys): "
        "the messages it calls for are stored, then delivered by the delivery loop.",
        **subscriber_options(journeys_group, batch=True, linger_ms=wiring.linger_ms),
    )
    async def on_journey_events(message: KafkaMessage) -> None:
        facts = []
        for record in records_of(message):
            try:
                event = decode_event(record.value, expected=JOURNEYS_EVENTS.event_types)
                facts.append(facts_of(event, header_value(record.headers)))
            except InvalidMessage as exc:
                await journeys_dlq.send(record, exc.reason, type(exc).__name__)
        if facts:
            wiring.loop.offer(await handlers.record_planned(facts, wiring.deliveries, wiring.clock))

    contacts_group = runtime.group_id("contacts")
    contacts_dlq = runtime.dead_letters(contacts_group)

    async def handle_contact(record: Record) -> None:
        if record.value is None:
            if not record.key_text:
                raise InvalidMessage("tombstone without a person id key")
            await handlers.on_contact_erased(
                record.key_text, record.written_at, wiring.contacts, wiring.deliveries
            )
            return
        envelope = decode_event(record.value, expected=CONTACTS.event_types)
        released = await handlers.on_contact_upserted(
            contact_of(envelope.payload),
            envelope.occurred_at,
            wiring.contacts,
            wiring.deliveries,
            wiring.clock,
        )
        if released:
            wiring.loop.wake()

    async def upsert_contacts(batch: list[tuple[Contact, datetime]]) -> int:
        return await handlers.on_contacts_upserted(batch, wiring.contacts, wiring.deliveries, wiring.clock)

    async def handle_contacts(records: Sequence[Record]) -> None:
        """Upserts in one go (a store round trip per batch, not per contact), tombstones in their place.
        A batch that fails as a whole is handled record by record, with the DLQ rules of each."""
        upserts: list[tuple[Record, tuple[Contact, datetime]]] = []
        for record in [*records, None]:
            if record is not None and record.value is not None:
                try:
                    envelope = decode_event(record.value, expected=CONTACTS.event_types)
                except InvalidMessage as exc:
                    await contacts_dlq.send(record, exc.reason, type(exc).__name__)
                    continue
                upserts.append((record, (contact_of(envelope.payload), envelope.occurred_at)))
                continue
            if await apply_batch(upserts, upsert_contacts, contacts_dlq, lambda r, _: handle_contact(r)):
                wiring.loop.wake()
            upserts = []
            if record is not None:  # a tombstone, after the upserts before it
                await handle_records([record], handle_contact, contacts_dlq)

    @runtime.broker.subscriber(  # type: ignore[untyped-decorator]
        runtime.topic(CONTACTS),
        title="contacts -> directory",
        description="ContactUpserted (tdu_shared.contracts.contacts, v1 upcast to v2) keeps names, addresses "
        "and consent; a tombstone erases the person.",
        **subscriber_options(contacts_group, batch=True),
    )
    async def on_contacts(message: KafkaMessage) -> None:
        await handle_contacts(records_of(message))


def register_webhooks(
    runtime: ServiceRuntime, planner: WebhookPlanner, loop: WebhookLoop, keys_wait_s: float = 60.0
) -> None:
    """Webhooks follow journeys.events in a consumer group of their own: the e-mails' consumer never waits
    for them, nor they for it. A record that cannot be used is dead-lettered by the e-mails' consumer (it
    reads the same records); here it is skipped."""
    group = runtime.group_id("webhooks")

    @runtime.broker.subscriber(  # type: ignore[untyped-decorator]
        runtime.topic(JOURNEYS_EVENTS),
        title="journeys.events -> webhooks",
        description="Every journey event: one delivery per matching webhook subscription is stored, then "
        "posted to the partner by the webhook loop.",
        **subscriber_options(group, batch=True),
    )
    async def on_journey_events_for_webhooks(message: KafkaMessage) -> None:
        events = []
        for record in records_of(message):
            try:
                events.append(decode_event(record.value, expected=JOURNEYS_EVENTS.event_types))
            except InvalidMessage as exc:
                log.warning(
                    "webhooks: unusable journey event skipped", offset=record.offset, reason=exc.reason
                )
        if events:
            # partner keys first: who may receive what (a timeout is retried: the batch comes back)
            await asyncio.wait_for(runtime.keys.loaded.wait(), keys_wait_s)
            planned = await planner.plan(events)
            if planned.due:
                loop.offer(planned.due)
