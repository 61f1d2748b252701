"""The local launcher's configuration (the servers themselves are exercised by every integration test)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tdu_dev.infra import servers
from tdu_dev.infra.paths import Paths, find_repo_root
from tdu_dev.infra.servers import _kafka_cluster_id, _kafka_properties, kafka_nodes, kafka_version


def test_three_node_cluster_shares_one_voter_list_on_distinct_ports() -> None:
    nodes = kafka_nodes(19192, 3)
    configs = [_kafka_properties(n, nodes, Path(f"/tmp/n{n.node_id}"), "pw") for n in nodes]
    voters = "controller.quorum.voters=1@127.0.0.1:19193,2@127.0.0.1:19195,3@127.0.0.1:19197"
    assert all(voters in c for c in configs)
    assert [n.port for n in nodes] == [19192, 19194, 19196]
    assert "offsets.topic.replication.factor=3" in configs[0]
    assert "default.replication.factor=3" in configs[0]


def test_single_node_uses_replication_factor_one() -> None:
    [node] = kafka_nodes(9092, 1)
    config = _kafka_properties(node, [node], Path("/tmp/k"), "pw")
    assert "offsets.topic.replication.factor=1" in config
    assert "listeners=SASL_PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093" in config


def test_clients_authenticate_and_the_acls_are_enforced() -> None:
    [node] = kafka_nodes(9092, 1)
    config = _kafka_properties(node, [node], Path("/tmp/k"), "s3cret")
    assert "sasl.enabled.mechanisms=SCRAM-SHA-512" in config
    assert "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer" in config
    assert "allow.everyone.if.no.acl.found=false" in config
    assert 'username="admin" password="s3cret";' in config


def test_kafka_version_comes_from_the_pom() -> None:
    assert kafka_version(Paths(find_repo_root(Path(__file__)))).startswith("4.1.")


def test_cluster_id_never_starts_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    # 0xF8 encodes to '-' in base64url: the storage tool would read such an id as an option.
    draws = iter([uuid.UUID(bytes=b"\xf8" + bytes(15)), uuid.UUID(bytes=b"\x10" + bytes(15))])
    monkeypatch.setattr(servers.uuid, "uuid4", lambda: next(draws))
    cluster_id = _kafka_cluster_id()
    assert cluster_id == "EAAAAAAAAAAAAAAAAAAAAA"
    assert len(cluster_id) == 22
