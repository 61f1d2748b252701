"""pytest fixtures: real Kafka and store endpoints, an isolated topic namespace and database per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from aiokafka.admin import AIOKafkaAdminClient
from pymongo.asynchronous.database import AsyncDatabase

from tdu_dev.infra.local import Endpoints
from tdu_dev.testing.infrastructure import provide_infrastructure
from tdu_shared import kafka_auth
from tdu_shared.kafka import ensure_topics
from tdu_shared.kafka_auth import connection
from tdu_shared.mongo import Document, connect
from tdu_shared.topics import ALL_TOPICS, Topics

TEST_PARTITIONS = 4


@pytest.fixture(scope="session")
def infrastructure() -> Iterator[Endpoints]:
    """Kafka and MongoDB endpoints for integration tests (environment, testcontainers, or local launcher)."""
    with provide_infrastructure() as (endpoints, _origin):
        # The tests' own clients (and services run in-process) connect as the broker's super user; the
        # platform's services, started as processes, as their own principals (tdu_dev.infra.platform).
        os.environ.update(endpoints.kafka_auth().as_env())
        # ... and so does this process's own Kafka clients, even if an app was built before (at collection,
        # with default settings: every ServiceRuntime sets the process's Kafka credentials).
        kafka_auth.use(endpoints.kafka_auth())
        yield endpoints


@pytest.fixture(scope="session")
def kafka_bootstrap(infrastructure: Endpoints) -> str:
    return infrastructure.kafka_bootstrap_servers


@pytest.fixture(scope="session")
def mongodb_url(infrastructure: Endpoints) -> str:
    return infrastructure.mongodb_url


@pytest.fixture
def unique_name() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@pytest_asyncio.fixture
async def topics(kafka_bootstrap: str, unique_name: str) -> AsyncIterator[Topics]:
    """Every platform topic (and DLQ) under a prefix of this test's own, 4 partitions each; deleted after."""
    namespace = Topics(f"{unique_name}.")
    created = await ensure_topics(kafka_bootstrap, namespace, ALL_TOPICS, partitions=TEST_PARTITIONS)
    yield namespace
    admin = AIOKafkaAdminClient(**connection(kafka_bootstrap))
    await admin.start()
    try:
        await admin.delete_topics(created)
    finally:
        await admin.close()


@pytest.fixture
def mongo_db_name(unique_name: str) -> str:
    """A database of this test's own.

    It is not dropped afterwards: with FerretDB's SQLite backend a dropDatabase waits for every cursor on
    that database while holding the store's global metadata lock, so one cursor a stopped service left
    open would stall every other client. Databases are tiny; `make clean` removes the local store.
    """
    return unique_name


@pytest_asyncio.fixture
async def mongo_db(mongodb_url: str, mongo_db_name: str) -> AsyncIterator[AsyncDatabase[Document]]:
    """This test's own database on the real store (the client is closed after the test)."""
    client = connect(mongodb_url)
    try:
        yield client[mongo_db_name]
    finally:
        await client.close()


@pytest.fixture
def service_env(kafka_bootstrap: str, mongodb_url: str, topics: Topics, mongo_db_name: str) -> dict[str, str]:
    """Settings (as environment variables) pointing a service at this test's topics and database."""
    return {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "MONGODB_URL": mongodb_url,
        "MONGODB_DATABASE": mongo_db_name,
        "TOPIC_PREFIX": topics.prefix,
        "CREATE_TOPICS": "false",
        "LOG_JSON": "false",
    }
