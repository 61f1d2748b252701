"""Who may use which topic: one Kafka principal per service, partners, and the operators' key command.

The one table both the Kubernetes layout (``deploy/k8s/kafka_resources.py`` writes Strimzi KafkaUsers
from it) and the local broker (the development launcher applies it) enforce: each service writes the
topics it produces, reads those it consumes (and writes their dead-letter twins) under its own
consumer-group prefix, and reads ``access.keys`` whole; partners may only write the submission topics and
``journeys.commands``; only ``access-admin`` writes ``access.keys``.
"""

from __future__ import annotations

from dataclasses import dataclass

from tdu_shared.topics import (
    ACCESS_KEYS,
    CONTACTS,
    JOURNEYS_COMMANDS,
    JOURNEYS_EVENTS,
    MATCHING_ELIGIBILITY,
    NOTIFICATIONS_DELIVERIES,
    OFFERS_STATE,
    OFFERS_SUBMITTED,
    TRAININGS_SESSIONS,
    TRAININGS_SUBMITTED,
    TopicSpec,
    dlq_of,
)


@dataclass(frozen=True)
class Access:
    """What one principal may do on Kafka."""

    principal: str
    produces: tuple[TopicSpec, ...]
    consumes: tuple[TopicSpec, ...] = ()
    group_prefix: str | None = None
    follows: tuple[TopicSpec, ...] = (ACCESS_KEYS,)
    """Topics read whole by every process, without a consumer group (the partner keys)."""


@dataclass(frozen=True)
class Grant:
    """One ACL: operations on a topic (literal name) or on consumer groups (by prefix)."""

    resource: str  # "topic" or "group"
    name: str
    prefixed: bool
    operations: tuple[str, ...]


# The services' table of README.md ("consumes" / "produces"), checked against the topics each service's
# code names by tests/deploy. offers also writes offers.submitted: its `import` and `fetch` commands
# (the CronJobs) publish there with the service's identity.
SERVICES: tuple[Access, ...] = (
    Access("offers", (OFFERS_SUBMITTED, OFFERS_STATE, CONTACTS), (OFFERS_SUBMITTED, CONTACTS), "offers"),
    Access("trainings", (TRAININGS_SESSIONS, CONTACTS), (TRAININGS_SUBMITTED,), "trainings"),
    Access(
        "matching",
        (MATCHING_ELIGIBILITY,),
        (OFFERS_STATE, TRAININGS_SESSIONS, MATCHING_ELIGIBILITY),
        "matching",
    ),
    Access("journeys", (JOURNEYS_EVENTS, CONTACTS), (JOURNEYS_COMMANDS, MATCHING_ELIGIBILITY), "journeys"),
    Access("notifications", (NOTIFICATIONS_DELIVERIES,), (JOURNEYS_EVENTS, CONTACTS), "notifications"),
)
PARTNER = Access("partner", (OFFERS_SUBMITTED, TRAININGS_SUBMITTED, JOURNEYS_COMMANDS), follows=())
"""Partner systems: only the submission topics and journey commands, never a read."""
ACCESS_ADMIN = Access("access-admin", (ACCESS_KEYS,))
"""Operators' ``tdu-access`` command: issues and revokes partner keys (and reads them back to list them)."""
PRINCIPALS: tuple[Access, ...] = (*SERVICES, PARTNER, ACCESS_ADMIN)


def grants(access: Access, prefix: str = "") -> list[Grant]:
    """The ACLs of one principal, for topics named with ``prefix`` (an environment's TOPIC_PREFIX)."""
    rules: list[Grant] = []
    consumed = {spec.name for spec in (*access.consumes, *access.follows)}
    for spec in access.produces:
        operations = ("Describe", "Write") + (("Read",) if spec.name in consumed else ())
        rules.append(Grant("topic", f"{prefix}{spec.name}", False, operations))
    produced = {spec.name for spec in access.produces}
    for spec in access.consumes:
        if spec.name not in produced:
            rules.append(Grant("topic", f"{prefix}{spec.name}", False, ("Describe", "Read")))
        rules.append(Grant("topic", dlq_of(f"{prefix}{spec.name}"), False, ("Describe", "Write")))
    for spec in access.follows:
        if spec.name not in produced:
            rules.append(Grant("topic", f"{prefix}{spec.name}", False, ("Describe", "Read")))
    if access.group_prefix:
        rules.append(Grant("group", f"{prefix}{access.group_prefix}", True, ("Describe", "Read")))
    return rules
