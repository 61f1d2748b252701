"""The five services as separate processes against the real broker and store, with a real SMTP server
(the mail catcher, aiosmtpd) and the SMS provider stand-in, each on free ports, under topic and database
names of their own."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from tdu_shared.devinfra.local import Endpoints
from tdu_shared.devinfra.paths import Paths
from tdu_shared.devinfra.platform import SERVICES, Platform, PlatformPorts
from tdu_shared.testing.processes import free_port


@pytest.fixture(scope="module")
def platform(infrastructure: Endpoints, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    name = f"e2e{uuid.uuid4().hex[:8]}"
    ports = PlatformPorts(services={s: free_port() for s in SERVICES}, smtp=free_port(), sms=free_port())
    outbox: Path = tmp_path_factory.mktemp("outbox")
    running = Platform(
        infrastructure,
        Paths.discover(),
        ports,
        topic_prefix=f"{name}.",
        database_prefix=f"{name}_",
        outbox=outbox,
        extra_env={
            "QUIET_START": "00:00",  # the test may run at night: no quiet hours for SMS here
            "QUIET_END": "00:00",
            "DAILY_CAP": "100",
            "DISPATCH_POLL_S": "0.2",
            "RELAY_INTERVAL_S": "0.2",
            "LINK_SECRET": "e2e-secret",
        },
    )
    try:
        running.start_catchers()
        running.start_services()
        yield running
    finally:
        running.stop()
        asyncio.run(_clean(infrastructure, name))


async def _clean(endpoints: Endpoints, name: str) -> None:
    """Delete the test's topics; its databases stay (see the mongo_db_name fixture for why)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=endpoints.kafka_bootstrap_servers)
    await admin.start()
    try:
        await admin.delete_topics([t for t in await admin.list_topics() if t.startswith(f"{name}.")])
    finally:
        await admin.close()
