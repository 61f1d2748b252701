"""The one outbox: an entry stored before its change, published after it, forgotten once out; what a
failure or a stop leaves is published by the relay, later but never lost; the real store and the real
broker behind it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from tdu_dev.testing.kafka_helpers import read_topic
from tdu_shared.contracts.offers import OfferWithdrawn
from tdu_shared.envelope import decode_event, new_envelope
from tdu_shared.kafka import EventPublisher
from tdu_shared.mongo import Document
from tdu_shared.outbox import (
    KafkaItems,
    MemoryItems,
    MemoryOutbox,
    MongoOutbox,
    Outbox,
    OutboxItem,
    relay_once,
)
from tdu_shared.topics import CONTACTS, JOURNEYS_EVENTS, OFFERS_STATE, Topics, basin_partition


def item(offer_id: str, basin: str = "4410", traceparent: str | None = None) -> OutboxItem:
    payload = OfferWithdrawn(offer_id=offer_id, reason="expired", withdrawn_at=datetime.now(UTC))
    envelope = new_envelope(payload, producer="test", region="44", basin=basin)
    return OutboxItem.of(OFFERS_STATE, offer_id, envelope, traceparent)


def expire(store: MemoryOutbox) -> None:
    """Every lease ends (time passes)."""
    for entry_id, (items, _) in list(store.entries.items()):
        store.entries[entry_id] = (items, datetime.now(UTC) - timedelta(seconds=1))


async def test_the_entry_is_stored_before_the_change_and_forgotten_once_published() -> None:
    store, publisher = MemoryOutbox(), MemoryItems()
    outbox = Outbox(store, publisher)
    seen_during_change: list[list[str]] = []

    async def change() -> str:
        seen_during_change.append([i.key for items, _ in store.entries.values() for i in items])
        assert publisher.items == []  # nothing leaves before the change is made
        return "made"

    assert await outbox.commit([item("A"), item("B")], change) == "made"
    assert seen_during_change == [["A", "B"]]
    assert [i.key for i in publisher.items] == ["A", "B"]
    assert store.entries == {}


async def test_events_a_failed_publish_left_go_out_first_at_the_next_commit_with_their_ids() -> None:
    store, publisher = MemoryOutbox(), MemoryItems()
    outbox = Outbox(store, publisher)
    first = item("A")
    publisher.fail_next = True
    with pytest.raises(ConnectionError):
        await outbox.commit([first], _nothing)
    assert len(store.entries) == 1 and publisher.items == []
    await outbox.commit([item("B")], _nothing)  # the entry is still leased, but this process failed it
    assert [i.key for i in publisher.items] == ["A", "B"]
    assert publisher.items[0].event_id == first.event_id
    assert store.entries == {}


async def test_another_process_relays_what_a_dead_one_left_once_its_lease_ends() -> None:
    store, publisher = MemoryOutbox(), MemoryItems()
    dead = Outbox(store, MemoryItems())

    async def die() -> None:
        raise RuntimeError("the process stops here")

    with pytest.raises(RuntimeError):
        await dead.commit([item("A")], die)
    other = Outbox(store, publisher)
    assert await other.relay_once() == 0  # still leased to the dead process's commit
    expire(store)
    assert await other.relay_once() == 1
    assert [i.key for i in publisher.items] == ["A"]
    assert store.entries == {}


async def test_a_relay_publishes_only_what_the_owed_check_keeps_and_forgets_the_rest() -> None:
    store, publisher = MemoryOutbox(), MemoryItems()

    async def owed(items: Sequence[OutboxItem]) -> list[OutboxItem]:
        return [i for i in items if i.key != "never-stored"]

    await store.add("e1", [item("A"), item("never-stored")], lease_s=0)
    relayed, published = await relay_once(store, publisher, owed=owed)
    assert (relayed, published) == (1, 1)
    assert [i.key for i in publisher.items] == ["A"]
    assert store.entries == {}


async def test_a_staged_change_decided_again_publishes_its_new_events_only() -> None:
    store, publisher = MemoryOutbox(), MemoryItems()
    outbox = Outbox(store, publisher)
    async with outbox.staged([item("A"), item("B")]) as staged:
        await staged.replace([item("B")])
        [(items, _)] = store.entries.values()
        assert [i.key for i in items] == ["B"]
    assert [i.key for i in publisher.items] == ["B"]
    assert store.entries == {}


def test_a_tombstone_is_only_for_a_compacted_topic() -> None:
    stone = OutboxItem.tombstone(CONTACTS, "P1", "4410")
    assert (stone.body, stone.key, stone.basin) == (None, "P1", "4410")
    with pytest.raises(ValueError, match="not compacted"):
        OutboxItem.tombstone(JOURNEYS_EVENTS, "J1", None)


def test_an_item_reads_back_as_stored_and_an_older_one_gets_its_headers_from_its_body() -> None:
    original = item("A", traceparent="00-" + "1" * 32 + "-" + "2" * 16 + "-01")
    assert OutboxItem.from_doc(original.to_doc()) == original
    older = {k: v for k, v in original.to_doc().items() if k not in ("headers", "basin")}
    assert OutboxItem.from_doc(older) == original


async def _nothing() -> None:
    return None


# ---------------------------------------------------------------- the real store and broker


@pytest.mark.integration
async def test_the_store_adapter_leases_claims_and_forgets_entries(mongo_db: AsyncDatabase[Document]) -> None:
    store = MongoOutbox(mongo_db)
    await store.add("leased", [item("A")], lease_s=60)
    await store.add("free", [item("B"), item("C")], lease_s=0)
    await mongo_db.outbox.insert_one({"_id": "older", "events": "[]", "at": datetime.now(UTC)})

    claimed = await store.claim(10, lease_s=30)
    assert [(e.entry_id, [i.key for i in e.items]) for e in claimed] == [("free", ["B", "C"])]
    assert await store.claim(10, lease_s=30) == []  # now leased to the first claim
    [mine] = await store.claim(10, lease_s=30, mine=["leased"])
    assert (mine.entry_id, [i.key for i in mine.items]) == ("leased", ["A"])

    await store.done([*claimed, mine])
    left = [d["_id"] async for d in mongo_db.outbox.find({})]
    assert left == ["older"]  # an entry of an older shape is left as it is (and said in the log)


@pytest.mark.integration
async def test_items_reach_the_broker_as_stored_with_headers_trace_and_partition(
    kafka_bootstrap: str, topics: Topics
) -> None:
    trace = "00-" + "a" * 32 + "-" + "b" * 16 + "-01"
    event = item("OFFER-9", basin="5403", traceparent=trace)
    stone = OutboxItem.tombstone(CONTACTS, "P-9", "5403")
    async with EventPublisher(kafka_bootstrap, topics) as publisher:
        await KafkaItems(publisher, (OFFERS_STATE, CONTACTS)).publish([event, stone])

    [record] = await read_topic(kafka_bootstrap, topics.name(OFFERS_STATE), until=1)
    assert record.key == b"OFFER-9"
    assert record.value == event.body.encode()  # type: ignore[union-attr]
    assert record.partition == basin_partition("5403", 4)
    assert record.headers["event-type"] == b"OfferWithdrawn"
    assert record.headers["event-id"] == event.event_id.encode()
    assert record.headers["traceparent"].decode().split("-")[1] == "a" * 32
    assert decode_event(record.value).payload.offer_id == "OFFER-9"
    [erased] = await read_topic(kafka_bootstrap, topics.name(CONTACTS), until=1)
    assert (erased.key, erased.value, erased.partition) == (b"P-9", None, basin_partition("5403", 4))


@pytest.mark.integration
async def test_an_item_kept_inside_a_document_of_the_real_store_reads_back_as_it_was(
    mongo_db: AsyncDatabase[Document],
) -> None:
    """Journeys keep a journey's events inside its document: the item's stored form must suit the store."""
    original = item("A", traceparent="00-" + "1" * 32 + "-" + "2" * 16 + "-01")
    await mongo_db.journeys.insert_one({"_id": "J1", "outbox": [original.to_doc()]})
    stored = await mongo_db.journeys.find_one({"_id": "J1"})
    assert stored is not None
    assert OutboxItem.from_doc(stored["outbox"][0]) == original
