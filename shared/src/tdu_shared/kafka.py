"""Kafka helpers: topic creation, the one way to publish, records, dead letters, and the one way to consume.

Publishing: :class:`EventPublisher`, through FastStream's producer (the service broker's: one producer
per process; ``acks=all``, idempotence), keys each event by its entity id and picks the partition from the
basin through the region's explicit basin -> partitions assignment (a busy basin's events spread over its
partitions by key), so compaction keeps working and all the events of one entity land in one partition.
Consuming: a service declares a :class:`Subscription` (``ServiceRuntime.subscribe``); :func:`consume`
decodes each record against the topic's contract, dead-letters what can never be used, hands typed events
to the handler (batch, then one by one if the batch fails), retries what may pass, and re-raises
infrastructure errors so the offset is not committed and the message comes back (``AckPolicy.NACK_ON_ERROR``,
see :func:`subscriber_options`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import structlog
from aiokafka import ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, NodeNotReadyError, TopicAlreadyExistsError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from pymongo.errors import AutoReconnect, ConnectionFailure, ExecutionTimeout, NetworkTimeout, PyMongoError

from tdu_shared import kafka_auth, tracing
from tdu_shared.envelope import Envelope, decode_event, encode
from tdu_shared.errors import InvalidMessage
from tdu_shared.kafka_auth import connection
from tdu_shared.topics import PartitionAssignment, Topics, TopicSpec, default_assignment, dlq_of

log = structlog.get_logger(__name__)

INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (
    KafkaError,
    ConnectionFailure,
    AutoReconnect,
    NetworkTimeout,
    ExecutionTimeout,
    ConnectionError,
    TimeoutError,
)
"""Errors that say the broker or the store is unreachable: never dead-letter on them, retry later."""

_BUSY = ("SQLITE_BUSY", "database is locked")
_TRANSIENT_LABELS = ("RetryableWriteError", "TransientTransactionError")


def unavailable(exc: BaseException) -> bool:
    """Whether the broker or the store cannot answer now, and may in a moment: unreachable
    (:data:`INFRASTRUCTURE_ERRORS`), or a store error it labels transient, or the local store's write lock
    taken for too long (``SQLITE_BUSY``). Retried later (a record is not dead-lettered, an HTTP caller gets
    503 with ``Retry-After``), never taken for a fault of the input."""
    if isinstance(exc, INFRASTRUCTURE_ERRORS):
        return True
    if isinstance(exc, PyMongoError):
        return any(exc.has_error_label(label) for label in _TRANSIENT_LABELS) or any(
            marker in str(exc) for marker in _BUSY
        )
    return False


# ---------------------------------------------------------------- topics


async def ensure_topics(
    bootstrap: str,
    topics: Topics,
    specs: Iterable[TopicSpec],
    *,
    replication_factor: int = 1,
    partitions: int | None = None,
    with_dlq: bool = True,
) -> list[str]:
    """Create the topics (and their DLQ twins) that do not exist yet. Returns the names created."""
    wanted: list[NewTopic] = []
    for spec in specs:
        count = partitions or spec.partitions
        config = {"cleanup.policy": "compact"} if spec.compacted else {}
        if replication_factor > 1:
            config["min.insync.replicas"] = str(min(2, replication_factor))
        wanted.append(NewTopic(topics.name(spec), count, replication_factor, topic_configs=config))
        if with_dlq:
            dlq_config = (
                {"min.insync.replicas": config["min.insync.replicas"]}
                if "min.insync.replicas" in config
                else {}
            )
            wanted.append(NewTopic(topics.dlq(spec), 1, replication_factor, topic_configs=dlq_config))
    admin = AIOKafkaAdminClient(**connection(bootstrap))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in wanted if t.name not in existing]
        if not missing:
            return []
        response = await admin.create_topics(missing)
        created = []
        for name, code, *_ in response.topic_errors:  # (name, error_code, error_message)
            if code == 0:
                created.append(name)
            elif code != TopicAlreadyExistsError.errno:
                raise KafkaError(f"could not create topic {name}: error code {code}")
        await wait_for_leaders(admin, created)
        return created
    finally:
        await admin.close()


async def describe_topics(admin: AIOKafkaAdminClient, names: list[str], timeout_s: float = 10) -> list[Any]:
    """``admin.describe_topics``, asked again while the broker it picked is not connected yet.

    The admin client sends the request to a random broker of the cluster; on a cluster just started (or
    just changed) that broker's connection may not be up, and aiokafka raises at once instead of waiting.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        try:
            return list(await admin.describe_topics(names))
        except NodeNotReadyError:
            if loop.time() >= deadline:
                raise
            await asyncio.sleep(0.2)


