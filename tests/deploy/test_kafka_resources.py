"""The Strimzi topics and users are what deploy/k8s/kafka_resources.py writes from the code, and the
access table it uses matches the topics each service's code names."""

from __future__ import annotations

import functools
import importlib.util
import re
import sys
from types import ModuleType
from typing import Any

import yaml

from tdu_shared.topics import ALL_TOPICS, dlq_of

from .helpers import K8S, ROOT, SERVICES


@functools.cache
def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kafka_resources", K8S / "kafka_resources.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["kafka_resources"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def committed(name: str) -> list[dict[str, Any]]:
    return list(yaml.safe_load_all((K8S / "base" / "kafka" / name).read_text(encoding="utf-8")))


def test_the_committed_files_are_what_the_script_writes() -> None:
    module = generator()
    for path, text in module.files().items():
        assert path.read_text(encoding="utf-8") == text, f"{path} is stale: run {module.__file__}"
    assert module.main(["--check"]) == 0


def test_every_topic_and_its_dead_letter_twin_as_in_the_topic_table() -> None:
    topics = {t["spec"]["topicName"]: t["spec"] for t in committed("topics.yaml")}
    assert set(topics) == {n for s in ALL_TOPICS for n in (s.name, dlq_of(s.name))}
    for spec in ALL_TOPICS:
        main, dlq = topics[spec.name], topics[dlq_of(spec.name)]
        assert main["partitions"] == spec.partitions
        assert main["config"]["cleanup.policy"] == ("compact" if spec.compacted else "delete")
        assert dlq["partitions"] == 1 and dlq["config"]["cleanup.policy"] == "delete"
        for topic in (main, dlq):
            assert topic["replicas"] == 3
            assert topic["config"]["min.insync.replicas"] == 2


def test_a_prefix_renames_every_topic_and_acl() -> None:
    module = generator()
    names = {t["spec"]["topicName"] for t in module.topic_resources("test.")}
    assert all(n.startswith("test.") for n in names)
    for user in module.user_resources("test."):
        assert user["metadata"]["name"].startswith("test.")
        for acl in user["spec"]["authorization"]["acls"]:
            assert acl["resource"]["name"].startswith("test.")


def topics_named_in_code(service: str) -> set[str]:
    constants = {spec.name.upper().replace(".", "_"): spec.name for spec in ALL_TOPICS}
    found = set()
    for path in (ROOT / "services" / service / "src").rglob("*.py"):
        words = set(re.findall(r"\b[A-Z_]+\b", path.read_text(encoding="utf-8")))
        found |= {constants[w] for w in words & set(constants)}
    return found


def test_each_service_may_use_exactly_the_topics_its_code_names() -> None:
    module = generator()
    table = {a.principal: a for a in module.SERVICES}
    assert set(table) == set(SERVICES)
    for service, access in table.items():
        allowed = {s.name for s in (*access.produces, *access.consumes)}
        assert allowed == topics_named_in_code(service), service


def acl_table(user: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    return {
        (acl["resource"]["type"], acl["resource"]["name"]): set(acl["operations"])
        for acl in user["spec"]["authorization"]["acls"]
    }


def test_services_read_what_they_consume_and_write_what_they_produce_only() -> None:
    users = {u["metadata"]["name"]: u for u in committed("users.yaml")}
    for access in generator().SERVICES:
        acls = acl_table(users[access.principal])
        assert users[access.principal]["spec"]["authentication"] == {"type": "scram-sha-512"}
        for spec in access.consumes:
            assert "Read" in acls[("topic", spec.name)]
            assert acls[("topic", dlq_of(spec.name))] == {"Describe", "Write"}
        for spec in access.produces:
            assert "Write" in acls[("topic", spec.name)]
        readable = {name for (kind, name), ops in acls.items() if kind == "topic" and "Read" in ops}
        writable = {name for (kind, name), ops in acls.items() if kind == "topic" and "Write" in ops}
        assert readable == {s.name for s in (*access.consumes, *access.follows)}
        assert "Write" not in acls[("topic", "access.keys")]  # only operators issue keys
        assert writable == {s.name for s in access.produces} | {dlq_of(s.name) for s in access.consumes}
        assert acls[("group", access.principal)] == {"Describe", "Read"}
    notifications = acl_table(users["notifications"])
    assert "Write" not in notifications.get(("topic", "contacts"), set())


def test_partners_may_only_submit_and_command() -> None:
    (partner,) = [u for u in committed("users.yaml") if u["metadata"]["name"] == "partner"]
    acls = acl_table(partner)
    assert set(acls) == {
        ("topic", "offers.submitted"),
        ("topic", "trainings.submitted"),
        ("topic", "journeys.commands"),
    }
    assert all(ops == {"Describe", "Write"} for ops in acls.values())
