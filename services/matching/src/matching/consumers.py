"""Kafka subscribers: raw records -> decoded events (bad ones to the DLQ) -> use cases.

- offers.state: this instance's share of the partitions (consumer group). When partitions are assigned,
  their offers are rebuilt from the compacted topic before anything else; revoked ones are forgotten.
- trainings.sessions: read in full by every matcher (a private group, from the beginning): the catalogue.
- matching.eligibility: read in full by every search replica (a private group): the search index.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from aiokafka import ConsumerRebalanceListener, TopicPartition

from matching.adapters.kafka import CatchUp, read_partitions
from matching.domain.search import SearchIndex
from matching.handlers import MatchingService, apply_eligibility
from tdu_shared.contracts.matching import OfferEligibilityChanged
from tdu_shared.envelope import Envelope, decode_event
from tdu_shared.errors import InvalidMessage
from tdu_shared.kafka import Consumed, Record, Subscription
from tdu_shared.runtime import ServiceRuntime
from tdu_shared.topics import (
    MATCHING_ELIGIBILITY,
    OFFERS_STATE,
    TRAININGS_SESSIONS,
)

log = structlog.get_logger(__name__)


class OfferPartitions(ConsumerRebalanceListener):  # type: ignore[misc]
    """Rebuilds the offers of newly owned partitions from offers.state; forgets those no longer owned."""

    def __init__(self, runtime: ServiceRuntime, service: MatchingService, catalogue: CatchUp) -> None:
        self._runtime = runtime
        self._service = service
        self._catalogue = catalogue
        self.owned: set[int] = set()
        """Partitions whose offers this instance holds (set once their rebuild is done)."""

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        """Nothing yet: the partitions may come back in the next assignment (eager rebalance)."""

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        now = {tp.partition for tp in assigned}
        lost, gained = self.owned - now, now - self.owned
        topic = self._runtime.topic(OFFERS_STATE)
        if lost:
            count = await self._runtime.publisher.partition_count(topic)
            assignment = self._runtime.publisher.assignment
            forgotten = self._service.forget_offers(
                lambda o: assignment.partition(o.basin, o.offer_id, count) not in lost
            )
            log.info("offer partitions revoked", partitions=sorted(lost), offers_forgotten=forgotten)
        if gained:
            await self._catalogue.ready.wait()
            await self._rebuild(topic, gained)
        self.owned = now

    async def _rebuild(self, topic: str, partitions: set[int]) -> None:
        bootstrap, rebuilt, published = self._runtime.settings.kafka_bootstrap_servers, 0, 0
        async for records in read_partitions(bootstrap, topic, partitions):
            events = []
            for record in records:
                try:
                    events.append(decode_event(record.value, expected=OFFERS_STATE.event_types))
                except InvalidMessage:
                    continue  # the group consumer dead-letters it when it reads it
            published += await self._service.on_offer_events(events)
            rebuilt += len(events)
        log.info(
            "offer partitions rebuilt", partitions=sorted(partitions), events=rebuilt, published=published
        )


def register_matcher(
    runtime: ServiceRuntime, service: MatchingService, catalogue: CatchUp, instance: str
) -> OfferPartitions:
    listener = OfferPartitions(runtime, service, catalogue)

    async def on_offers(events: list[Consumed]) -> None:
        await catalogue.ready.wait()
        await service.on_offer_events(envelopes(events))

    runtime.subscribe(
        Subscription(OFFERS_STATE, batch=on_offers),
        group="offers",
        listener=listener,
        title="offers.state (OfferPublished, OfferUpdated, OfferWithdrawn)",
        description="Offers of the basins of the partitions this instance owns: each event re-evaluates its "
        "offer; OfferEligibilityChanged is published when the result changes.",
    )

    async def on_sessions(events: list[Consumed]) -> None:
        await service.on_session_events(envelopes(events))

    runtime.subscribe(
        Subscription(TRAININGS_SESSIONS, batch=on_sessions, observe=catalogue.observe),
        group=f"catalogue-{instance}",
        title="trainings.sessions (SessionPublished, SessionUpdated, SessionWithdrawn)",
        description="The whole catalogue, read from the beginning by every matcher: a session event "
        "re-evaluates only the offers of its fiches within reach.",
    )

    runtime.broker.publisher(
        runtime.topic(MATCHING_ELIGIBILITY),
        schema=Envelope[OfferEligibilityChanged],
        description="OfferEligibilityChanged, keyed by offer id, partitioned by basin, only when the result "
        "(eligible or not, linked sessions and distances) changes.",
    )
    return listener


def envelopes(events: list[Consumed]) -> list[Envelope[Any]]:
    return [e.event for e in events]


def register_search(runtime: ServiceRuntime, index: SearchIndex, loaded: CatchUp, instance: str) -> None:
    async def apply(events: list[Consumed]) -> None:
        apply_eligibility(index, envelopes(events))

    def observe(records: Sequence[Record]) -> None:
        was_ready = loaded.ready.is_set()
        loaded.observe(records)
        if loaded.ready.is_set() and not was_ready:
            index.compact()

    runtime.subscribe(
        Subscription(MATCHING_ELIGIBILITY, batch=apply, observe=observe),
        group=f"search-{instance}",
        max_records=2000,
        title="matching.eligibility (OfferEligibilityChanged)",
        description="Read from the beginning by every search replica: eligible offers enter the in-memory "
        "search index, others leave it.",
    )
