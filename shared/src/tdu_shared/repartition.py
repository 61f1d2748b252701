"""Rebuild a compacted topic under a new basin -> partition assignment.

Changing the assignment (more partitions, busy basins spread differently) moves entities between
partitions; compaction only works when all the records of one key are in one partition. The operation:
copy the newest record of every key of the old topic into a new topic (another ``TOPIC_PREFIX``, with the
new partition count), each into the partition the new assignment gives its basin (the record's ``basin``
header) and key; erased keys (a tombstone as newest record) are not copied. Consumers then start on the
new topic and rebuild their state from it.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from tdu_shared.kafka import EventPublisher, Record, ensure_topics
from tdu_shared.kafka_auth import connection
from tdu_shared.topics import ALL_TOPICS, PartitionAssignment, Topics


@dataclass(frozen=True)
class Repartitioned:
    read: int
    copied: int
    erased: int
    partitions: int


async def newest_records(bootstrap: str, topic: str, partitions: int) -> dict[bytes, Record]:
    """The newest record of every key of ``topic``, read from the beginning to its end offsets now."""
    consumer = AIOKafkaConsumer(
        **connection(bootstrap),
        enable_auto_commit=False,
        group_id=None,
        auto_offset_reset="earliest",
        client_id=f"repartition-{uuid.uuid4().hex[:8]}",
    )
    await consumer.start()
    newest: dict[bytes, Record] = {}
    try:
        wanted = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(wanted)
        ends = await consumer.end_offsets(wanted)
        await consumer.seek_to_beginning(*wanted)
        pending = {tp for tp, end in ends.items() if end > 0}
        while pending:
            for tp in list(pending):
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
            if not pending:
                break
            fetched = await consumer.getmany(*pending, timeout_ms=500, max_records=5000)
            for tp, records in fetched.items():
                for r in records:
                    if r.offset < ends[tp] and r.key is not None:
                        newest[r.key] = Record.of(r)
    finally:
        await consumer.stop()
    return newest


async def repartition(
    bootstrap: str, source: str, target: str, assignment: PartitionAssignment
) -> Repartitioned:
    """Copy the newest record of each key of ``source`` into ``target`` (existing) by ``assignment``."""
    async with EventPublisher(bootstrap, Topics(), assignment=assignment) as publisher:
        newest = await newest_records(bootstrap, source, await publisher.partition_count(source))
        count = await publisher.partition_count(target)
        copied = erased = 0
        pending: list[asyncio.Future[Any]] = []
        for key, record in newest.items():
            if record.value is None:
                erased += 1
                continue
            basin = record.headers.get("basin")
            partition = assignment.partition(basin.decode() if basin else None, key, count)
            headers = list(record.headers.items())
            pending.append(await publisher.send_nowait(target, key, record.value, headers, partition))
            copied += 1
            if len(pending) >= 10_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    return Repartitioned(read=len(newest), copied=copied, erased=erased, partitions=count)


async def repartition_all(
    bootstrap: str, old: Topics, new: Topics, assignment: PartitionAssignment, *, replication_factor: int = 1
) -> dict[str, Repartitioned]:
    """The whole operation: create every topic under the new prefix (the registry's partition counts) and
    copy each compacted topic into its twin. Event topics start empty under the new prefix."""
    await ensure_topics(bootstrap, new, ALL_TOPICS, replication_factor=replication_factor)
    return {
        spec.name: await repartition(bootstrap, old.name(spec), new.name(spec), assignment)
        for spec in ALL_TOPICS
        if spec.compacted
    }
