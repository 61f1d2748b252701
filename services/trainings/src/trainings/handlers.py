"""Use cases: import a catalogue snapshot, take a partner's session, withdraw what left the catalogue.

Every change goes through the service's outbox (``tdu_shared.outbox``): its events are stored, the
store is updated, the events are published (acks=all), then forgotten. A crash in between publishes them
again from the outbox (same deterministic event ids) instead of losing one. A redelivered or re-imported
unchanged session changes nothing and emits nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

import structlog

from tdu_shared.clock import Clock
from tdu_shared.contracts.contacts import ContactUpserted
from tdu_shared.contracts.journeys import Role
from tdu_shared.contracts.trainings import (
    SessionPublished,
    SessionSubmitted,
    SessionUpdated,
    SessionWithdrawn,
)
from tdu_shared.envelope import Payload, new_envelope
from tdu_shared.errors import InvalidMessage
from tdu_shared.outbox import Outbox, OutboxItem
from tdu_shared.topics import CONTACTS, TRAININGS_SESSIONS
from trainings.domain.model import CatalogueBroken, Rejection, Session
from trainings.domain.normalise import Reference, normalise
from trainings.domain.report import FormationResult, ImportReport
from trainings.domain.sync import (
    Change,
    StoredSession,
    change_of,
    fingerprint,
    missing_from_snapshot,
    next_revision,
)
from trainings.ports import SessionRecord, SessionRepository, SessionSink
from trainings.translate import raw_of_submitted, to_state

PRODUCER = "trainings"
TOPICS = (TRAININGS_SESSIONS, CONTACTS)
"""What trainings publishes: the sessions, and their providers' contacts."""
log = structlog.get_logger(__name__)


def event_id(session_id: str, revision: int, event_type: str) -> UUID:
    """Deterministic: the same change published twice carries the same id, so consumers drop the copy."""
    return uuid5(NAMESPACE_URL, f"trainings:{session_id}:{revision}:{event_type}")


# ---------------------------------------------------------------- sinks


