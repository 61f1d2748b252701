"""The one way events leave a service: stored with the change that causes them, published after.

Every service that publishes does it through this module:

- :class:`OutboxItem` is one event as stored (its envelope as the JSON text published, or a tombstone)
  and as published: the relay sends the stored text as it is, with the headers its fields give.
- :class:`OutboxStore` is the port the relay reads: ``claim`` what is not published yet (leased for a
  while, so two relays rarely send the same entry), ``done`` once Kafka has it. Two adapters: the
  collection :class:`MongoOutbox` (one document per change, beside the state it goes with; offers,
  trainings, matching, journeys' contacts) and journeys' own, which keeps a journey's events inside the
  journey document so that the state and its events land in one write.
- :class:`Outbox` is the order every change follows: ``commit`` writes the entry, makes the change,
  publishes, then marks the entry done; ``relay_once`` publishes what a stop or a failure left (at start,
  in a loop, or before the next commit of the process that failed). A crash anywhere publishes again,
  never loses: consumers drop a copy by its event id.

An entry written but whose change never landed is published by the relay only if the service's
``owed`` check (if it gives one) still finds the change stored.

Where Kafka is the only record (a submission accepted at the edge and answered 202, a partner key issued
by the access CLI, a record set aside on a DLQ), there is no other state to keep in step: those go
straight through the same producer (:class:`tdu_shared.kafka.EventPublisher`).
"""

from __future__ import annotations

import json
import uuid
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

import structlog
from bson import Binary
from pymongo.asynchronous.database import AsyncDatabase

from tdu_shared.envelope import Envelope, decode_event, encode
from tdu_shared.kafka import EventPublisher, Outgoing, event_headers
from tdu_shared.mongo import Document, delete_by_ids
from tdu_shared.topics import ALL_TOPICS, TopicSpec

log = structlog.get_logger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
COMMIT_LEASE_S = 60.0
"""An entry being committed is not taken by a relay for this long (its commit publishes it first)."""

T = TypeVar("T")
HEADER_FIELDS = (
    ("type", "event-type"),
    ("version", "event-version"),
    ("event_id", "event-id"),
    ("region", "region"),
    ("basin", "basin"),
)
"""Envelope field -> record header (:func:`tdu_shared.kafka.event_headers`), for items stored without."""


@dataclass(frozen=True)
class OutboxItem:
    """One event waiting to be published: the envelope as its JSON text (None: a tombstone)."""

    topic: str
    """Registry name of the topic (``offers.state``, ``contacts``), without the environment prefix."""
    key: str
    event_id: str
    body: str | None
    """The envelope as published; None for a tombstone (the key's entity is erased)."""
    headers: tuple[tuple[str, str], ...] = ()
    """The event's record headers (type, version, id, region, basin), made once from the envelope."""
    basin: str | None = None
    """Chooses the partition (the basin's)."""
    traceparent: str | None = None
    """The trace of the request that made the event: it is published in that trace."""

    @classmethod
    def of(
        cls, spec: TopicSpec, key: str, envelope: Envelope[Any], traceparent: str | None = None
    ) -> OutboxItem:
        """An event, encoded once (too large an event fails here, before anything is stored)."""
        headers = tuple((name, raw.decode()) for name, raw in event_headers(envelope))
        body = encode(envelope).decode()
        return cls(spec.name, key, str(envelope.event_id), body, headers, envelope.basin, traceparent)

    @classmethod
    def tombstone(cls, spec: TopicSpec, key: str, basin: str | None) -> OutboxItem:
        """The erasure of ``key`` on a compacted topic."""
        if not spec.compacted:
            raise ValueError(f"{spec.name} is not compacted: a tombstone would erase nothing")
        return cls(spec.name, key, uuid.uuid4().hex, None, (), basin, None)

    def to_doc(self) -> Document:
        doc: Document = {"topic": self.topic, "key": self.key, "event_id": self.event_id, "body": self.body}
        if self.headers:
            doc["headers"] = dict(self.headers)  # a document (the store takes no arrays of arrays)
        if self.basin:
            doc["basin"] = self.basin
        if self.traceparent:
            doc["traceparent"] = self.traceparent
        return doc

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> OutboxItem:
        body = doc.get("body")
        headers = tuple((str(n), str(v)) for n, v in (doc.get("headers") or {}).items())
        basin = doc.get("basin")
        if body is not None and not headers:  # stored before items kept their headers: made from the body
            envelope = json.loads(body)
            basin = envelope.get("basin")
            made = ((name, str(envelope[f])) for f, name in HEADER_FIELDS if envelope.get(f) is not None)
            headers = (("content-type", "application/json"), *made)
        return cls(
            doc["topic"], doc["key"], doc["event_id"], body, headers, basin or None, doc.get("traceparent")
        )


