"""The three-node Kafka mode: a topic with replication factor 3 takes acks=all writes and reads them back."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tdu_dev.infra.cluster_check import check_replicated_topic
from tdu_dev.infra.local import LocalInfra
from tdu_shared.kafka_auth import KafkaAuth

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def cluster_bootstrap() -> Iterator[tuple[str, KafkaAuth | None]]:
    if given := os.environ.get("KAFKA_CLUSTER_BOOTSTRAP_SERVERS"):
        yield given, None  # as this process's clients connect (KAFKA_SECURITY_PROTOCOL ...)
        return
    infra = LocalInfra()
    try:
        yield infra.start_cluster(), infra.endpoints().kafka_auth()
    finally:  # also when it did not come up: no broker left running
        for node in infra.cluster():
            node.stop()


async def test_replication_factor_three_topic_is_usable(
    cluster_bootstrap: tuple[str, KafkaAuth | None],
) -> None:
    result = await check_replicated_topic(*cluster_bootstrap)
    assert result["replicas_per_partition"] == [3]
    assert result["read_back"] == ["replicated"]
