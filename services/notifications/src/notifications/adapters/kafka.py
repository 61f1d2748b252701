"""Delivery outcomes published on ``notifications.deliveries`` through the platform's one publisher."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from notifications.ports import Outcome
from tdu_shared.contracts.journeys import Role
from tdu_shared.contracts.notifications import DeliveryRecorded
from tdu_shared.envelope import Envelope, new_envelope
from tdu_shared.kafka import EventPublisher, Outgoing
from tdu_shared.topics import NOTIFICATIONS_DELIVERIES

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


class KafkaOutcomePublisher:
    def __init__(self, publisher: EventPublisher) -> None:
        self._publisher = publisher

    async def publish(self, outcomes: Sequence[Outcome]) -> None:
        if outcomes:
            await self._publisher.publish_many(
                [Outgoing(NOTIFICATIONS_DELIVERIES, o.delivery.key, delivery_event(o)) for o in outcomes]
            )