class DryRun:
    """Counts only: no store, no broker."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    async def accept(self, sessions: Sequence[Session]) -> None:
        return None

    async def complete(self, source: str, seen: set[str]) -> None:
        return None


class CatalogueSync:
    """Brings the catalogue in line with what a source says: publish new and changed, withdraw missing."""

    def __init__(
        self,
        repository: SessionRepository,
        outbox: Outbox,
        clock: Clock,
        *,
        region: str,
        correlation_id: UUID | None = None,
        causation_id: UUID | None = None,
    ) -> None:
        self.repository = repository
        self.outbox = outbox
        self.clock = clock
        self.region = region
        self.correlation_id = correlation_id
        self.causation_id = causation_id
        self.counts: dict[str, int] = {"published": 0, "updated": 0, "unchanged": 0, "withdrawn": 0}

    def _event_of(
        self, payload: Payload, *, region: str | None, basin: str | None, key: str, revision: int
    ) -> OutboxItem:
        envelope = new_envelope(
            payload,
            producer=PRODUCER,
            region=region or self.region,
            basin=basin,
            correlation_id=self.correlation_id,
            causation_id=self.causation_id,
            event_id=event_id(key, revision, payload.event_type),
        )
        return OutboxItem.of(
            CONTACTS if isinstance(payload, ContactUpserted) else TRAININGS_SESSIONS, key, envelope
        )

    async def accept(self, sessions: Sequence[Session]) -> None:
        stored = await self.repository.stored([s.session_id for s in sessions])
        records: list[SessionRecord] = []
        events: list[OutboxItem] = []
        contacts: dict[str, OutboxItem] = {}
        for session in sessions:
            digest = fingerprint(session)
            before = stored.get(session.session_id)
            change = change_of(before, digest)
            self.counts[change.value] += 1
            if change is Change.UNCHANGED:
                continue
            state = to_state(session, next_revision(before))
            records.append(SessionRecord(state, digest))
            payload = (
                SessionPublished(session=state)
                if change is Change.PUBLISHED
                else SessionUpdated(session=state)
            )
            events.append(
                self._event_of(
                    payload,
                    region=state.region,
                    basin=state.basin,
                    key=state.session_id,
                    revision=state.revision,
                )
            )
            contact = self._contact_of(session, state.revision)
            if contact is not None:
                contacts.setdefault(contact.key, contact)
        if events:
            await self.outbox.commit([*contacts.values(), *events], lambda: self.repository.save(records))

    def _contact_of(self, session: Session, revision: int) -> OutboxItem | None:
        provider = session.provider
        if provider.contact_id is None or provider.email is None:
            return None
        payload = ContactUpserted(
            person_id=provider.contact_id,
            role=Role.TRAINING_PROVIDER,
            display_name=(provider.name or "")[:200] or None,
            email=provider.email[:254],
            consent_email=True,
            consent_sms=False,
        )
        return self._event_of(
            payload, region=session.region, basin=session.basin, key=provider.contact_id, revision=revision
        )

    async def complete(self, source: str, seen: set[str]) -> None:
        gone = missing_from_snapshot(await self.repository.active_of_source(source), seen)
        now = self.clock.now()
        for start in range(0, len(gone), 500):
            await self.withdraw(gone[start : start + 500], now)

    async def withdraw(self, sessions: Sequence[StoredSession], at: datetime) -> None:
        events = [
            self._event_of(
                SessionWithdrawn(session_id=s.session_id, reason="missing_from_snapshot", withdrawn_at=at),
                region=s.region,
                basin=s.basin,
                key=s.session_id,
                revision=s.revision,
            )
            for s in sessions
        ]
        await self.outbox.commit(events, lambda: self.repository.mark_withdrawn(sessions, at))
        self.counts["withdrawn"] += len(sessions)


# ---------------------------------------------------------------- use cases


async def import_catalogue(
    formations: AsyncIterator[FormationResult], source: str, sink: SessionSink, *, batch_size: int = 500
) -> ImportReport:
    """Stream a catalogue snapshot into ``sink``; withdraw what it no longer lists if it parsed to the end.

    A file that breaks midway keeps what was read before the break (published or updated) but withdraws
    nothing; the report says where it broke.
    """
    report = ImportReport(source=source)
    seen: set[str] = set()
    batch: list[Session] = []
    try:
        async for formation in formations:
            report.count_formation(formation)
            for result in formation.results:
                if isinstance(result, Session) and result.session_id in seen:
                    result = Rejection(
                        "duplicate_session_id",
                        result.formation_id,
                        result.action_id,
                        result.session_id.rsplit(":", 1)[-1],
                    )
                if isinstance(result, Rejection):
                    report.reject(result)
                    continue
                seen.add(result.session_id)
                report.count_session(result)
                batch.append(result)
                if len(batch) >= batch_size:
                    await sink.accept(batch)
                    batch = []
    except CatalogueBroken as exc:
        report.error, report.error_line = exc.message, exc.line
        log.warning("catalogue broken, nothing withdrawn", source=source, line=exc.line, error=exc.message)
    if batch:
        await sink.accept(batch)
    if report.error is None:
        await sink.complete(source, seen)
        report.complete = True
    report.published, report.updated = sink.counts.get("published", 0), sink.counts.get("updated", 0)
    report.unchanged, report.withdrawn = sink.counts.get("unchanged", 0), sink.counts.get("withdrawn", 0)
    return report


async def on_session_submitted(payload: SessionSubmitted, ref: Reference, sync: CatalogueSync) -> None:
    """A partner's session: normalised by the catalogue's rules, published if new or changed."""
    result = normalise(raw_of_submitted(payload), payload.source, ref)
    if isinstance(result, Rejection):
        raise InvalidMessage(
            f"session refused: {result.reason}{': ' + result.detail if result.detail else ''}"
        )
    await sync.accept([result])
