"""The local platform infrastructure as one object: install, start, stop, status."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field

from tdu_dev.infra.kafka_acl import ADMIN, apply_acls, auth_of, load_users
from tdu_dev.infra.paths import Paths
from tdu_dev.infra.servers import (
    InfraError,
    Server,
    ferretdb_server,
    install_ferretdb,
    install_kafka,
    kafka_ready,
    kafka_servers,
    mongo_ready,
    prepare_kafka,
)
from tdu_shared.kafka_auth import KafkaAuth


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


@dataclass(frozen=True)
class Endpoints:
    kafka_bootstrap_servers: str
    mongodb_url: str
    kafka_users: tuple[tuple[str, str], ...] = ()
    """(principal, password) of each Kafka principal; none: the broker takes unauthenticated clients."""

    @property
    def authenticated(self) -> bool:
        return bool(self.kafka_users)

    def kafka_auth(self, principal: str = ADMIN) -> KafkaAuth:
        """How ``principal`` connects (the super user ``admin`` by default)."""
        if not self.kafka_users:
            return KafkaAuth()
        return auth_of(dict(self.kafka_users), principal)

    def as_env(self, principal: str = ADMIN) -> dict[str, str]:
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap_servers,
            "MONGODB_URL": self.mongodb_url,
            **self.kafka_auth(principal).as_env(),
        }


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
        users = tuple(sorted(load_users(self.paths.run).items()))
        return Endpoints(f"127.0.0.1:{self.kafka_port}", f"mongodb://127.0.0.1:{self.mongo_port}/", users)

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
        ferret = self.ferretdb()
        if prepare_kafka(self.paths, kafka, self.kafka_port):
            # The store mirrors what went through Kafka (offers, sessions, eligibility): with Kafka made
            # again empty, a store that says "already published" would keep the services from publishing.
            if ferret.running():
                raise InfraError("Kafka's local data was made again: `tdu-infra stop`, then start again")
            shutil.rmtree(ferret.cwd / "data", ignore_errors=True)
        for server in (*kafka, ferret):
            server.start()
        endpoints = self.endpoints()
        ferret.wait_ready(lambda: mongo_ready(endpoints.mongodb_url), timeout)
        admin = endpoints.kafka_auth()
        kafka[0].wait_ready(lambda: kafka_ready(endpoints.kafka_bootstrap_servers, auth=admin), timeout)
        apply_acls(endpoints.kafka_bootstrap_servers, dict(endpoints.kafka_users))
        return endpoints

    def start_cluster(self, *, timeout: float = 180) -> str:
        """Start the three-node Kafka cluster on loopback; returns its bootstrap servers."""
        install_kafka(self.paths)
        nodes = self.cluster()
        prepare_kafka(self.paths, nodes, self.cluster_port)
        for node in nodes:
            node.start()
        bootstrap = self.cluster_bootstrap()
        admin = self.endpoints().kafka_auth()
        nodes[0].wait_ready(lambda: kafka_ready(bootstrap, expected_brokers=3, auth=admin), timeout)
        apply_acls(bootstrap, load_users(self.paths.run))
        return bootstrap

    def stop(self, *, cluster: bool = True) -> list[str]:
        servers = [*self.kafka(), self.ferretdb(), *(self.cluster() if cluster else [])]
        return [s.name for s in servers if s.stop()]

    def status(self) -> list[dict[str, object]]:
        return [
            {"name": s.name, "running": s.running(), "pid": s.pid(), "port": s.port, "log": str(s.log_file)}
            for s in (*self.kafka(), self.ferretdb(), *self.cluster())
        ]
