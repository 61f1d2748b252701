"""Subscribers: offers.submitted -> decode -> batch use case -> DLQ for what can never be an offer."""

from __future__ import annotations

from collections.abc import Sequence

import structlog
from faststream.kafka import KafkaMessage

from offers.domain.refresh import Refresh
from offers.handlers import Deps, Submission, refresh_completed, submit_batch
from tdu_shared.contracts.contacts import ContactUpserted
from tdu_shared.contracts.offers import (
    OfferPublished,
    OfferRefreshCompleted,
    OfferSubmitted,
    OfferUpdated,
    OfferWithdrawn,
)
from tdu_shared.envelope import Envelope
from tdu_shared.errors import InvalidMessage
from tdu_shared.kafka import (
    INFRASTRUCTURE_ERRORS,
    DeadLetters,
    Record,
    decode_batch,
    handle_records,
    records_of,
    subscriber_options,
)
from tdu_shared.runtime import ServiceRuntime
from tdu_shared.topics import CONTACTS, OFFERS_STATE, OFFERS_SUBMITTED

log = structlog.get_logger(__name__)


def submission_of(envelope: Envelope[OfferSubmitted], record: Record) -> Submission:
    p = envelope.payload
    return Submission(
        source=p.source,
        record=p.record,
        partner=p.partner,
        refresh_id=p.refresh_id,
        marker=f"{record.partition}:{record.offset}",
        correlation_id=envelope.correlation_id or envelope.event_id,
        causation_id=envelope.event_id,
    )


def refresh_of(payload: OfferRefreshCompleted) -> Refresh:
    return Refresh(
        payload.refresh_id,
        payload.source,
        payload.partner,
        payload.scope,
        payload.scope_code,
        payload.submitted,
    )


async def consume_submissions(records: Sequence[Record], deps: Deps, dead_letters: DeadLetters) -> None:
    """Decode the batch; run runs of submissions through the batch use case, refresh markers in order."""
    run: list[tuple[Record, Submission]] = []
    for record, envelope in await decode_batch(records, OFFERS_SUBMITTED, dead_letters):
        if isinstance(envelope.payload, OfferSubmitted):
            run.append((record, submission_of(envelope, record)))
            continue
        await _submit(run, deps, dead_letters)
        run = []
        await refresh_completed(refresh_of(envelope.payload), deps)
    await _submit(run, deps, dead_letters)


async def _submit(run: list[tuple[Record, Submission]], deps: Deps, dead_letters: DeadLetters) -> None:
    if not run:
        return
    try:
        result = await submit_batch([s for _, s in run], deps)
    except INFRASTRUCTURE_ERRORS:
        raise
    except Exception:
        log.exception("batch failed: retrying its records one by one", records=len(run))
        await _one_by_one(run, deps, dead_letters)
        return
    for position, reason in result.rejected.items():
        await dead_letters.send(run[position][0], reason, "InvalidRecord")


async def _one_by_one(run: list[tuple[Record, Submission]], deps: Deps, dead_letters: DeadLetters) -> None:
    by_offset = {(r.partition, r.offset): s for r, s in run}

    async def handle(record: Record) -> None:
        result = await submit_batch([by_offset[(record.partition, record.offset)]], deps)
        if result.rejected:
            raise InvalidMessage(result.rejected[0])

    await handle_records([r for r, _ in run], handle, dead_letters)


def register_consumers(runtime: ServiceRuntime, deps: Deps, batch_size: int) -> None:
    group = runtime.group_id()
    dead_letters = runtime.dead_letters(group)

    @runtime.broker.subscriber(  # type: ignore[untyped-decorator]
        runtime.topic(OFFERS_SUBMITTED),
        title="offers.submitted: OfferSubmitted, OfferRefreshCompleted",
        description="Raw offers (France Travail v2 records, partner and employer offers) and full-refresh "
        "end markers. Each batch is stored with one bulk write and its events published at once; "
        "records that can never be offers go to offers.submitted.dlq with the reason.",
        **subscriber_options(group, batch=True, max_records=batch_size),
    )
    async def on_offers_submitted(message: KafkaMessage) -> None:
        await consume_submissions(records_of(message), deps, dead_letters)

    runtime.broker.publisher(
        runtime.topic(OFFERS_STATE),
        title="offers.state: OfferPublished, OfferUpdated, OfferWithdrawn",
        schema=Envelope[OfferPublished] | Envelope[OfferUpdated] | Envelope[OfferWithdrawn],
        description="Clean, located offers keyed by offer id, partitioned by basin. Never personal data.",
    )
    runtime.broker.publisher(
        runtime.topic(CONTACTS),
        title="contacts: ContactUpserted (employers)",
        schema=Envelope[ContactUpserted],
        description="Employer contacts found on offers, keyed by an opaque person id ('employer:<hash>').",
    )
