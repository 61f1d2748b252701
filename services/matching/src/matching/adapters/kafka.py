"""Reading compacted topics: end offsets, whole partitions (rebuilds), and knowing when a reader caught up."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition

from tdu_shared.kafka import Record
from tdu_shared.kafka_auth import connection


async def end_offsets(bootstrap: str, topic: str, partitions: int) -> dict[int, int]:
    """The next offset of each of the ``partitions`` of ``topic`` now."""
    consumer = AIOKafkaConsumer(**connection(bootstrap), enable_auto_commit=False)
    await consumer.start()
    try:
        wanted = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(wanted)
        ends = await consumer.end_offsets(wanted)
        return {tp.partition: offset for tp, offset in ends.items()}
    finally:
        await consumer.stop()


async def read_partitions(
    bootstrap: str, topic: str, partitions: Iterable[int], *, batch: int = 2000
) -> AsyncIterator[list[Record]]:
    """Every record of ``partitions`` from the beginning up to their end offsets at the call, in batches."""
    wanted = [TopicPartition(topic, p) for p in sorted(set(partitions))]
    if not wanted:
        return
    consumer = AIOKafkaConsumer(
        **connection(bootstrap),
        enable_auto_commit=False,
        group_id=None,
        auto_offset_reset="earliest",
        client_id=f"matching-rebuild-{uuid.uuid4().hex[:8]}",
        max_poll_records=batch,
    )
    await consumer.start()
    try:
        consumer.assign(wanted)
        ends = await consumer.end_offsets(wanted)
        pending = {tp for tp, end in ends.items() if end > 0}
        await consumer.seek_to_beginning(*wanted)
        while pending:
            for tp in list(pending):
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
            if not pending:
                break
            fetched = await consumer.getmany(*pending, timeout_ms=500, max_records=batch)
            records = [Record.of(r) for tp, rs in fetched.items() for r in rs if r.offset < ends[tp]]
            if records:
                yield records
    finally:
        await consumer.stop()


class CatchUp:
    """Set ``ready`` once a reader has seen every record present when it started (end offsets given later)."""

    def __init__(self) -> None:
        self.ready = asyncio.Event()
        self._ends: dict[int, int] | None = None
        self._seen: dict[int, int] = {}

    def expect(self, ends: Mapping[int, int]) -> None:
        self._ends = {p: end for p, end in ends.items() if end > 0}
        self._check()

    def observe(self, records: Iterable[Record]) -> None:
        for r in records:
            if r.offset > self._seen.get(r.partition, -1):
                self._seen[r.partition] = r.offset
        self._check()

    def _check(self) -> None:
        if self._ends is not None and all(self._seen.get(p, -1) >= end - 1 for p, end in self._ends.items()):
            self.ready.set()
