"""Changing the basin -> partition assignment against the real broker: the compacted topics are rebuilt
under a new prefix, every entity in the partition the new assignment gives it, erased ones left out."""

from __future__ import annotations

import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from tdu_dev.testing.kafka_helpers import read_topic
from tdu_shared.envelope import decode_event
from tdu_shared.geo import load_basins
from tdu_shared.kafka import EventPublisher
from tdu_shared.kafka_auth import connection
from tdu_shared.repartition import repartition_all
from tdu_shared.topics import CONTACTS, OFFERS_STATE, Topics, plan_assignment

from .test_kafka_integration import withdrawn

pytestmark = pytest.mark.integration


async def test_a_new_assignment_rebuilds_the_compacted_topics_under_a_new_prefix(
    kafka_bootstrap: str, topics: Topics
) -> None:
    old = load_basins().partitioning
    async with EventPublisher(kafka_bootstrap, topics, assignment=old) as publisher:
        for i in range(30):
            await publisher.publish(
                OFFERS_STATE, f"O-{i}", withdrawn(f"O-{i}", basin="4410" if i % 2 else "4423")
            )
        await publisher.publish(OFFERS_STATE, "O-0", withdrawn("O-0", basin="4423"))  # a newer record of O-0
        await publisher.publish(CONTACTS, "P-1", withdrawn("P-1"))
        await publisher.tombstone(CONTACTS, "P-1", "4410")  # erased: must not come back

    weights = {code: 1.0 for code in load_basins().codes()} | {"4410": 4.0}
    new = plan_assignment(weights, OFFERS_STATE.partitions, version=2)
    assert len(new.basins["4410"]) > len(old.basins["4410"])
    target = Topics(f"{topics.prefix}v2.")
    try:
        done = await repartition_all(kafka_bootstrap, topics, target, new)
        assert done["offers.state"].copied == 30 and done["offers.state"].read == 30
        assert done["contacts"].erased == 1 and done["contacts"].copied == 0
        records = await read_topic(kafka_bootstrap, target.name(OFFERS_STATE), until=30, settle=1.0)
        assert len(records) == 30
        for record in records:
            event = decode_event(record.value)
            assert record.partition == new.partition(event.basin, record.key, OFFERS_STATE.partitions)
            assert record.partition in new.basins[event.basin]
        metz = {r.partition for r in records if r.headers["basin"] == b"4410"}
        assert len(metz) > 1  # Metz's offers now spread over several partitions
    finally:
        admin = AIOKafkaAdminClient(**connection(kafka_bootstrap), client_id=uuid.uuid4().hex)
        await admin.start()
        try:
            await admin.delete_topics([t for t in await admin.list_topics() if t.startswith(target.prefix)])
        finally:
            await admin.close()
