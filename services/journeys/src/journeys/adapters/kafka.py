"""The Kafka side of journeys' outbox: stored events go out through the platform's EventPublisher."""

from __future__ import annotations

from tdu_shared.kafka import EventPublisher
from tdu_shared.outbox import KafkaItems
from tdu_shared.topics import CONTACTS, JOURNEYS_EVENTS

TOPICS = (JOURNEYS_EVENTS, CONTACTS)
"""What journeys publishes: its journeys' events, and the contacts of the people it knows."""


def kafka_publisher(publisher: EventPublisher) -> KafkaItems:
    return KafkaItems(publisher, TOPICS)
