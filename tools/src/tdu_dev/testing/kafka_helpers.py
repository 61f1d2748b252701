"""Reading topics in tests: collect what was published, with a deadline."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer

from tdu_shared.kafka import Record
from tdu_shared.kafka_auth import connection


async def read_topic(
    bootstrap: str,
    topic: str,
    *,
    until: Callable[[list[Record]], bool] | int = 1,
    timeout: float = 30,
    settle: float = 0.0,
) -> list[Record]:
    """Every record of ``topic`` from the beginning, once ``until`` holds (a count or a predicate).

    ``settle`` keeps reading that many seconds more, to show nothing else arrives. Raises TimeoutError
    with what was read when the condition does not hold in time.
    """
    done = (lambda rs: len(rs) >= until) if isinstance(until, int) else until
    consumer = AIOKafkaConsumer(
        topic,
        **connection(bootstrap),
        group_id=f"test-reader-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list[Record] = []
    try:
        deadline = time.monotonic() + timeout
        while not done(records):
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{topic}: condition not met after {timeout}s; read {len(records)} records"
                )
            batch = await consumer.getmany(timeout_ms=200)
            records.extend(Record.of(r) for rs in batch.values() for r in rs)
        if settle:
            await asyncio.sleep(settle)
            batch = await consumer.getmany(timeout_ms=500)
            records.extend(Record.of(r) for rs in batch.values() for r in rs)
    finally:
        await consumer.stop()
    return sorted(records, key=lambda r: (r.timestamp_ms, r.partition, r.offset))
