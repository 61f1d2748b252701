"""Composition root: settings -> runtime, stores, publisher -> consumers, background loops, HTTP app."""

from __future__ import annotations

import asyncio
import os

import structlog
from fastapi import FastAPI
from pymongo.asynchronous.database import AsyncDatabase

from journeys import handlers
from journeys.access import POLICY
from journeys.adapters.kafka import kafka_publisher
from journeys.adapters.mongo import (
    MongoAudit,
    MongoContacts,
    MongoDocuments,
    MongoJourneys,
    MongoOffers,
    MongoTimers,
    ensure_indexes,
)
from journeys.adapters.opendata import MongoOpenData
from journeys.api import install_error_handlers, partner_keys_router, period_of, router
from journeys.consumers import register_consumers
from journeys.handlers import Ports
from journeys.metrics import publish_gauges
from journeys.opendata import open_data_router
from journeys.partners import OPERATIONS
from journeys.readmodels import ReadModels
from journeys.settings import Settings
from tdu_shared.clock import Clock, SystemClock
from tdu_shared.contracts.contacts import ContactUpserted
from tdu_shared.contracts.journeys import (
    ApplicationDeclined,
    ApplicationSubmitted,
    FollowUpRecorded,
    HiringPromiseSigned,
    ImmersionCompleted,
    ImmersionRescheduled,
    ImmersionScheduled,
    JourneyAbandoned,
    JourneyCommitted,
    JourneyReminderDue,
    SeekerHired,
    StepCorrected,
    TrainingCommitmentSigned,
    TrainingCompleted,
    TrainingStarted,
)
from tdu_shared.envelope import Envelope
from tdu_shared.mongo import Document
from tdu_shared.outbox import MongoOutbox
from tdu_shared.runtime import ServiceRuntime
from tdu_shared.topics import CONTACTS, JOURNEYS_EVENTS
from tdu_shared.v1 import mirror

log = structlog.get_logger(__name__)
CRASH_EXIT_CODE = 86

JourneyEventUnion = (
    ApplicationSubmitted
    | ApplicationDeclined
    | ImmersionScheduled
    | ImmersionRescheduled
    | ImmersionCompleted
    | HiringPromiseSigned
    | TrainingCommitmentSigned
    | JourneyCommitted
    | TrainingStarted
    | TrainingCompleted
    | SeekerHired
    | FollowUpRecorded
    | JourneyAbandoned
    | StepCorrected
    | JourneyReminderDue
)


def build(settings: Settings | None = None, *, clock: Clock | None = None) -> FastAPI:
    """The whole service as a FastAPI app; its lifespan starts consumers, the relay and the timer loop."""
    settings = settings or Settings()
    # Indexes are created by our own hook (see adapters.mongo.ensure_indexes), not by the runtime.
    runtime = ServiceRuntime("journeys", settings, description="Seeker, employer and training journeys.")
    wake_relay = asyncio.Event()

    def after_write() -> None:
        if settings.journeys_test_crash_after_write:
            log.warning("fault injection: exiting between the journey write and the publish")
            os._exit(CRASH_EXIT_CODE)
        wake_relay.set()

    ports = Ports(
        MongoJourneys(runtime.db),
        MongoOffers(runtime.db),
        MongoContacts(runtime.db),
        MongoTimers(runtime.db),
        clock or SystemClock(),
        settings.region,
        after_write,
        mongo_read_models(runtime.db, settings.kpi_cache_s),
        MongoAudit(runtime.db),
        MongoOutbox(runtime.db),
        settings.relay_lease_s,
    )
    publisher = kafka_publisher(runtime.publisher)
    register_consumers(runtime, ports)
    _declare_publishers(runtime)

    async def relay() -> None:
        while await handlers.relay_once(ports, publisher, lease_s=settings.relay_lease_s):
            pass

    async def timers() -> None:
        await handlers.fire_due_timers(ports, lease_s=settings.timer_lease_s)

    async def gauges() -> None:
        now = ports.clock.now()
        publish_gauges(await handlers.compute_kpis(ports, period_of(None, None, now)))

    async def relist() -> None:
        """After a crash, journeys whose events are unpublished are listed for the relay again (a scan of
        the journeys, once, beside the service's start rather than before it)."""
        try:
            listed = await ports.journeys.relist_pending()
        except Exception:
            log.exception("listing unpublished journeys again failed; the relay goes on with its list")
            return
        if listed:
            log.info("journeys with unpublished events listed again", journeys=listed)
            wake_relay.set()

    async def create_indexes() -> None:
        await ensure_indexes(runtime.db)

    async def check_read_models() -> None:
        """Journeys stored but no read model: a store written by a version that kept them elsewhere."""
        own = read_models_database(runtime.db)
        empty = await own.journey_projections.find_one({}, {"_id": 1}) is None
        if empty and await runtime.db.journeys.find_one({}, {"_id": 1}) is not None:
            log.warning(
                "journeys are stored but their read models are empty: lists and KPIs show only the "
                "journeys changed from now on; run `journeys rebuild-read-models`",
                database=own.name,
            )

    runtime.on_started.extend([create_indexes, check_read_models])
    runtime.every("relay", relay, settings.relay_interval_s, wake_relay)
    runtime.every("timers", timers, settings.timer_interval_s)
    runtime.every("kpi-gauges", gauges, settings.kpi_refresh_s)
    runtime.relay(ports.committing(publisher))
    runtime.beside("relist", relist)
    api = router(ports, publisher, settings.max_page_size)
    app = runtime.http_app(
        [
            api,
            mirror(api, OPERATIONS),
            partner_keys_router(runtime.keys),
            open_data_router(MongoOpenData(runtime.db)),
        ],
        policy=POLICY,
    )
    install_error_handlers(app)
    app.state.ports = ports
    app.state.runtime = runtime
    return app


READ_MODELS_SUFFIX = "_read_models"


def read_models_database(db: AsyncDatabase[Document]) -> AsyncDatabase[Document]:
    """The read models' own database, beside the service's (``journeys`` -> ``journeys_read_models``).

    On the local store a database is one SQLite file, which takes one write at a time: an application's
    read-model writes and its journey and outbox writes no longer wait for each other.
    """
    return db.client[f"{db.name}{READ_MODELS_SUFFIX}"]


def mongo_read_models(db: AsyncDatabase[Document], kpi_cache_s: float = 0.0) -> ReadModels:
    """The read models of the journeys stored in ``db`` (kept in ``read_models_database(db)``)."""
    own = read_models_database(db)
    return ReadModels(
        MongoDocuments(own, "journey_lists"),
        MongoDocuments(own, "journey_kpis"),
        MongoDocuments(own, "journey_projections"),
        kpi_cache_s,
        views=MongoDocuments(own, "journey_views"),
    )


def _declare_publishers(runtime: ServiceRuntime) -> None:
    """AsyncAPI documentation only: events leave through the outbox relay and the broker's producer."""
    runtime.broker.publisher(
        runtime.topic(JOURNEYS_EVENTS),
        schema=Envelope[JourneyEventUnion],
        description=JOURNEYS_EVENTS.description,
    )
    runtime.broker.publisher(
        runtime.topic(CONTACTS), schema=Envelope[ContactUpserted], description=CONTACTS.description
    )