async def wait_for_leaders(admin: AIOKafkaAdminClient, names: list[str], timeout_s: float = 30) -> None:
    """New partitions take a moment to elect a leader; producing before that only retries."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    pending = list(names)
    while pending and loop.time() < deadline:
        described = await describe_topics(admin, pending)
        pending = [
            t["topic"]
            for t in described
            if t["error_code"] != 0 or not t["partitions"] or any(p["leader"] < 0 for p in t["partitions"])
        ]
        if pending:
            await asyncio.sleep(0.1)


# ---------------------------------------------------------------- publishing


def event_headers(envelope: Envelope[Any], traceparent: str | None = None) -> list[tuple[str, bytes]]:
    headers = [
        ("content-type", b"application/json"),
        ("event-type", envelope.type.encode()),
        ("event-version", str(envelope.version).encode()),
        ("event-id", str(envelope.event_id).encode()),
        ("region", envelope.region.encode()),
    ]
    if envelope.basin:
        headers.append(("basin", envelope.basin.encode()))
    if traceparent:
        headers.append((tracing.TRACEPARENT, traceparent.encode()))
    return headers


EncodedEvent = tuple[TopicSpec, str, bytes | None, str | None, list[tuple[str, bytes]], str | None]
"""(topic, key, value — None for a tombstone, basin, headers, traceparent), as
:meth:`EventPublisher.send_events` sends it."""


@dataclass
class Outgoing:
    """One event ready to publish: where, under which key."""

    spec: TopicSpec
    key: str
    envelope: Envelope[Any]
    traceparent: str | None = None
    """The trace the event belongs to (an outbox keeps its request's); else the current span's."""


def producing_broker(bootstrap: str, client_id: str, **options: Any) -> KafkaBroker:
    """A FastStream broker as every process of the platform makes it: its producer is the process's one
    producer (acks=all, idempotent; a few milliseconds of linger so a burst goes in few requests)."""
    return KafkaBroker(
        kafka_auth.servers(bootstrap),
        security=kafka_auth.current().security(),
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_batch_size=256 * 1024,
        request_timeout_ms=30_000,
        **options,
    )


class EventPublisher:
    """The one way to publish: through FastStream's producer (the service's broker, or in a tool a broker
    of its own that only publishes), acks=all and idempotent; key = entity id, partition = the basin's.

    Every record goes through the broker's middlewares (metrics, and a producer span continuing the
    event's trace: the ``traceparent`` an outbox kept from its request, else the current span's)."""

    def __init__(
        self,
        bootstrap: str,
        topics: Topics,
        *,
        client_id: str = "traitdunion",
        assignment: PartitionAssignment | None = None,
        broker: KafkaBroker | None = None,
    ) -> None:
        self.topics = topics
        self.assignment = assignment or default_assignment()
        """Basin -> partitions of the region served (its basins file's ``partitioning``)."""
        self._own = broker is None
        self.broker = broker if broker is not None else producing_broker(bootstrap, client_id)
        self._partitions: dict[str, int] = {}

    async def start(self) -> None:
        """Connect the broker (its producer binds to the running event loop)."""
        await self.broker.connect()

    async def stop(self) -> None:
        if self._own:
            await self.broker.stop()

    async def __aenter__(self) -> EventPublisher:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def partition_count(self, topic: str) -> int:
        count = self._partitions.get(topic)
        if count is None:
            [described] = await describe_topics(self.broker.config.admin_client, [topic])
            if described["error_code"] != 0 or not described["partitions"]:
                raise KafkaError(f"topic {topic} does not exist")
            count = self._partitions[topic] = len(described["partitions"])
        return count

    async def send_nowait(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes]],
        partition: int | None = None,
        traceparent: str | None = None,
    ) -> asyncio.Future[Any]:
        """Hand one record to the producer; the future is done once every in-sync replica has it."""
        text = {name: raw.decode("utf-8", "replace") for name, raw in headers}
        with tracing.attached(traceparent):
            future: asyncio.Future[Any] = await self.broker.publish(
                value, topic, key=key, partition=partition, headers=text, no_confirm=True
            )
        return future

    async def send(
        self,
        topic: str,
        key: str,
        value: bytes | None,
        basin: str | None,
        headers: list[tuple[str, bytes]],
        traceparent: str | None = None,
    ) -> asyncio.Future[Any]:
        """Hand one record to the producer, on the basin's partition; done once every in-sync replica
        has it."""
        partition = self.assignment.partition(basin, key, await self.partition_count(topic))
        return await self.send_nowait(topic, key.encode(), value, headers, partition, traceparent)

    async def publish(self, spec: TopicSpec, key: str, envelope: Envelope[Any]) -> None:
        """Publish one event and wait until every in-sync replica has it."""
        await self.publish_many([Outgoing(spec, key, envelope)])

    async def publish_many(self, items: Sequence[Outgoing]) -> None:
        """Publish many events at once (batched by the producer); returns when all are acknowledged."""
        await self.send_events(
            (i.spec, i.key, encode(i.envelope), i.envelope.basin, event_headers(i.envelope), i.traceparent)
            for i in items
        )

    async def send_events(self, records: Iterable[EncodedEvent]) -> None:
        """Send encoded events in order, each in its trace (its own ``traceparent``, else the current
        span's, added as a header to an event, not to a tombstone); returns when all are acknowledged."""
        current = tracing.traceparent()
        futures = []
        for spec, key, value, basin, headers, traceparent in records:
            parent = traceparent or current
            if parent and value is not None:
                headers = [*headers, (tracing.TRACEPARENT, parent.encode())]
            futures.append(await self.send(self.topics.name(spec), key, value, basin, headers, parent))
        await asyncio.gather(*futures)

    async def tombstone(self, spec: TopicSpec, key: str, basin: str | None) -> None:
        """Publish a null value for ``key`` on a compacted topic: the entity is erased."""
        if not spec.compacted:
            raise ValueError(f"{spec.name} is not compacted: a tombstone would erase nothing")
        future = await self.send(self.topics.name(spec), key, None, basin, [])
        await future

    async def send_raw(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, bytes]],
        partition: int | None = None,
    ) -> None:
        await (await self.send_nowait(topic, key, value, headers, partition))


