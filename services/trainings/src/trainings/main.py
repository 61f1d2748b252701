"""Composition root: settings -> runtime, store, consumers, HTTP app."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO
from uuid import uuid4

from fastapi import FastAPI

from tdu_shared.clock import SystemClock
from tdu_shared.outbox import KafkaItems, MongoOutbox, Outbox
from tdu_shared.runtime import ServiceRuntime
from tdu_shared.v1 import PREFIX, mirror
from trainings.access import POLICY
from trainings.adapters.mongo import INDEXES, MongoSessionRepository
from trainings.api import build_router
from trainings.consumers import declare_publishers, register_consumers
from trainings.domain.normalise import Reference
from trainings.domain.report import ImportReport
from trainings.handlers import TOPICS, CatalogueSync
from trainings.importer import reference, run_import
from trainings.partners import IMPORTS, OPERATIONS, PUBLIC_IMPORTS
from trainings.settings import Settings

DESCRIPTION = "The region's training catalogue (LHEO 2.2/2.3) in, funded sessions out (trainings.sessions)."


@dataclass
class Service:
    runtime: ServiceRuntime
    repository: MongoSessionRepository
    ref: Reference
    settings: Settings
    outbox: Outbox

    def __post_init__(self) -> None:
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    def sync(self) -> CatalogueSync:
        return CatalogueSync(
            self.repository,
            self.outbox,
            SystemClock(),
            region=self.settings.region,
            correlation_id=uuid4(),
        )

    async def import_file(
        self,
        stream: IO[bytes] | str,
        source: str,
        validate: bool = False,
        on_progress: Callable[[int], None] | None = None,
    ) -> ImportReport:
        """One import at a time per source: two snapshots of one source must not interleave."""
        async with self._locks[source]:
            sync = self.sync()
            report = await run_import(
                stream,
                source,
                sync,
                ref=self.ref,
                validate=validate,
                batch_size=self.settings.import_batch_size,
                on_progress=on_progress,
            )
        return report


def build_service(settings: Settings | None = None) -> Service:
    settings = settings or Settings()
    runtime = ServiceRuntime("trainings", settings, description=DESCRIPTION, indexes=INDEXES)
    outbox = Outbox(MongoOutbox(runtime.db), KafkaItems(runtime.publisher, TOPICS))
    repository = MongoSessionRepository(runtime.db)
    service = Service(runtime, repository, reference(settings.basins_file), settings, outbox)
    register_consumers(runtime, service.repository, service.ref, outbox)

    runtime.relay(outbox)
    declare_publishers(runtime)
    return service


def build(settings: Settings | None = None) -> FastAPI:
    service = build_service(settings)

    async def importer(stream: IO[bytes], source: str, validate: bool) -> ImportReport:
        return await service.import_file(stream, source, validate)

    router = build_router(service.repository, importer, max_upload_mb=service.settings.max_upload_mb)
    app: FastAPI = service.runtime.http_app(
        [router, mirror(router, OPERATIONS)], policy=POLICY, uploads=[IMPORTS, f"{PREFIX}{PUBLIC_IMPORTS}"]
    )
    return app
