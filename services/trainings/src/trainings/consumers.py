"""Kafka subscribers: partner sessions on ``trainings.submitted``; declared outputs for the AsyncAPI docs."""

from __future__ import annotations

from typing import Union

from tdu_shared.clock import SystemClock
from tdu_shared.contracts.contacts import ContactUpserted
from tdu_shared.contracts.trainings import (
    SessionPublished,
    SessionSubmitted,
    SessionUpdated,
    SessionWithdrawn,
)
from tdu_shared.envelope import Envelope
from tdu_shared.kafka import Consumed, Subscription
from tdu_shared.outbox import Outbox
from tdu_shared.runtime import ServiceRuntime
from tdu_shared.topics import CONTACTS, TRAININGS_SESSIONS, TRAININGS_SUBMITTED
from trainings.domain.normalise import Reference
from trainings.handlers import CatalogueSync, on_session_submitted
from trainings.ports import SessionRepository


def register_consumers(
    runtime: ServiceRuntime, repository: SessionRepository, ref: Reference, outbox: Outbox
) -> None:
    async def handle_one(event: Consumed) -> None:
        envelope = event.event
        payload: SessionSubmitted = envelope.payload
        sync = CatalogueSync(
            repository,
            outbox,
            SystemClock(),
            region=runtime.settings.region,
            correlation_id=envelope.correlation_id or envelope.event_id,
            causation_id=envelope.event_id,
        )
        await on_session_submitted(payload, ref, sync)

    runtime.subscribe(
        Subscription(TRAININGS_SUBMITTED, each=handle_one),
        group="submitted",
        title="trainings.submitted: SessionSubmitted",
        description="Sessions sent by partner systems as JSON (SessionSubmitted); refused ones go to DLQ.",
    )


def declare_publishers(runtime: ServiceRuntime) -> None:
    """Declaration only, for the AsyncAPI document: events go out through ``runtime.publisher``."""
    runtime.broker.publisher(
        runtime.topic(TRAININGS_SESSIONS),
        schema=Envelope[Union[SessionPublished, SessionUpdated, SessionWithdrawn]],  # noqa: UP007
        title="trainings.sessions: SessionPublished / SessionUpdated / SessionWithdrawn",
        description="Sessions keyed by session id, partitioned by basin (compacted).",
    )
    runtime.broker.publisher(
        runtime.topic(CONTACTS),
        schema=Envelope[ContactUpserted],
        title="contacts: ContactUpserted",
        description="Contacts of training providers (role training_provider), keyed by person id.",
    )
