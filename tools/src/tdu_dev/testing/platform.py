"""The platform's services as separate processes for a test: free ports, topics and databases of its own."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

from tdu_dev.infra.kafka_acl import remove_acls
from tdu_dev.infra.local import Endpoints
from tdu_dev.infra.paths import Paths
from tdu_dev.infra.platform import SERVICES, WEB, Platform, PlatformPorts
from tdu_dev.testing.processes import free_port
from tdu_shared.kafka_auth import connection

FAST_TEST_ENV = {
    "QUIET_START": "00:00",  # a test may run at night: no quiet hours for SMS here
    "QUIET_END": "00:00",
    "DAILY_CAP": "100",
    "DISPATCH_POLL_S": "0.2",
    "RELAY_INTERVAL_S": "0.2",
    "LINK_SECRET": "test-secret",
}


@contextmanager
def running_platform(
    endpoints: Endpoints,
    outbox: Path,
    *,
    services: tuple[str, ...] = SERVICES,
    extra_env: Mapping[str, str] = FAST_TEST_ENV,
    ready_timeout: float = 90,
    prefix: str = "p",
    paths: Paths | None = None,
    replication_factor: int = 1,
    mail_dedupe: bool = True,
) -> Iterator[Platform]:
    """Start these services (and the mail catcher and SMS stand-in); stop them and delete the topics after.

    The databases stay: see the ``mongo_db_name`` fixture for why.
    """
    name = f"{prefix}{uuid.uuid4().hex[:8]}"
    ports = PlatformPorts(
        services={s: free_port() for s in (*SERVICES, WEB)},
        smtp=free_port(),
        sms=free_port(),
        oidc=free_port(),
    )
    running = Platform(
        endpoints,
        paths or Paths.discover(),
        ports,
        topic_prefix=f"{name}.",
        database_prefix=f"{name}_",
        outbox=outbox,
        extra_env=dict(extra_env),
        replication_factor=replication_factor,
        mail_dedupe=mail_dedupe,
    )
    try:
        running.start_catchers()
        running.start_services(services, ready_timeout=ready_timeout)
        yield running
    finally:
        running.stop()
        asyncio.run(_delete_topics(endpoints, f"{name}."))
        if endpoints.authenticated:
            remove_acls(endpoints.kafka_bootstrap_servers, dict(endpoints.kafka_users), f"{name}.")


async def _delete_topics(endpoints: Endpoints, prefix: str) -> None:
    admin = AIOKafkaAdminClient(**connection(endpoints.kafka_bootstrap_servers))
    await admin.start()
    try:
        await admin.delete_topics([t for t in await admin.list_topics() if t.startswith(prefix)])
    finally:
        await admin.close()