# ---------------------------------------------------------------- consuming


@dataclass(frozen=True)
class Record:
    """What a handler needs from one Kafka record."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes] = field(default_factory=dict)
    timestamp_ms: int = 0

    @classmethod
    def of(cls, r: ConsumerRecord[Any, Any]) -> Record:
        return cls(r.topic, r.partition, r.offset, r.key, r.value, dict(r.headers or ()), r.timestamp)

    @property
    def key_text(self) -> str | None:
        return self.key.decode(errors="replace") if self.key is not None else None

    @property
    def written_at(self) -> datetime:
        """When the producer wrote the record (its timestamp): a tombstone's only date."""
        return datetime.fromtimestamp(self.timestamp_ms / 1000, UTC)


def records_of(message: KafkaMessage) -> list[Record]:
    """The raw record(s) behind a FastStream message, batch or not."""
    raw = message.raw_message
    if isinstance(raw, tuple | list):
        return [Record.of(r) for r in raw]
    return [Record.of(raw)]


def subscriber_options(
    group_id: str, *, batch: bool = False, max_records: int = 500, linger_ms: int = 0
) -> dict[str, Any]:
    """Options of every subscriber: commit only after the effect is stored, start from the beginning.

    ``linger_ms``: the broker may hold a fetch that long for more records to arrive, so a trickle of
    events comes in batches (fewer, larger store writes) at the cost of that much latency.
    """
    options: dict[str, Any] = {
        "group_id": group_id,
        "auto_offset_reset": "earliest",
        "ack_policy": AckPolicy.NACK_ON_ERROR,
        "max_poll_interval_ms": 600_000,
    }
    if batch:
        options.update(batch=True, max_records=max_records, batch_timeout_ms=50)
    if linger_ms:
        options.update(fetch_min_bytes=1 << 20, fetch_max_wait_ms=linger_ms)
    return options


