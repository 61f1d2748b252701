"""Contract and domain, one into the other: a journey event as the facts routing and templates read, a
ContactUpserted as the contact the delivery rules use, a delivery's outcome as the DeliveryRecorded it
reports. Pure functions."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from notifications.domain.model import Contact, JourneyFacts
from notifications.ports import Outcome
from tdu_shared.contracts.contacts import ContactUpserted
from tdu_shared.contracts.journeys import JourneyEvent, JourneyReminderDue, Role
from tdu_shared.contracts.notifications import DeliveryRecorded
from tdu_shared.envelope import Envelope, new_envelope
from tdu_shared.errors import InvalidMessage
from tdu_shared.outbox import OutboxItem
from tdu_shared.topics import NOTIFICATIONS_DELIVERIES

BASE_FIELDS = set(JourneyEvent.model_fields)


def facts_of(envelope: Envelope[Any], traceparent: str | None = None) -> JourneyFacts:
    """A journey event's envelope as the domain sees it; event-specific fields go to the templates."""
    event = envelope.payload
    if not isinstance(event, JourneyEvent):
        raise InvalidMessage(f"{envelope.type} is not a journey event")
    return JourneyFacts(
        event_id=str(envelope.event_id),
        event_type=envelope.type,
        occurred_at=envelope.occurred_at,
        region=envelope.region,
        basin=envelope.basin,
        journey_id=event.journey_id,
        seeker_id=event.seeker_id,
        employer_id=event.employer_id,
        provider_id=event.provider_id,
        reminder_kind=event.kind.value if isinstance(event, JourneyReminderDue) else None,
        fields={
            "offer_id": event.offer_id,
            "session_id": event.session_id,
            **event.model_dump(mode="json", exclude=BASE_FIELDS),
        },
        traceparent=traceparent,
    )


def contact_of(event: ContactUpserted) -> Contact:
    return Contact(
        person_id=event.person_id,
        role=event.role.value,
        display_name=event.display_name,
        email=event.email,
        phone=event.phone,
        consent_email=event.consent_email,
        consent_sms=event.consent_sms,
    )


PRODUCER = "notifications"


def delivery_event(outcome: Outcome) -> Envelope[DeliveryRecorded]:
    d = outcome.delivery
    assert outcome.published is not None
    payload = DeliveryRecorded(
        delivery_id=d.key,
        event_id=UUID(d.facts.event_id),
        journey_id=d.facts.journey_id,
        recipient_id=d.recipient_id,
        recipient_role=Role(d.audience.value),
        channel=d.channel.value,
        template=d.template,
        status=outcome.published,
        reason=outcome.reason,
        attempts=outcome.attempts,
        provider_message_id=outcome.provider_message_id,
    )
    event_id = UUID(d.key + "0" * (32 - len(d.key))) if outcome.published != "deferred" else None
    return new_envelope(
        payload,
        producer=PRODUCER,
        region=d.facts.region,
        basin=d.facts.basin,
        correlation_id=UUID(d.facts.event_id),
        causation_id=UUID(d.facts.event_id),
        event_id=event_id,
    )


def report_item(outcome: Outcome) -> OutboxItem:
    """The outcome as the event published on ``notifications.deliveries`` (keyed by delivery)."""
    return OutboxItem.of(NOTIFICATIONS_DELIVERIES, outcome.delivery.key, delivery_event(outcome))