class ItemPublisher(Protocol):
    async def publish(self, items: Sequence[OutboxItem]) -> None:
        """Send the items in order (each key's order kept); returns once Kafka has them all."""
        ...


class KafkaItems:
    """Outbox items to Kafka through the process's one producer (:class:`EventPublisher`): the stored
    text as it is, the stored headers, the request's trace."""

    def __init__(self, publisher: EventPublisher, specs: Sequence[TopicSpec]) -> None:
        self.publisher = publisher
        self._specs = {spec.name: spec for spec in specs}

    async def publish(self, items: Sequence[OutboxItem]) -> None:
        await self.publisher.send_events(
            (
                self._spec(item.topic),
                item.key,
                item.body.encode() if item.body is not None else None,
                item.basin,
                [(n, v.encode()) for n, v in item.headers],
                item.traceparent,
            )
            for item in items
        )

    def _spec(self, topic: str) -> TopicSpec:
        spec = self._specs.get(topic)
        if spec is None:
            raise ValueError(f"{topic}: not a topic this outbox publishes to")
        return spec


# ---------------------------------------------------------------- the port


class Claimed(Protocol):
    """A unit of unpublished work a store hands the relay: its events, in order."""

    @property
    def items(self) -> Sequence[OutboxItem]: ...


C = TypeVar("C", bound=Claimed)


class OutboxStore(Protocol[C]):
    async def claim(self, limit: int, lease_s: float, mine: Sequence[str] = ()) -> Sequence[C]:
        """Up to ``limit`` units not published yet and not leased (or listed in ``mine``: entries this
        process failed to publish), leased to the caller for ``lease_s``; oldest first."""
        ...

    async def done(self, claimed: Sequence[C]) -> None:
        """Their events are out: forget them."""
        ...


@dataclass(frozen=True)
class Entry:
    entry_id: str
    items: list[OutboxItem]


class EntryStore(OutboxStore[Entry], Protocol):
    """A store of entries written before the change they go with (the collection outbox)."""

    async def add(self, entry_id: str, items: Sequence[OutboxItem], lease_s: float) -> None:
        """Create or replace entry ``entry_id``, leased for ``lease_s`` (its commit publishes it)."""
        ...


Owed = Callable[[Sequence[OutboxItem]], Awaitable[Sequence[OutboxItem]]]
"""Of the items a relay found, those whose change is stored (the others are dropped)."""


async def relay_once(
    store: OutboxStore[Any],
    publisher: ItemPublisher,
    *,
    limit: int = 200,
    lease_s: float = 10.0,
    mine: Sequence[str] = (),
    owed: Owed | None = None,
) -> tuple[int, int]:
    """Claim, publish, mark done. Returns (units relayed, events published)."""
    claimed = await store.claim(limit, lease_s, mine)
    if not claimed:
        return 0, 0
    items = [item for unit in claimed for item in unit.items]
    if owed is not None and items:
        items = list(await owed(items))
    if items:
        await publisher.publish(items)
    await store.done(claimed)
    return len(claimed), len(items)


@dataclass
class Outbox:
    """Commits changes with their events and relays what was left (one per service and store)."""

    store: EntryStore
    publisher: ItemPublisher
    owed: Owed | None = None
    commit_lease_s: float = COMMIT_LEASE_S
    _failed: set[str] = field(default_factory=set)
    """Entries this process stored and failed to publish: its next commit or relay publishes them
    without waiting for their lease to end."""

    async def commit(self, items: Sequence[OutboxItem], change: Callable[[], Awaitable[T]]) -> T:
        """Store the entry, make the change, publish, forget the entry; what the change returned."""
        async with self.staged(items):
            return await change()

    @asynccontextmanager
    async def staged(self, items: Sequence[OutboxItem]) -> AsyncIterator[Staged]:
        """The events of a change stored before the block (which makes the change), published after it,
        then forgotten. The block may decide again and :meth:`Staged.replace` them.

        A failure in the block or in publishing leaves the entry to the relay (sooner in this process:
        at its next commit, ahead of that commit's own). Entries left earlier go out first."""
        if self._failed:
            await self.relay_once()
        staged = Staged(self, uuid.uuid4().hex)
        try:
            if items:
                await staged.replace(items)
            yield staged
            if staged.items:
                await self.publisher.publish(staged.items)
            if staged.stored:
                await self.store.done([Entry(staged.entry_id, staged.items)])
        except BaseException:
            if staged.stored:
                self._failed.add(staged.entry_id)
            raise

    async def relay_once(self, limit: int = 200, lease_s: float = 10.0) -> int:
        """Publish what stops and failures left; the number of events published."""
        mine = sorted(self._failed)
        total = 0
        while True:
            relayed, published = await relay_once(
                self.store,
                self.publisher,
                limit=limit,
                lease_s=lease_s,
                mine=mine,
                owed=self.owed,
            )
            total += published
            self._failed.difference_update(mine)
            if relayed < limit:
                return total
            mine = []


