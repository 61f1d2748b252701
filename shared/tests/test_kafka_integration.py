"""The shared Kafka and store helpers against the real broker and the real store."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest
from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from tdu_dev.testing.kafka_helpers import read_topic
from tdu_shared.contracts.offers import OfferWithdrawn
from tdu_shared.envelope import decode_event, new_envelope
from tdu_shared.kafka import Consumed, EventPublisher, Subscription
from tdu_shared.mongo import Document, bulk_write, delete_by_ids, find_by_ids
from tdu_shared.runtime import ServiceRuntime
from tdu_shared.settings import ServiceSettings
from tdu_shared.topics import OFFERS_STATE, Topics, basin_partition

pytestmark = pytest.mark.integration


def withdrawn(offer_id: str, basin: str = "4410"):  # type: ignore[no-untyped-def]
    payload = OfferWithdrawn(offer_id=offer_id, reason="expired", withdrawn_at=datetime.now(UTC))
    return new_envelope(payload, producer="test", region="44", basin=basin)


async def test_published_event_keeps_key_headers_and_lands_in_its_basin_partition(
    kafka_bootstrap: str, topics: Topics
) -> None:
    envelope = withdrawn("OFFER-1", basin="4410")
    async with EventPublisher(kafka_bootstrap, topics) as publisher:
        await publisher.publish(OFFERS_STATE, "OFFER-1", envelope)

    [record] = await read_topic(kafka_bootstrap, topics.name(OFFERS_STATE), until=1)
    assert record.key == b"OFFER-1"
    assert record.partition == basin_partition("4410", 4)
    assert record.headers["event-type"] == b"OfferWithdrawn"
    assert record.headers["basin"] == b"4410"
    assert decode_event(record.value) == envelope


async def test_malformed_message_goes_to_dlq_and_the_consumer_goes_on(
    kafka_bootstrap: str,
    mongodb_url: str,
    topics: Topics,
    mongo_db_name: str,
    mongo_db: AsyncDatabase[Document],
) -> None:
    settings = ServiceSettings(
        kafka_bootstrap_servers=kafka_bootstrap,
        mongodb_url=mongodb_url,
        mongodb_database=mongo_db_name,
        topic_prefix=topics.prefix,
        create_topics=False,
    )
    runtime = ServiceRuntime("dlqtest", settings)
    handled: list[str] = []

    async def handle(event: Consumed) -> None:
        await runtime.db.seen.insert_one({"_id": event.payload.offer_id})
        handled.append(event.payload.offer_id)

    runtime.subscribe(Subscription(OFFERS_STATE, each=handle), title="offers.state", description="a test")

    good_before, good_after = withdrawn("A", "4410"), withdrawn("B", "4410")
    await runtime.start()
    try:
        publisher = runtime.publisher
        await publisher.publish(OFFERS_STATE, "A", good_before)
        partition = basin_partition("4410", 4)
        await publisher.send_raw(topics.name(OFFERS_STATE), b"bad", b"{not json", [], partition=partition)
        await publisher.send_raw(
            topics.name(OFFERS_STATE),
            b"wrong",
            json.dumps({"type": "Nope", "version": 1}).encode(),
            [],
            partition=partition,
        )
        await publisher.publish(OFFERS_STATE, "B", good_after)
        for _ in range(100):
            if len(handled) == 2:
                break
            await asyncio.sleep(0.1)
    finally:
        await runtime.stop()

    assert handled == ["A", "B"]
    dead = await read_topic(kafka_bootstrap, topics.dlq(OFFERS_STATE), until=2)
    assert [d.key for d in dead] == [b"bad", b"wrong"]
    assert dead[0].value == b"{not json"
    assert dead[0].headers["dlq-error"].startswith(b"not JSON")
    assert b"unexpected event type 'Nope'" in dead[1].headers["dlq-error"]
    assert dead[0].headers["dlq-source-topic"] == topics.name(OFFERS_STATE).encode()
    assert dead[0].headers["dlq-source-partition"] == str(partition).encode()
    assert int(dead[1].headers["dlq-source-offset"]) == int(dead[0].headers["dlq-source-offset"]) + 1
    assert sorted([d["_id"] async for d in mongo_db.seen.find()]) == ["A", "B"]


async def test_document_round_trips_through_the_store(mongo_db: AsyncDatabase[Document]) -> None:
    collection = mongo_db.things
    await collection.create_index([("basin", 1), ("rome", 1)])
    await collection.insert_one({"_id": "x", "basin": "4410", "rome": "K2303", "lat": 49.12, "lon": 6.17})
    doc = await collection.find_one_and_update({"_id": "x"}, {"$inc": {"revision": 1}}, return_document=True)
    assert doc == {"_id": "x", "basin": "4410", "rome": "K2303", "lat": 49.12, "lon": 6.17, "revision": 1}


async def test_bulk_write_of_many_updates_goes_through_in_chunks(mongo_db: AsyncDatabase[Document]) -> None:
    """One update command of 100+ statements hangs FerretDB 1.24; the helper chunks it."""
    collection = mongo_db.offers
    await collection.insert_many([{"_id": i, "revision": 1} for i in range(250)])
    operations = [UpdateOne({"_id": i}, {"$inc": {"revision": 1}}) for i in range(250)]
    counts = await asyncio.wait_for(bulk_write(collection, operations), 60)
    assert (counts.matched, counts.modified) == (250, 250)
    assert await collection.count_documents({"revision": 2}) == 250


async def test_find_and_delete_by_ids_touch_only_the_ids_given(mongo_db: AsyncDatabase[Document]) -> None:
    collection = mongo_db.contacts
    await collection.insert_many([{"_id": f"P-{i}", "n": i} for i in range(40)])
    found = await find_by_ids(collection, ["P-3", "P-39", "P-3", "nobody"], {"n": 1})
    assert found == {"P-3": {"_id": "P-3", "n": 3}, "P-39": {"_id": "P-39", "n": 39}}
    assert len(await find_by_ids(collection, [f"P-{i}" for i in range(40)])) == 40  # past one round
    assert await delete_by_ids(collection, ["P-1", "P-2", "P-2", "nobody"]) == 2
    assert await delete_by_ids(collection, []) == 0
    assert await collection.count_documents({}) == 38
    assert await find_by_ids(collection, ["P-1", "P-2"]) == {}
