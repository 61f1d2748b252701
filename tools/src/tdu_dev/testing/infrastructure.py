"""Which Kafka and MongoDB the tests use, in this order:

1. endpoints given in the environment (KAFKA_BOOTSTRAP_SERVERS and MONGODB_URL);
2. testcontainers, when a Docker engine answers;
3. the project's local launcher (Kafka from its jars, FerretDB), started if needed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tdu_dev.infra.local import Endpoints, LocalInfra


def docker_available() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


@contextmanager
def provide_infrastructure() -> Iterator[tuple[Endpoints, str]]:
    """Yield the endpoints and where they come from ('environment', 'testcontainers', 'local')."""
    kafka, mongo = os.environ.get("KAFKA_BOOTSTRAP_SERVERS"), os.environ.get("MONGODB_URL")
    if kafka and mongo:
        users_file = os.environ.get("TDU_KAFKA_USERS_FILE")  # `tdu-infra start` prints it
        users = json.loads(Path(users_file).read_text()) if users_file else {}
        yield Endpoints(kafka, mongo, tuple(sorted(users.items()))), "environment"
        return
    if docker_available():
        with _containers() as endpoints:
            yield endpoints, "testcontainers"
        return
    infra = LocalInfra()
    was_running = all(s["running"] for s in infra.status() if not str(s["name"]).startswith("kafka-cluster"))
    try:
        endpoints = infra.start()
    except Exception:
        if not was_running:
            infra.stop(cluster=False)
        raise
    try:
        yield endpoints, "local"
    finally:
        if not was_running and os.environ.get("TDU_KEEP_INFRA") != "1":
            infra.stop(cluster=False)


@contextmanager
def _containers() -> Iterator[Endpoints]:
    from testcontainers.kafka import KafkaContainer
    from testcontainers.mongodb import MongoDbContainer

    with (
        KafkaContainer("confluentinc/cp-kafka:7.7.1").with_kraft() as kafka,
        MongoDbContainer("mongo:7.0") as mongo,
    ):
        yield Endpoints(kafka.get_bootstrap_server(), mongo.get_connection_url())
