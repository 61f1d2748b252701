"""Subscribers: offers.submitted -> decode -> batch use case -> DLQ for what can never be an offer."""

from __future__ import annotations

from collections.abc import Sequence

from faststream import AckPolicy

from offers.domain.refresh import Refresh
from offers.handlers import BatchResult, Deps, Submission, erase_contact, refresh_completed, submit_batch
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
from tdu_shared.kafka import Consumed, DeadLetters, Record, Subscription, apply_batch
from tdu_shared.runtime import ServiceRuntime
from tdu_shared.topics import CONTACTS, OFFERS_STATE, OFFERS_SUBMITTED


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


async def consume_submissions(events: Sequence[Consumed], deps: Deps, dead_letters: DeadLetters) -> None:
    """Runs of submissions through the batch use case, refresh markers in their place."""
    run: list[tuple[Record, Submission]] = []
    for event in events:
        if isinstance(event.payload, OfferSubmitted):
            run.append((event.record, submission_of(event.event, event.record)))
            continue
        await _submit(run, deps, dead_letters)
        run = []
        await refresh_completed(refresh_of(event.payload), deps)
    await _submit(run, deps, dead_letters)


async def _submit(run: list[tuple[Record, Submission]], deps: Deps, dead_letters: DeadLetters) -> None:
    """The run in one batch (record by record if the batch fails); records that can never be offers go
    to the DLQ with their reason."""

    async def alone(record: Record, submission: Submission) -> None:
        result = await submit_batch([submission], deps)
        if result.rejected:
            raise InvalidMessage(result.rejected[0])

    async def batch(submissions: list[Submission]) -> BatchResult:
        return await submit_batch(submissions, deps)

    result = await apply_batch(run, batch, dead_letters, alone)
    for position, reason in (result.rejected if result else {}).items():
        await dead_letters.send(run[position][0], reason, "InvalidRecord")


def erased_employers(events: Sequence[Consumed]) -> list[str]:
    """The employers erased by these ``contacts`` records (others are upserts, or other people's)."""
    keys = [e.record.key_text for e in events if e.envelope is None]
    return [k for k in keys if k and k.startswith("employer:")]


def register_consumers(runtime: ServiceRuntime, deps: Deps, batch_size: int) -> None:
    dead_letters = runtime.dead_letters(runtime.group_id())

    async def on_offers_submitted(events: list[Consumed]) -> None:
        await consume_submissions(events, deps, dead_letters)

    runtime.subscribe(
        Subscription(OFFERS_SUBMITTED, batch=on_offers_submitted),
        max_records=batch_size,
        title="offers.submitted: OfferSubmitted, OfferRefreshCompleted",
        description="Raw offers (France Travail v2 records, partner and employer offers) and full-refresh "
        "end markers. Each batch is stored with one bulk write and its events published at once; "
        "records that can never be offers go to offers.submitted.dlq with the reason.",
    )

    async def erase(events: list[Consumed]) -> None:
        for person_id in erased_employers(events):
            await erase_contact(person_id, deps)

    # The contacts' upserts are not for this service, and what cannot be used there is dead-lettered by
    # the notifications service, which reads them all.
    runtime.subscribe(
        Subscription(CONTACTS, batch=erase, tombstones=True, dead_letters=False),
        group="erasure",
        title="contacts: tombstones (erasure)",
        description="A tombstone erases the employer contact it names from this service's store.",
    )

    async def forget(events: list[Consumed]) -> None:
        for person_id in erased_employers(events):
            deps.store.forget_contact(person_id)

    runtime.subscribe(
        Subscription(CONTACTS, batch=forget, tombstones=True, dead_letters=False),
        group=f"erasure-{runtime.instance}",
        auto_offset_reset="latest",
        ack_policy=AckPolicy.MANUAL,  # nothing to resume: a restarted instance remembers nothing
        title="contacts: tombstones (this instance's memory)",
        description="Every instance forgets an erased contact it remembers (a group of its own, from now).",
    )

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
