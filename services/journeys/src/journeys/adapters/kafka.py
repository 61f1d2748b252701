"""The Kafka side of the outbox: stored envelopes go out through the platform's EventPublisher."""

from __future__ import annotations

from collections.abc import Sequence

from journeys.ports import OutboxItem
from tdu_shared.envelope import decode_event
from tdu_shared.kafka import EventPublisher, Outgoing
from tdu_shared.topics import CONTACTS, JOURNEYS_EVENTS, TopicSpec

SPECS: dict[str, TopicSpec] = {spec.name: spec for spec in (JOURNEYS_EVENTS, CONTACTS)}


class KafkaPublisher:
    def __init__(self, publisher: EventPublisher) -> None:
        self._publisher = publisher

    async def publish(self, items: Sequence[OutboxItem]) -> None:
        await self._publisher.publish_many(
            [Outgoing(SPECS[i.topic], i.key, decode_event(i.body.encode()), i.traceparent) for i in items]
        )

    async def tombstone(self, person_id: str, basin: str | None) -> None:
        await self._publisher.tombstone(CONTACTS, person_id, basin)
