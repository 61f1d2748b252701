"""The local broker authenticates every client and enforces the platform's ACLs (tdu_shared.access.kafka):
a partner cannot read personal data or partner keys, a service cannot write another service's topics."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAuthorizationFailedError

from tdu_dev.infra.kafka_acl import apply_acls, remove_acls
from tdu_dev.infra.local import Endpoints
from tdu_shared.kafka import ensure_topics
from tdu_shared.kafka_auth import connection
from tdu_shared.topics import ALL_TOPICS, Topics

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture
async def namespace(infrastructure: Endpoints) -> AsyncIterator[Topics]:
    if not infrastructure.authenticated:
        pytest.skip("this broker takes unauthenticated clients (given from outside): nothing to check")
    topics = Topics(f"acl{uuid.uuid4().hex[:8]}.")
    users = dict(infrastructure.kafka_users)
    created = await ensure_topics(infrastructure.kafka_bootstrap_servers, topics, ALL_TOPICS, partitions=1)
    apply_acls(infrastructure.kafka_bootstrap_servers, users, topics.prefix)
    yield topics
    remove_acls(infrastructure.kafka_bootstrap_servers, users, topics.prefix)
    admin = AIOKafkaAdminClient(**options(infrastructure, "admin"))
    await admin.start()
    try:
        await admin.delete_topics(created)
    finally:
        await admin.close()


def options(infrastructure: Endpoints, principal: str) -> dict[str, object]:
    return connection(infrastructure.kafka_bootstrap_servers, infrastructure.kafka_auth(principal))


async def write(infrastructure: Endpoints, principal: str, topic: str) -> str:
    producer = AIOKafkaProducer(**options(infrastructure, principal), request_timeout_ms=10_000)
    await producer.start()
    try:
        await asyncio.wait_for(producer.send_and_wait(topic, b"{}", key=b"k"), 20)
        return "written"
    except TopicAuthorizationFailedError:
        return "refused"
    finally:
        await producer.stop()


async def read(infrastructure: Endpoints, principal: str, topic: str) -> str:
    consumer = AIOKafkaConsumer(topic, **options(infrastructure, principal), group_id=None)
    try:
        await consumer.start()
        await consumer.getmany(timeout_ms=1000)
        return "read"
    except TopicAuthorizationFailedError:
        return "refused"
    finally:
        await consumer.stop()


async def test_each_principal_uses_only_its_own_topics(infrastructure: Endpoints, namespace: Topics) -> None:
    name = namespace.prefix
    assert await read(infrastructure, "partner", f"{name}contacts") == "refused"
    assert await read(infrastructure, "partner", f"{name}access.keys") == "refused"
    assert await write(infrastructure, "partner", f"{name}journeys.commands") == "written"
    assert await write(infrastructure, "partner", f"{name}offers.state") == "refused"
    assert await write(infrastructure, "journeys", f"{name}offers.state") == "refused"
    assert await write(infrastructure, "journeys", f"{name}journeys.events") == "written"
    assert await write(infrastructure, "notifications", f"{name}contacts") == "refused"
    assert await read(infrastructure, "notifications", f"{name}contacts") == "read"
    assert await write(infrastructure, "offers", f"{name}access.keys") == "refused"
    assert await read(infrastructure, "offers", f"{name}access.keys") == "read"
    assert await write(infrastructure, "access-admin", f"{name}access.keys") == "written"


async def test_a_client_without_credentials_gets_nothing(
    infrastructure: Endpoints, namespace: Topics
) -> None:
    anonymous = AIOKafkaAdminClient(
        bootstrap_servers=infrastructure.kafka_bootstrap_servers, request_timeout_ms=3000
    )
    with pytest.raises((KafkaConnectionError, KafkaError, asyncio.TimeoutError)):
        await asyncio.wait_for(anonymous.start(), 10)
        await asyncio.wait_for(anonymous.list_topics(), 10)
    await anonymous.close()
    wrong = {**options(infrastructure, "partner"), "sasl_plain_password": "not-the-password"}
    producer = AIOKafkaProducer(**wrong)
    with pytest.raises((KafkaConnectionError, KafkaError, asyncio.TimeoutError)):
        await asyncio.wait_for(producer.start(), 10)
    await producer.stop()