@dataclass
class Staged:
    """The entry of a change under way (see :meth:`Outbox.staged`)."""

    outbox: Outbox
    entry_id: str
    items: list[OutboxItem] = field(default_factory=list)
    stored: bool = False

    async def replace(self, items: Sequence[OutboxItem]) -> None:
        """The change was decided again: these are its events now."""
        await self.outbox.store.add(self.entry_id, items, self.outbox.commit_lease_s)
        self.items, self.stored = list(items), True


# ---------------------------------------------------------------- adapters


COMPRESSION = 1
"""zlib level of an entry's items: a batch of 1,000 offers' events (2.8 MB of JSON) is stored as 0.8 MB,
which costs the development store a quarter of the CPU (47 ms instead of 177 ms), for 20 ms here."""


class MongoOutbox:
    """The ``outbox`` collection: one document per entry, its items as one compressed JSON value (one
    write of one value, whatever the number of events), deleted once published. Small: it holds
    unpublished work only, so the relay reads it whole."""

    def __init__(self, db: AsyncDatabase[Document], collection: str = "outbox") -> None:
        self._col = db[collection]

    async def add(self, entry_id: str, items: Sequence[OutboxItem], lease_s: float) -> None:
        now = datetime.now(UTC)
        text = json.dumps([i.to_doc() for i in items], separators=(",", ":")).encode()
        packed = Binary(zlib.compress(text, COMPRESSION))
        doc = {"_id": entry_id, "items": packed, "at": now, "lease": now + timedelta(seconds=lease_s)}
        await self._col.replace_one({"_id": entry_id}, doc, upsert=True)

    async def claim(self, limit: int, lease_s: float, mine: Sequence[str] = ()) -> list[Entry]:
        now = datetime.now(UTC)
        until = now + timedelta(seconds=lease_s)
        claimed: list[Entry] = []
        async for doc in self._col.find({}).sort("at", 1):
            if len(claimed) >= limit:
                break
            if "items" not in doc:
                log.warning("outbox entry of an older shape left as it is", entry=doc["_id"])
                continue
            lease = _aware(doc.get("lease") or EPOCH)
            if lease > now and doc["_id"] not in mine:
                continue
            taken = await self._col.update_one(
                {"_id": doc["_id"], "lease": doc.get("lease")}, {"$set": {"lease": until}}
            )
            if taken.modified_count:
                claimed.append(Entry(doc["_id"], _items_of(doc)))
        return claimed

    async def done(self, claimed: Sequence[Entry]) -> None:
        await delete_by_ids(self._col, [e.entry_id for e in claimed])


def _items_of(doc: Document) -> list[OutboxItem]:
    raw = doc["items"]
    text = zlib.decompress(raw) if isinstance(raw, bytes) else raw  # or the text of an earlier build
    return [OutboxItem.from_doc(d) for d in json.loads(text)]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class MemoryOutbox:
    """The same in memory (tests, and services run without a store)."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[list[OutboxItem], datetime]] = {}

    async def add(self, entry_id: str, items: Sequence[OutboxItem], lease_s: float) -> None:
        self.entries[entry_id] = (list(items), datetime.now(UTC) + timedelta(seconds=lease_s))

    async def claim(self, limit: int, lease_s: float, mine: Sequence[str] = ()) -> list[Entry]:
        now = datetime.now(UTC)
        claimed: list[Entry] = []
        for entry_id, (items, lease) in list(self.entries.items()):
            if len(claimed) < limit and (lease <= now or entry_id in mine):
                self.entries[entry_id] = (items, now + timedelta(seconds=lease_s))
                claimed.append(Entry(entry_id, items))
        return claimed

    async def done(self, claimed: Sequence[Entry]) -> None:
        for entry in claimed:
            self.entries.pop(entry.entry_id, None)


class MemoryItems:
    """A publisher that keeps what it is given, in order (tests, dry runs); ``fail_next`` makes the next
    call fail as an unreachable broker does."""

    def __init__(self) -> None:
        self.items: list[OutboxItem] = []
        self.fail_next = False

    async def publish(self, items: Sequence[OutboxItem]) -> None:
        if self.fail_next:
            self.fail_next = False
            raise ConnectionError("broker unreachable")
        self.items.extend(items)

    @property
    def events(self) -> list[Outgoing]:
        """The events published (tombstones aside), decoded."""
        specs = {spec.name: spec for spec in ALL_TOPICS}
        return [
            Outgoing(specs[i.topic], i.key, decode_event(i.body.encode()), i.traceparent)
            for i in self.items
            if i.body is not None
        ]

    @property
    def tombstones(self) -> list[tuple[str, str | None]]:
        """(key, basin) of each tombstone published."""
        return [(i.key, i.basin) for i in self.items if i.body is None]
