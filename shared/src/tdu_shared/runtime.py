"""How every service is put together: one broker, one publisher, one store, one HTTP app.

A service's composition root (its ``main.py``) builds a :class:`ServiceRuntime`, registers its
subscribers on ``runtime.broker`` and its routes on the FastAPI app from :meth:`ServiceRuntime.http_app`;
the app's lifespan starts and stops everything in order (topics, store indexes, publisher, consumers).
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager, suppress
from typing import Any, TypeVar

import structlog
import uvicorn
from fastapi import APIRouter, FastAPI
from faststream.kafka import KafkaMessage
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from faststream.specification import AsyncAPI, Specification
from prometheus_client import REGISTRY

from tdu_shared import kafka_auth
from tdu_shared.access.keys import KeyFollower, KeyRing
from tdu_shared.access.policy import Policy, Verifier, guard
from tdu_shared.geo import load_basins
from tdu_shared.http import RateLimit, Readiness, limit_requests, ops_router
from tdu_shared.kafka import (
    DeadLetters,
    EventPublisher,
    Subscription,
    consume,
    ensure_topics,
    kafka_reachable,
    producing_broker,
    records_of,
    subscriber_options,
    unavailable,
)
from tdu_shared.mongo import IndexSpec, connect, ensure_indexes, store_answers
from tdu_shared.outbox import Outbox
from tdu_shared.problems import install_problem_details
from tdu_shared.settings import ServiceSettings
from tdu_shared.topics import ACCESS_KEYS, ALL_TOPICS, Topics, TopicSpec
from tdu_shared.tracing import TraceRequests, setup_tracing

Hook = Callable[[], Awaitable[None]]
log = structlog.get_logger(__name__)


class ServiceRuntime:
    def __init__(
        self,
        name: str,
        settings: ServiceSettings,
        *,
        version: str = "0.1.0",
        description: str = "",
        indexes: Sequence[IndexSpec] = (),
    ) -> None:
        self.name = name
        self.settings = settings
        self.version = version
        self.description = description
        self.topics = Topics(settings.topic_prefix)
        setup_tracing(name, otlp_endpoint=settings.otel_exporter_otlp_endpoint, span_file=settings.trace_file)
        kafka_auth.use(settings.kafka_auth())  # every Kafka client of the process authenticates this way
        self.broker = producing_broker(
            settings.kafka_bootstrap_servers,
            name,
            middlewares=(
                KafkaPrometheusMiddleware(registry=REGISTRY, app_name=name),
                KafkaTelemetryMiddleware(include_messages_counters=False),
            ),
            description=description,
        )
        self.region = load_basins(settings.basins_file)
        """The region's configuration: basins, partition assignment, operators, quiet hours, targets."""
        self.publisher = EventPublisher(
            settings.kafka_bootstrap_servers,
            self.topics,
            assignment=self.region.partitioning,
            broker=self.broker,
        )
        """Every event of the service leaves through the broker's producer, the process's only one."""
        self.mongo = connect(settings.mongodb_url)
        self.db = self.mongo[settings.mongodb_database]
        self.indexes = list(indexes)
        self.instance = f"{name}-{socket.gethostname()}-{os.getpid()}"
        self.keys = KeyRing()
        """The partner keys, as the ``access.keys`` topic says (followed while the service runs)."""
        self._key_follower = KeyFollower(
            settings.kafka_bootstrap_servers, self.topic(ACCESS_KEYS), self.keys, client_id=name
        )
        self.readiness = Readiness(
            {
                "store": lambda: store_answers(self.db, self.instance),
                "kafka": lambda: kafka_reachable(settings.kafka_bootstrap_servers),
                "started": self._is_started,
                "partner_keys": self._keys_loaded,
            }
        )
        self.on_started: list[Hook] = []
        self.on_stopping: list[Hook] = []
        self._started = False
        self._watch: asyncio.Task[None] | None = None

    def group_id(self, purpose: str = "") -> str:
        return self.settings.group_id(
            f"{self.settings.topic_prefix}{self.name}{'-' + purpose if purpose else ''}"
        )

    def dead_letters(self, group_id: str) -> DeadLetters:
        return DeadLetters(self.publisher, group_id)

    def topic(self, spec: TopicSpec) -> str:
        return self.topics.name(spec)

    def subscribe(
        self,
        subscription: Subscription,
        *,
        group: str = "",
        title: str,
        description: str,
        max_records: int = 500,
        linger_ms: int = 0,
        **options: Any,
    ) -> None:
        """The one way a service consumes a topic: it declares what it takes and its handler; the runtime
        owns the rest. The consumer group is ``group_id(group)``; records are polled up to
        ``max_records`` at a time and their offsets committed once the handler returned; they come as
        typed events (:func:`tdu_shared.kafka.consume`: decoding, upcasting, batch then one by one,
        retries, the DLQ with the reason); metrics and traces come from the broker's middlewares;
        ``title`` and ``description`` are the subscription's AsyncAPI entry. ``options`` go to
        FastStream's subscriber as they are (a rebalance ``listener``, an offset reset)."""
        group_id = self.group_id(group)
        dead_letters = self.dead_letters(group_id)
        settings = {
            **subscriber_options(group_id, batch=True, max_records=max_records, linger_ms=linger_ms),
            **options,
        }

        async def on_records(message: KafkaMessage) -> None:
            await consume(records_of(message), subscription, dead_letters)

        self.broker.subscriber(
            self.topic(subscription.spec), title=title, description=description, **settings
        )(on_records)

    def every(self, name: str, work: Hook, interval_s: float, wake: asyncio.Event | None = None) -> None:
        """Run ``work`` once the runtime has started, then every ``interval_s`` (or as soon as ``wake`` is
        set), until it stops (:func:`keep_running`)."""
        self.beside(name, lambda: keep_running(name, work, interval_s, wake))

    def relay(self, outbox: Outbox) -> None:
        """Publish what failed or interrupted changes left in the service's ``outbox``, at start and every
        ``OUTBOX_RELAY_INTERVAL_S``."""

        async def work() -> None:
            await outbox.relay_once()

        self.every("outbox relay", work, self.settings.outbox_relay_interval_s)

    def beside(self, name: str, run: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run ``run`` as a task of its own once the runtime has started (start-up does not wait for it);
        cancelled when it stops."""
        tasks: list[asyncio.Task[None]] = []

        async def start() -> None:
            tasks.append(asyncio.create_task(run(), name=name))

        async def stop() -> None:
            for task in tasks:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
            tasks.clear()

        self.on_started.append(start)
        self.on_stopping.append(stop)

    async def start(self, *, consumers: bool = True) -> None:
        if self.settings.create_topics:
            await ensure_topics(
                self.settings.kafka_bootstrap_servers,
                self.topics,
                ALL_TOPICS,
                replication_factor=self.settings.kafka_replication_factor,
            )
        await ensure_indexes(self.db, self.indexes)
        if consumers:  # a command (no HTTP API, no consumers) needs no partner keys
            await self._key_follower.start()
        await self.publisher.start()  # connects the broker: its producer
        if consumers:
            await self.broker.start()
        self._started = True
        self._watch = asyncio.create_task(self.readiness.watch(), name="readiness")
        for hook in self.on_started:
            await hook()

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
        for hook in self.on_stopping:
            await hook()
        await self.broker.stop()
        await self._key_follower.stop()
        await self.mongo.close()
        self._started = False

    def specification(self) -> Specification:
        return AsyncAPI(
            self.broker,
            title=f"Trait d'Union {self.name}",
            version=self.version,
            description=self.description,
        ).to_specification()

    def http_app(
        self,
        routers: Sequence[APIRouter] = (),
        *,
        policy: Policy,
        consumers: bool = True,
        uploads: Sequence[str] = (),
        **fastapi: Any,
    ) -> FastAPI:
        """The service's FastAPI app; its lifespan runs the whole service (consumers included).

        Every route of ``routers`` must have a rule in ``policy``, enforced before the route runs (see
        :mod:`tdu_shared.access.policy`). Request bodies are capped at the ``max_request_kb`` setting (413),
        except on ``uploads``: paths whose handler streams the body and caps it itself. Errors of paths under
        ``/v1`` are RFC 9457 problem details (:mod:`tdu_shared.problems`); other paths keep their shapes.
        """

        @asynccontextmanager
        async def lifespan(_: FastAPI) -> AsyncIterator[None]:
            await self.start(consumers=consumers)
            try:
                yield
            finally:
                await self.stop()

        app = FastAPI(
            title=f"Trait d'Union — {self.name}",
            version=self.version,
            description=self.description,
            lifespan=lifespan,
            **fastapi,
        )
        limit_requests(app, self.settings.max_request_kb * 1024, uploads)
        if self.settings.rate_limit_per_minute:
            app.add_middleware(
                RateLimit,
                per_minute=self.settings.rate_limit_per_minute,
                trust_forwarded=self.settings.trust_forwarded_for,
            )
        app.add_middleware(TraceRequests)  # outermost: refused requests are traced too
        app.include_router(ops_router(self.readiness, self.specification))
        verifier = Verifier(
            self.settings.region, self.settings.access_token_secret.get_secret_value(), self.keys
        )
        guard(app, routers, policy, verifier)
        install_problem_details(app)
        return app

    async def _is_started(self) -> bool:
        return self._started

    async def _keys_loaded(self) -> bool:
        return self.keys.caught_up


SettingsT = TypeVar("SettingsT", bound=ServiceSettings)


async def keep_running(name: str, work: Hook, interval_s: float, wake: asyncio.Event | None = None) -> None:
    """Run ``work`` now, then every ``interval_s`` (or as soon as ``wake`` is set); never dies: a failure
    is logged (a warning when the store or the broker is unreachable) and the next round comes."""
    while True:
        if wake is not None:
            wake.clear()
        try:
            await work()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if unavailable(exc):
                log.warning(f"{name} loop: infrastructure unavailable, will retry", error=repr(exc))
            else:
                log.exception(f"{name} loop failed, will retry")
        if wake is None:
            await asyncio.sleep(interval_s)
            continue
        with suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), interval_s)


def serve(build: Callable[[SettingsT], FastAPI], settings: SettingsT) -> None:
    """Build the app and run it (and with it the consumers) until SIGTERM/SIGINT.

    The app is built inside the event loop that runs it: aiokafka binds its clients to the running loop.
    """

    async def run() -> None:
        config = uvicorn.Config(
            build(settings),
            host=settings.http_host,
            port=settings.http_port,
            log_config=None,
            timeout_graceful_shutdown=10,
        )
        await uvicorn.Server(config).serve()

    asyncio.run(run())
