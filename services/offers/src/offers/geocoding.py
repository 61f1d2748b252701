"""Street addresses of partner and employer offers, geocoded without ever holding ingestion up.

An offer whose street address is in the cache is placed there at once. Otherwise it goes on at its commune
centre (precision ``commune``) and its submission waits in the store under the address key; a background
task asks the geocoder (the national address base behind :class:`offers.ports.AddressGeocoder`), caches
the answer (``_id`` = normalised address) and submits the waiting offers again, now placed at the address
(an ``OfferUpdated``). When the geocoder cannot answer, the address is tried again later (backoff), and
nothing else waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import structlog

from offers.domain.location import AddressPoint, address_query
from offers.domain.model import Offer
from offers.domain.normalise import needs_geocoding
from offers.ports import AddressGeocoder, GeocoderUnavailable, GeocodingStore
from tdu_shared.clock import Clock

log = structlog.get_logger(__name__)

RETRY_FIRST = timedelta(minutes=1)
RETRY_MAX = timedelta(hours=6)


class GeocodedAddresses:
    """The cache as ingestion reads it (in memory, loaded at start, filled as addresses are geocoded)."""

    def __init__(self, store: GeocodingStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self.known: dict[str, AddressPoint | None] = {}

    async def load(self) -> None:
        self.known.update(await self.store.results())

    def point(self, key: str) -> AddressPoint | None:
        return self.known.get(key)

    async def queue(self, prepared: Sequence[tuple[Any, Offer]]) -> None:
        for item, offer in prepared:
            key = needs_geocoding(offer.source)
            if key is None or key in self.known:
                continue
            source = offer.source
            query = address_query(source.address or "", source.postal_code, offer.location.commune_name)
            submission = {"source": item.source, "record": item.record, "partner": item.partner}
            await self.store.add_pending(key, query, submission, self.clock.now())


class Geocoding:
    """Works through the waiting addresses: geocode, cache, submit their offers again."""

    def __init__(
        self,
        addresses: GeocodedAddresses,
        geocoder: AddressGeocoder,
        resubmit: Any,
        *,
        batch: int = 50,
    ) -> None:
        self.addresses = addresses
        self.geocoder = geocoder
        self.resubmit = resubmit  # async (list of submission dicts) -> None
        self.batch = batch
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> dict[str, int]:
        """One pass over the addresses due now: counts of geocoded, not found and postponed ones."""
        store, now = self.addresses.store, self.addresses.clock.now()
        counts = {"geocoded": 0, "not_found": 0, "postponed": 0}
        for pending in await store.due(now, self.batch):
            try:
                point = await self.geocoder.geocode(pending.query)
            except GeocoderUnavailable as exc:
                attempts = pending.attempts + 1
                await store.retry_later(pending.key, attempts, next_attempt(now, attempts))
                log.warning("geocoder unavailable", address=pending.key, attempts=attempts, error=str(exc))
                counts["postponed"] += 1
                continue
            await store.save_result(pending.key, point, now)
            self.addresses.known[pending.key] = point
            if point is not None:
                await self.resubmit(pending.submissions)
            await store.drop_pending(pending.key)
            counts["geocoded" if point else "not_found"] += 1
        return counts

    async def _loop(self, interval_s: float) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:  # the store or the broker is away: next pass
                log.exception("geocoding pass failed")
            await asyncio.sleep(interval_s)

    def start(self, interval_s: float) -> None:
        self._task = asyncio.create_task(self._loop(interval_s))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


def next_attempt(now: datetime, attempts: int) -> datetime:
    delay: timedelta = min(RETRY_FIRST * (2 ** max(attempts - 1, 0)), RETRY_MAX)
    return now + delay


def resubmitter(deps: Any) -> Any:
    """Submit the waiting offers of a geocoded address again (the same records, placed at the address)."""
    from offers.handlers import Submission, submit_batch

    async def resubmit(submissions: list[dict[str, Any]]) -> None:
        await submit_batch(
            [Submission(s["source"], s["record"], s.get("partner")) for s in submissions], deps
        )

    return resubmit
