"""The local platform infrastructure as one object: install, start, stop, status."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from tdu_dev.infra.paths import Paths
from tdu_dev.infra.servers import (
    Server,
    ferretdb_server,
    install_ferretdb,
    install_kafka,
    kafka_ready,
    kafka_servers,
    mongo_ready,
    prepare_kafka,
)


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


@dataclass(frozen=True)
class Endpoints:
    kafka_bootstrap_servers: str
    mongodb_url: str

    def as_env(self) -> dict[str, str]:
        return {"KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap_servers, "MONGODB_URL": self.mongodb_url}


@dataclass
class LocalInfra:
    paths: Paths = field(default_factory=Paths.discover)
    kafka_port: int = field(default_factory=lambda: _env_int("TDU_KAFKA_PORT", 9092))
    mongo_port: int = field(default_factory=lambda: _env_int("TDU_MONGO_PORT", 27017))
    cluster_port: int = field(default_factory=lambda: _env_int("TDU_KAFKA_CLUSTER_PORT", 19192))

    # ------------------------------------------------------------ what runs where

    def kafka(self) -> list[Server]:
        return kafka_servers(self.paths, base_port=self.kafka_port, count=1, heap_mb=768)

    def cluster(self) -> list[Server]:
        return kafka_servers(self.paths, base_port=self.cluster_port, count=3, heap_mb=384)

    def ferretdb(self) -> Server:
        return ferretdb_server(self.paths, port=self.mongo_port)

    def endpoints(self) -> Endpoints:
        return Endpoints(f"127.0.0.1:{self.kafka_port}", f"mongodb://127.0.0.1:{self.mongo_port}/")

    def cluster_bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{s.port}" for s in self.cluster())

    # ------------------------------------------------------------ actions

    def install(self) -> None:
        install_kafka(self.paths)
        install_ferretdb(self.paths)

    def start(self, *, timeout: float = 120) -> Endpoints:
        """Start Kafka (single node) and FerretDB unless running; return when both answer."""
        self.install()
        kafka = self.kafka()
        prepare_kafka(self.paths, kafka, self.kafka_port)
        ferret = self.ferretdb()
        for server in (*kafka, ferret):
            server.start()
        endpoints = self.endpoints()
        ferret.wait_ready(lambda: mongo_ready(endpoints.mongodb_url), timeout)
        kafka[0].wait_ready(lambda: kafka_ready(endpoints.kafka_bootstrap_servers), timeout)
        return endpoints

    def start_cluster(self, *, timeout: float = 180) -> str:
        """Start the three-node Kafka cluster on loopback; returns its bootstrap servers."""
        install_kafka(self.paths)
        nodes = self.cluster()
        prepare_kafka(self.paths, nodes, self.cluster_port)
        for node in nodes:
            node.start()
        bootstrap = self.cluster_bootstrap()
        nodes[0].wait_ready(lambda: kafka_ready(bootstrap, expected_brokers=3), timeout)
        return bootstrap

    def stop(self, *, cluster: bool = True) -> list[str]:
        servers = [*self.kafka(), self.ferretdb(), *(self.cluster() if cluster else [])]
        return [s.name for s in servers if s.stop()]

    def status(self) -> list[dict[str, object]]:
        return [
            {"name": s.name, "running": s.running(), "pid": s.pid(), "port": s.port, "log": str(s.log_file)}
            for s in (*self.kafka(), self.ferretdb(), *self.cluster())
        ]
