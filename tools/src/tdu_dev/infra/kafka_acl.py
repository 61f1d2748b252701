"""The local broker's principals and ACLs: the same table the Kubernetes layout enforces.

Every principal of ``tdu_shared.access.kafka`` gets a SCRAM-SHA-512 password, made once per checkout
(``.cache/run/kafka-users.json``, readable by its owner only) and written into the broker's metadata when
its storage is formatted; ``admin`` is the broker's super user (the launcher, the tests' own helpers).
:func:`apply_acls` gives the principals their rights on the topics of one environment (a topic prefix).
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

from tdu_shared.access.kafka import PRINCIPALS, grants
from tdu_shared.kafka_auth import KafkaAuth

ADMIN = "admin"
USERS = (ADMIN, *(a.principal for a in PRINCIPALS))


def users_file(run: Path) -> Path:
    return run / "kafka-users.json"


def load_users(run: Path) -> dict[str, str]:
    """Each principal's password, made on first use."""
    path = users_file(run)
    users: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    if set(users) != set(USERS):
        users = {name: users.get(name) or secrets.token_urlsafe(24) for name in USERS}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(json.dumps(users, indent=1))
    return users


def auth_of(users: dict[str, str], principal: str = ADMIN) -> KafkaAuth:
    return KafkaAuth("SASL_PLAINTEXT", "SCRAM-SHA-512", principal, users[principal])


def _admin(bootstrap: str, users: dict[str, str]) -> Any:
    from kafka.admin import KafkaAdminClient

    return KafkaAdminClient(
        bootstrap_servers=bootstrap.split(","),
        client_id="tdu-infra-acls",
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_plain_username=ADMIN,
        sasl_plain_password=users[ADMIN],
    )


def _entries(prefix: str, *, as_filter: bool) -> list[Any]:
    from kafka.admin import (
        ACL,
        ACLFilter,
        ACLOperation,
        ACLPermissionType,
        ACLResourcePatternType,
        ResourcePattern,
        ResourcePatternFilter,
        ResourceType,
    )

    kind, pattern = (ACLFilter, ResourcePatternFilter) if as_filter else (ACL, ResourcePattern)
    return [
        kind(
            f"User:{access.principal}",
            "*",
            getattr(ACLOperation, operation.upper()),
            ACLPermissionType.ALLOW,
            pattern(
                ResourceType.TOPIC if grant.resource == "topic" else ResourceType.GROUP,
                grant.name,
                ACLResourcePatternType.PREFIXED if grant.prefixed else ACLResourcePatternType.LITERAL,
            ),
        )
        for access in PRINCIPALS
        for grant in grants(access, prefix)
        for operation in grant.operations
    ]


def apply_acls(bootstrap: str, users: dict[str, str], prefix: str = "") -> int:
    """Give every principal its rights on the topics named with ``prefix``; how many ACLs (idempotent)."""
    acls = _entries(prefix, as_filter=False)
    admin = _admin(bootstrap, users)
    try:
        result = admin.create_acls(acls)
    finally:
        admin.close()
    if result["failed"]:
        raise RuntimeError(f"ACLs refused by the broker: {result['failed'][:3]}")
    return len(acls)


def remove_acls(bootstrap: str, users: dict[str, str], prefix: str) -> None:
    """Take back the rights :func:`apply_acls` gave on the topics named with ``prefix`` (a test's)."""
    admin = _admin(bootstrap, users)
    try:
        admin.delete_acls(_entries(prefix, as_filter=True))
    finally:
        admin.close()
