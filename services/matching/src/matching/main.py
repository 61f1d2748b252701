"""Composition root: settings -> runtime, adapters, matcher and/or search index -> the FastAPI app."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import structlog
from fastapi import APIRouter, FastAPI

from matching.access import POLICY
from matching.adapters.kafka import CatchUp, end_offsets
from matching.adapters.mongo import INDEXES, MongoEligibilityLedger
from matching.api import search_router
from matching.consumers import OfferPartitions, register_matcher, register_search
from matching.domain.matcher import Matcher
from matching.domain.search import SearchIndex
from matching.handlers import MatchingService
from matching.partners import OPERATIONS
from matching.settings import Settings
from tdu_shared.clock import Clock, FixedClock, SystemClock
from tdu_shared.geo import BasinConfig, load_basins
from tdu_shared.outbox import KafkaItems, MongoOutbox, Outbox
from tdu_shared.runtime import ServiceRuntime
from tdu_shared.topics import MATCHING_ELIGIBILITY, TRAININGS_SESSIONS
from tdu_shared.v1 import mirror

log = structlog.get_logger(__name__)

DESCRIPTION = (
    "Which offers come with a region-funded training near the workplace (matching.eligibility), "
    "and the seekers' search over them."
)


@dataclass
class Components:
    """What the app is made of, reachable from tests through ``app.state.components``."""

    runtime: ServiceRuntime
    basins: BasinConfig
    service: MatchingService | None = None
    partitions: OfferPartitions | None = None
    catalogue: CatchUp = field(default_factory=CatchUp)
    index: SearchIndex | None = None
    loaded: CatchUp = field(default_factory=CatchUp)


class DailyReevaluation:
    """Checks every few minutes whether the day changed, and then re-evaluates the offers held."""

    def __init__(self, service: MatchingService, catalogue: CatchUp, every_s: float = 300) -> None:
        self._service, self._catalogue, self._every_s = service, catalogue, every_s
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        await self._catalogue.ready.wait()
        while True:
            try:
                await self._service.on_new_day()
            except Exception:
                log.exception("daily re-evaluation failed; next try later")
            await asyncio.sleep(self._every_s)


def clock_of(settings: Settings) -> Clock:
    """The system clock, or noon UTC of ``as_of`` (a run as of a date is reproducible)."""
    return FixedClock.as_of(settings.as_of) if settings.as_of else SystemClock()


def matcher_of(basins: BasinConfig, max_links: int) -> Matcher:
    radii = [b.radius_km for b in basins.basins] + [basins.default_radius_km]
    return Matcher(basins.radius_km, max_radius_km=max(radii), max_links=max_links)


def build(settings: Settings | None = None, *, clock: Clock | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = ServiceRuntime("matching", settings, description=DESCRIPTION, indexes=INDEXES)
    parts = Components(runtime, load_basins(settings.basins_file))
    bootstrap = settings.kafka_bootstrap_servers
    routers: list[APIRouter] = []
    if settings.role in ("all", "matcher"):
        ledger = MongoEligibilityLedger(runtime.db)
        outbox = Outbox(MongoOutbox(runtime.db), KafkaItems(runtime.publisher, (MATCHING_ELIGIBILITY,)))
        parts.service = MatchingService(
            matcher_of(parts.basins, settings.max_linked_sessions),
            ledger,
            outbox,
            clock or clock_of(settings),
            region=settings.region,
            window_months=settings.window_months,
        )
        parts.partitions = register_matcher(runtime, parts.service, parts.catalogue, settings.instance_id)

        async def expect_catalogue() -> None:
            topic = runtime.topic(TRAININGS_SESSIONS)
            count = await runtime.publisher.partition_count(topic)
            parts.catalogue.expect(await end_offsets(bootstrap, topic, count))

        runtime.on_started.append(expect_catalogue)
        runtime.relay(outbox)
        service = parts.service
        daily = DailyReevaluation(service, parts.catalogue)
        runtime.on_started.append(daily.start)
        runtime.on_stopping.append(daily.stop)
    if settings.role in ("all", "search"):
        parts.index = SearchIndex()
        register_search(runtime, parts.index, parts.loaded, settings.instance_id)
        search = search_router(parts.index, parts.loaded, settings.search_max_radius_km)
        routers += [search, mirror(search, OPERATIONS)]

        async def expect_eligibility() -> None:
            topic = runtime.topic(MATCHING_ELIGIBILITY)
            count = await runtime.publisher.partition_count(topic)
            parts.loaded.expect(await end_offsets(bootstrap, topic, count))

        runtime.on_started.append(expect_eligibility)
    app = runtime.http_app(routers, policy=POLICY)
    app.state.components = parts
    return app
