"""Contract and domain, one into the other: a journey's facts as the events it publishes (in their
envelopes, ready for the outbox), a contact as its ContactUpserted, an eligibility event as the offer
view journeys keeps. Pure functions: no store, no broker."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from journeys.domain.model import Actor, Journey, SessionOption
from journeys.domain.transitions import Fact
from journeys.ports import Contact, OfferView
from tdu_shared.contracts.contacts import ContactUpserted
from tdu_shared.contracts.matching import OfferEligibilityChanged
from tdu_shared.envelope import Payload, model_for, new_envelope
from tdu_shared.outbox import OutboxItem
from tdu_shared.topics import CONTACTS, JOURNEYS_EVENTS, TopicSpec
from tdu_shared.tracing import traceparent

PRODUCER = "journeys"


def event_item(
    journey: Journey,
    fact: Fact,
    actor: Actor | None,
    causation_id: UUID | None,
    now: datetime,
    event_id: UUID | None = None,
) -> OutboxItem:
    model: type[Any] = model_for(fact.event_type)
    payload = model(
        journey_id=journey.journey_id,
        offer_id=journey.offer_id,
        seeker_id=journey.seeker_id,
        employer_id=journey.employer_id,
        session_id=journey.session_id,
        provider_id=journey.provider_id,
        from_state=fact.from_state,
        to_state=fact.to_state,
        actor_role=actor.role if actor else None,
        actor_id=actor.actor_id if actor else None,
        **fact.fields,
    )
    return _item(payload, journey.journey_id, JOURNEYS_EVENTS, journey, causation_id, now, event_id)


def _item(
    payload: Payload,
    key: str,
    topic: TopicSpec,
    journey: Journey,
    causation_id: UUID | None,
    now: datetime,
    event_id: UUID | None = None,
) -> OutboxItem:
    envelope = new_envelope(
        payload,
        producer=PRODUCER,
        region=journey.region,
        basin=journey.basin,
        correlation_id=UUID(journey.journey_id),
        causation_id=causation_id,
        occurred_at=now,
        event_id=event_id,
    )
    return OutboxItem.of(topic, key, envelope, traceparent())


def contact_payload(contact: Contact) -> ContactUpserted:
    return ContactUpserted(
        person_id=contact.person_id,
        role=contact.role,
        display_name=contact.display_name,
        email=contact.email,
        phone=contact.phone,
        consent_email=contact.consent_email,
        consent_sms=contact.consent_sms,
    )


def contact_item(contact: Contact, region: str, now: datetime) -> OutboxItem:
    envelope = new_envelope(
        contact_payload(contact), producer=PRODUCER, region=region, basin=contact.basin, occurred_at=now
    )
    return OutboxItem.of(CONTACTS, contact.person_id, envelope, traceparent())


def offer_view(event: OfferEligibilityChanged) -> OfferView:
    offer = event.offer
    sessions = tuple(
        SessionOption(s.session_id, s.provider_contact_id, s.start_date) for s in event.linked_sessions
    )
    return OfferView(
        offer_id=event.offer_id,
        eligible=event.eligible and offer is not None,
        evaluated_at=event.evaluated_at,
        title=offer.title if offer else None,
        basin=offer.basin if offer else None,
        employer_id=offer.employer_contact_id if offer else None,
        sessions=sessions,
        reasons=tuple(event.reasons),
        rome_code=(offer.rome_code or offer.rome_fiche) if offer else None,
        contract_type=offer.contract_type if offer else None,
    )