DLQ_HEADERS = (
    "dlq-error",
    "dlq-error-type",
    "dlq-source-topic",
    "dlq-source-partition",
    "dlq-source-offset",
    "dlq-consumer-group",
    "dlq-failed-at",
)


class DeadLetters:
    """Sends unusable records to ``<topic>.dlq`` with headers naming the error and the record's origin."""

    def __init__(self, publisher: EventPublisher, consumer_group: str) -> None:
        self._publisher = publisher
        self._group = consumer_group

    async def send(self, record: Record, error: str, error_type: str = "InvalidMessage") -> None:
        origin = {k: v for k, v in record.headers.items() if not k.startswith("dlq-")}
        extra = {
            "dlq-error": error[:4000],
            "dlq-error-type": error_type,
            "dlq-source-topic": record.topic,
            "dlq-source-partition": str(record.partition),
            "dlq-source-offset": str(record.offset),
            "dlq-consumer-group": self._group,
            "dlq-failed-at": datetime.now(UTC).isoformat(),
        }
        headers = [(k, v) for k, v in origin.items()] + [(k, v.encode()) for k, v in extra.items()]
        await self._publisher.send_raw(dlq_of(record.topic), record.key, record.value, headers)
        log.warning(
            "dead-lettered",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            error=error[:500],
            error_type=error_type,
        )


Handler = Callable[[Record], Awaitable[None]]
T = TypeVar("T")
R = TypeVar("R")


async def handle_records(
    records: Sequence[Record],
    handle: Handler,
    dead_letters: DeadLetters,
    *,
    attempts: int = 3,
    backoff_s: float = 0.2,
) -> None:
    """Run ``handle`` on each record, in order, with the platform's failure rules.

    - :class:`InvalidMessage` (undecodable, invalid, refused): to the DLQ at once, then the next record.
    - infrastructure errors (broker or store unreachable or busy, :func:`unavailable`): re-raised, so the
      offset is not committed and the batch comes back (handlers are idempotent).
    - any other error: retried ``attempts`` times with exponential backoff, then dead-lettered with the
      error, so one bad message never stops the service.
    """
    for record in records:
        await _handle_one(record, handle, dead_letters, attempts, backoff_s)


async def _handle_one(
    record: Record, handle: Handler, dead_letters: DeadLetters, attempts: int, backoff_s: float
) -> None:
    for attempt in range(1, attempts + 1):
        try:
            with tracing.span_from(f"consume {record.topic}", tracing.header_value(record.headers)):
                await handle(record)
            return
        except InvalidMessage as exc:
            await dead_letters.send(record, exc.reason, type(exc).__name__)
            return
        except Exception as exc:
            if unavailable(exc):
                raise
            if attempt == attempts:
                log.exception("handler failed", topic=record.topic, offset=record.offset, attempts=attempts)
                await dead_letters.send(
                    record, f"handler failed after {attempts} attempts: {exc!r}", type(exc).__name__
                )
                return
            await asyncio.sleep(backoff_s * 2 ** (attempt - 1))


async def apply_batch(
    items: Sequence[tuple[Record, T]],
    apply: Callable[[list[T]], Awaitable[R]],
    dead_letters: DeadLetters,
    one: Callable[[Record, T], Awaitable[Any]] | None = None,
) -> R | None:
    """Apply a batch's decoded items in one go (a store round trip per batch, not per record).

    When that fails for a reason other than the infrastructure, the items are taken one at a time with
    :func:`handle_records`' rules (``one``, by default ``apply`` of that item alone): only the culprits
    are dead-lettered, with their reason. Infrastructure errors (:func:`unavailable`) are re-raised, so the
    batch comes back. Returns what ``apply`` returned for the whole batch; None when it went one by one
    (or had nothing to apply).
    """
    if not items:
        return None
    try:
        return await apply([item for _, item in items])
    except Exception as exc:
        if unavailable(exc):
            raise
        log.exception("batch failed; taking its records one at a time", records=len(items))
    by_record = {id(record): item for record, item in items}

    async def handle(record: Record) -> None:
        item = by_record[id(record)]
        await (one(record, item) if one is not None else apply([item]))

    await handle_records([record for record, _ in items], handle, dead_letters)
    return None


