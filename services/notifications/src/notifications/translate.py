"""Contract and domain, one into the other: a journey event as the facts routing and templates read, a
ContactUpserted as the contact the delivery rules use. Pure functions."""

from __future__ import annotations

from typing import Any

from notifications.domain.model import Contact, JourneyFacts
from tdu_shared.contracts.contacts import ContactUpserted
from tdu_shared.contracts.journeys import JourneyEvent, JourneyReminderDue
from tdu_shared.envelope import Envelope
from tdu_shared.errors import InvalidMessage

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
