"""Use cases: offer and session events in, eligibility published only when it changes; search kept current.

Effects are idempotent: results are compared with the fingerprint last published for the offer (kept in
the ledger), so a redelivered event, a replay after a rebalance or a second instance publishes nothing new.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

import structlog

from matching.domain.matcher import Matcher
from matching.domain.model import Eligibility, Offer
from matching.domain.rules import window_from
from matching.domain.search import SearchIndex
from matching.ports import EligibilityLedger
from matching.translate import eligibility_changed, fingerprint, listing_of, offer_of, session_of, withdrawal
from tdu_shared.clock import Clock
from tdu_shared.contracts.matching import OfferEligibilityChanged
from tdu_shared.contracts.offers import OfferPublished, OfferUpdated, OfferWithdrawn
from tdu_shared.contracts.trainings import SessionPublished, SessionUpdated, SessionWithdrawn
from tdu_shared.envelope import Envelope, new_envelope
from tdu_shared.outbox import Outbox, OutboxItem
from tdu_shared.topics import MATCHING_ELIGIBILITY

log = structlog.get_logger(__name__)

PRODUCER = "matching"


@dataclass
class Cause:
    """The event a result answers, for correlation and causation ids."""

    event_id: UUID | None = None
    correlation_id: UUID | None = None

    @classmethod
    def of(cls, envelope: Envelope[Any]) -> Cause:
        return cls(envelope.event_id, envelope.correlation_id or envelope.event_id)


class MatchingService:
    """The matcher's use cases, given its ports. One lock keeps evaluate-record-publish in order; the
    events and the ledger's record go through the outbox (stored, recorded, published, forgotten)."""

    def __init__(
        self,
        matcher: Matcher,
        ledger: EligibilityLedger,
        outbox: Outbox,
        clock: Clock,
        *,
        region: str,
        window_months: int = 12,
    ) -> None:
        self.matcher = matcher
        self.ledger = ledger
        self.outbox = outbox
        self.clock = clock
        self.region = region
        self.window_months = window_months
        self._lock = asyncio.Lock()
        self._evaluated_day: date | None = None

    async def on_offer_events(self, events: Sequence[Envelope[Any]]) -> int:
        """Apply offer events (in order) and publish what changed; returns the number of events published."""
        touched: dict[str, Cause] = {}
        withdrawn: dict[str, tuple[str | None, Cause]] = {}
        for event in events:
            payload = event.payload
            if isinstance(payload, OfferPublished | OfferUpdated):
                if self.matcher.put_offer(offer_of(payload.offer)):
                    touched[payload.offer.offer_id] = Cause.of(event)
                    withdrawn.pop(payload.offer.offer_id, None)
            elif isinstance(payload, OfferWithdrawn):
                held = self.matcher.remove_offer(payload.offer_id)
                touched.pop(payload.offer_id, None)
                withdrawn[payload.offer_id] = (held.basin if held else event.basin, Cause.of(event))
        return await self._publish_changes(touched, withdrawn)

    async def on_session_events(self, events: Sequence[Envelope[Any]]) -> int:
        """Apply session events and re-evaluate only the offers they can reach."""
        touched: dict[str, Cause] = {}
        for event in events:
            payload = event.payload
            if isinstance(payload, SessionPublished | SessionUpdated):
                affected = self.matcher.put_session(session_of(payload.session))
            elif isinstance(payload, SessionWithdrawn):
                affected = self.matcher.remove_session(payload.session_id)
            else:
                continue
            touched.update(dict.fromkeys(affected, Cause.of(event)))
        return await self._publish_changes(touched, {})

    async def on_new_day(self) -> int:
        """Re-evaluate every held offer when the clock's day changed since the last run: the window slides,
        sessions that started drop out, later ones come in. Returns the number of events published."""
        today = self.clock.now().date()
        if today == self._evaluated_day:
            return 0
        first_run, self._evaluated_day = self._evaluated_day is None, today
        if first_run:
            return 0  # every offer was evaluated as of today when it arrived
        return await self._publish_changes(dict.fromkeys(list(self.matcher.offers), Cause()), {})

    def forget_offers(self, keep: Callable[[Offer], bool]) -> int:
        """Drop the offers of partitions this instance no longer owns."""
        return len(self.matcher.drop_offers(keep))

    async def _publish_changes(
        self, touched: dict[str, Cause], withdrawn: dict[str, tuple[str | None, Cause]]
    ) -> int:
        if not touched and not withdrawn:
            return 0
        async with self._lock:
            now, window = self.clock.now(), window_from(self.clock.now().date(), self.window_months)
            results = self.matcher.evaluate_many(touched, window)
            candidates: list[tuple[OfferEligibilityChanged, str | None, Cause]] = [
                (eligibility_changed(r, now), r.offer.basin, touched[r.offer.offer_id]) for r in results
            ]
            last = await self.ledger.fingerprints([*touched, *withdrawn])
            candidates += [
                (withdrawal(offer_id, self.matcher.radius_of(basin), now), basin, cause)
                for offer_id, (basin, cause) in withdrawn.items()
                if offer_id in last
            ]
            changed = {c[0].offer_id: c for c in candidates if last.get(c[0].offer_id) != fingerprint(c[0])}
            published = {offer_id: fingerprint(c[0]) for offer_id, c in changed.items()}
            events = [self._event(*c) for c in changed.values()]
            await self.outbox.commit(events, lambda: self.ledger.record(published))
        if changed:
            log.info("eligibility published", changed=len(changed), evaluated=len(candidates))
        return len(changed)

    def _event(self, payload: OfferEligibilityChanged, basin: str | None, cause: Cause) -> OutboxItem:
        envelope = new_envelope(
            payload,
            producer=PRODUCER,
            region=self.region,
            basin=basin,
            correlation_id=cause.correlation_id,
            causation_id=cause.event_id,
        )
        return OutboxItem.of(MATCHING_ELIGIBILITY, payload.offer_id, envelope)


def evaluate_all(matcher: Matcher, clock: Clock, window_months: int = 12) -> list[Eligibility]:
    """Every held offer's verdict as of the clock's day (the CLI's and the benchmark's full run)."""
    return matcher.evaluate_many(list(matcher.offers), window_from(clock.now().date(), window_months))


def apply_eligibility(index: SearchIndex, events: Iterable[Envelope[Any]]) -> int:
    """Keep the search index current from ``matching.eligibility``: eligible offers in, others out."""
    applied = 0
    for event in events:
        payload = event.payload
        if not isinstance(payload, OfferEligibilityChanged):
            continue
        listing = listing_of(payload)
        if listing is None:
            index.remove(payload.offer_id)
        else:
            index.put(listing)
        applied += 1
    return applied
