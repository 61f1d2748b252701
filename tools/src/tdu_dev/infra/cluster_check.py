"""Prove the three-node cluster works: a topic with replication factor 3 takes acks=all writes and reads."""

from __future__ import annotations

import uuid
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tdu_shared.kafka import describe_topics, wait_for_leaders
from tdu_shared.kafka_auth import KafkaAuth, connection


async def check_replicated_topic(bootstrap: str, auth: KafkaAuth | None = None) -> dict[str, Any]:
    """``auth``: how to connect (default: as this process's Kafka clients do)."""
    topic = f"cluster-check-{uuid.uuid4().hex[:8]}"
    options = connection(bootstrap, auth)
    admin = AIOKafkaAdminClient(**options)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 3, 3, topic_configs={"min.insync.replicas": "2"})])
        await wait_for_leaders(admin, [topic])
        description = await describe_topics(admin, [topic])
    finally:
        await admin.close()
    replicas = sorted({len(p["replicas"]) for p in description[0]["partitions"]})
    producer = AIOKafkaProducer(**options, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        sent = await producer.send_and_wait(topic, b"replicated", key=b"k")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic,
        **options,
        auto_offset_reset="earliest",
        group_id=f"{topic}-reader",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        batch = await consumer.getmany(timeout_ms=20_000)
        values = [r.value for records in batch.values() for r in records]
    finally:
        await consumer.stop()
    return {
        "bootstrap": bootstrap,
        "topic": topic,
        "replicas_per_partition": replicas,
        "written_partition": sent.partition,
        "read_back": [v.decode() for v in values if v is not None],
    }