@dataclass(frozen=True)
class Consumed:
    """One record as a subscriber's handler receives it: its event, decoded, checked against the topic's
    contract and upcast to the current version (None: a tombstone, on a topic whose subscription takes
    them), and the record it came in."""

    record: Record
    envelope: Envelope[Any] | None

    @property
    def event(self) -> Envelope[Any]:
        """The envelope (one a subscription without tombstones always has)."""
        if self.envelope is None:
            raise InvalidMessage(f"a tombstone on {self.record.topic} where an event was expected")
        return self.envelope

    @property
    def payload(self) -> Any:
        return self.envelope.payload if self.envelope is not None else None


@dataclass(frozen=True)
class Subscription:
    """What a service consumes from one topic, and how (see :meth:`ServiceRuntime.subscribe`).

    ``each`` takes one event at a time, in order; ``batch`` a poll's events at once (one store round trip
    per batch), falling back to ``each`` (by default ``batch`` of one) when the batch fails for a reason
    other than the infrastructure. ``tombstones``: null records are handed on (``envelope`` None) rather
    than dead-lettered. ``dead_letters`` False: what cannot be used is logged and skipped, because another
    subscription of the same topic dead-letters it. ``observe`` sees every record of a poll, used or not,
    once it is handled (progress of a catch-up).
    """

    spec: TopicSpec
    each: Callable[[Consumed], Awaitable[Any]] | None = None
    batch: Callable[[list[Consumed]], Awaitable[Any]] | None = None
    tombstones: bool = False
    dead_letters: bool = True
    observe: Callable[[Sequence[Record]], Any] | None = None

    def __post_init__(self) -> None:
        if self.each is None and self.batch is None:
            raise ValueError(f"a subscription to {self.spec.name} needs a handler (each or batch)")


async def consume(records: Sequence[Record], subscription: Subscription, dead_letters: DeadLetters) -> None:
    """The platform's one consume path for a poll's records.

    Each record is decoded against the topic's contract (an undecodable, unexpected or unwanted record
    goes to the DLQ with the reason, then the next); the events go to the handler with
    :func:`handle_records`' rules (``each``) or :func:`apply_batch`'s (``batch``): infrastructure errors
    come back (the poll is not committed and comes again), other failures are retried, then dead-lettered.
    """
    sub = subscription
    decoded: list[Consumed] = []
    for record in records:
        try:
            decoded.append(decoded_record(record, sub.spec, tombstones=sub.tombstones))
        except InvalidMessage as exc:
            if sub.dead_letters:
                await dead_letters.send(record, exc.reason, type(exc).__name__)
            else:
                log.warning(
                    "unusable record skipped", topic=record.topic, offset=record.offset, reason=exc.reason
                )
    if sub.batch is not None and not sub.dead_letters:
        if decoded:
            await sub.batch(decoded)
    elif sub.batch is not None:
        each = sub.each
        one = None if each is None else (lambda _record, consumed: each(consumed))
        await apply_batch([(c.record, c) for c in decoded], sub.batch, dead_letters, one)
    elif sub.each is not None:
        handle = sub.each
        by_record = {id(c.record): c for c in decoded}
        await handle_records([c.record for c in decoded], lambda r: handle(by_record[id(r)]), dead_letters)
    if sub.observe is not None:
        sub.observe(records)


def decoded_record(record: Record, spec: TopicSpec, *, tombstones: bool = False) -> Consumed:
    """One record as a handler receives it; :class:`InvalidMessage` when it cannot be used."""
    if record.value is None:
        if not tombstones:
            raise InvalidMessage(f"a null record (tombstone) on {record.topic}, which carries events only")
        return Consumed(record, None)
    return Consumed(record, decode_event(record.value, expected=spec.event_types))


async def kafka_reachable(bootstrap: str) -> bool:
    admin = AIOKafkaAdminClient(**connection(bootstrap), request_timeout_ms=3000)
    try:
        await admin.start()
        await admin.list_topics()
        return True
    except Exception:
        return False
    finally:
        await admin.close()
